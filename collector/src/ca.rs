//! The fleet certificate authority. The collector trusts exactly one CA, and every certificate it
//! issues states its holder's role and name (`vigia://probe/SITE`), so a stolen probe key can
//! write only its own site and never read the fleet. Keys are ECDSA P-256; key files are written
//! with mode 0600 on Unix and never silently overwritten.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use vigia::names::validate_name;
use vigia::tls::{PeerIdentity, Role};

/// Default validity of issued certificates, in days (the CA/Browser Forum's old 825-day limit).
pub const DEFAULT_DAYS: u32 = 825;
/// Default validity of the CA itself, in days (ten years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// File names of the CA inside its folder.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key file; guard it, it can mint any identity.
pub const CA_KEY_FILE: &str = "ca.key";

/// Why a CA operation failed; each names the file or the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Refusing to overwrite without `--force`.
    #[error("{} already exists; pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
    /// A file could not be written or read.
    #[error("{}: {reason}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The CA folder lacks its files.
    #[error("no CA in {}: {CA_CERT_FILE} or {CA_KEY_FILE} is missing (create one with `vigia-collector ca init --dir {}`)", .0.display(), .0.display())]
    NoCa(PathBuf),
    /// A name is not acceptable in a certificate.
    #[error(transparent)]
    Name(#[from] vigia::names::NameError),
    /// A server certificate needs at least one name to be verified against.
    #[error("a server certificate needs at least one --dns name or --ip address")]
    NoServerNames,
    /// A DNS name rcgen cannot encode.
    #[error("invalid DNS name {0:?}")]
    BadDns(String),
    /// Zero days of validity.
    #[error("--days must be at least 1")]
    BadDays,
    /// rcgen refused (corrupt CA key, etc.).
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A certificate rcgen just minted cannot be read back (its serial and expiry recorded).
    #[error("certificate generation failed: {0}")]
    Minted(#[source] CertError),
    /// A certificate file is unreadable, or not one this CA issued.
    #[error("{}: {source}", .path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: CertError,
    },
    /// The name already has a valid certificate; replacing it must be asked for.
    #[error("{role} {name:?} already has a certificate (serial {serial}, listed in {}); pass --force to replace it (the old one is then revoked)", .index.display())]
    AlreadyIssued {
        /// Its role.
        role: &'static str,
        /// Its name.
        name: String,
        /// The serial of the certificate in force.
        serial: String,
        /// `issued.toml`.
        index: PathBuf,
    },
    /// `ca revoke --serial` of a serial this CA has no record of.
    #[error("serial {serial} is not listed in {}: this CA did not issue it, or issued it before the index existed (then revoke it with --cert FILE)", .index.display())]
    UnknownSerial {
        /// As typed.
        serial: String,
        /// `issued.toml`.
        index: PathBuf,
    },
    /// `ca revoke NAME` of a name this CA issued nothing for.
    #[error("no certificate for {name:?} is listed in {} (check the spelling; a certificate issued before the index existed is revoked with --cert FILE)", .index.display())]
    UnknownName {
        /// As typed.
        name: String,
        /// `issued.toml`.
        index: PathBuf,
    },
    /// A name with certificates of several roles.
    #[error("{name:?} names certificates of several roles ({roles}); say which with --role")]
    AmbiguousName {
        /// As typed.
        name: String,
        /// The roles found.
        roles: String,
    },
    /// Not a serial number.
    #[error("invalid serial {0:?}: expected hexadecimal digits, optionally separated by ':'")]
    BadSerial(String),
}

/// What x509-parser answers when a DER certificate cannot be parsed.
pub type X509Err = x509_parser::nom::Err<x509_parser::error::X509Error>;

/// Why a certificate cannot be read, or was not issued by this CA; the parsers' errors are
/// the sources (their text is also in the message, which `error_chain` does not repeat).
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Not a PEM certificate.
    #[error("not a PEM certificate: {0}")]
    NotPem(#[source] rustls_pki_types::pem::Error),
    /// The CA's own certificate is not PEM.
    #[error("CA certificate: {0}")]
    CaNotPem(#[source] rustls_pki_types::pem::Error),
    /// The CA's own certificate cannot be parsed.
    #[error("CA certificate: {0}")]
    CaUnparsable(#[source] X509Err),
    /// The certificate cannot be parsed.
    #[error("certificate cannot be parsed: {0}")]
    Unparsable(#[source] X509Err),
    /// Another issuer's name, or a signature this CA's key did not make.
    #[error("not issued by this CA (its issuer is \"{issuer}\")")]
    OtherIssuer {
        /// The issuer the certificate names.
        issuer: String,
    },
    /// A `notAfter` chrono cannot represent.
    #[error("certificate expiry out of range")]
    ExpiryOutOfRange,
}

/// The interval a certificate is valid in.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// First valid instant.
    pub not_before: OffsetDateTime,
    /// Last valid instant.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid from an hour ago (tolerating slightly slow site clocks) for `days` days.
    pub fn days(days: u32) -> Result<Validity, CaError> {
        if days == 0 {
            return Err(CaError::BadDays);
        }
        let now = OffsetDateTime::now_utc();
        Ok(Validity {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        })
    }
}

/// Who a certificate is for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The collector: verified by probes and readers against these names.
    Server {
        /// DNS names.
        dns: Vec<String>,
        /// IP addresses (go in IP SANs, never the CN).
        ips: Vec<IpAddr>,
    },
    /// A site's probe.
    Probe {
        /// The site it may report for.
        site: String,
    },
    /// The mailer or an operator.
    Reader {
        /// The holder's name.
        name: String,
    },
}

impl Subject {
    /// The file stem the pair is written under (`server`, `SITE`, `NAME`).
    pub fn file_stem(&self) -> &str {
        match self {
            Subject::Server { .. } => "server",
            Subject::Probe { site } => site,
            Subject::Reader { name } => name,
        }
    }

    /// The identity the certificate will carry.
    pub fn identity(&self) -> PeerIdentity {
        match self {
            Subject::Server { dns, ips } => PeerIdentity {
                role: Role::Server,
                name: dns
                    .first()
                    .cloned()
                    .or_else(|| ips.first().map(|ip| ip.to_string().replace(':', "-")))
                    .unwrap_or_else(|| "collector".into()),
            },
            Subject::Probe { site } => PeerIdentity {
                role: Role::Probe,
                name: site.clone(),
            },
            Subject::Reader { name } => PeerIdentity {
                role: Role::Reader,
                name: name.clone(),
            },
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CaError> {
        match self {
            Subject::Server { dns, ips } => {
                if dns.is_empty() && ips.is_empty() {
                    return Err(CaError::NoServerNames);
                }
                for d in dns {
                    if d.is_empty()
                        || d.len() > 253
                        || !d
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
                    {
                        return Err(CaError::BadDns(d.clone()));
                    }
                }
                Ok(())
            }
            Subject::Probe { site } => Ok(validate_name("site", site)?),
            Subject::Reader { name } => Ok(validate_name("reader", name)?),
        }
    }
}

/// A certificate and its key, as PEM text.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

/// A loaded CA, able to issue certificates.
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
}

impl Ca {
    /// Makes a new CA in memory (tests mint fleets with this; `init` writes one to disk).
    pub fn generate(name: &str, validity: Validity) -> Result<Ca, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Vigia fleet");
        dn.push(DnType::CommonName, format!("Vigia fleet CA {name}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Reads the CA from its folder (`ca.pem`, `ca.key`).
    pub fn load(dir: &Path) -> Result<Ca, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !cert_path.exists() || !key_path.exists() {
            return Err(CaError::NoCa(dir.to_path_buf()));
        }
        vigia::secret_file::check(&key_path, "CA private key").map_err(|e| CaError::Io {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| CaError::Io {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let cert_pem = read(&cert_path)?;
        let key = KeyPair::from_pem(&read(&key_path)?).map_err(|e| CaError::Io {
            path: key_path.clone(),
            reason: format!("not a usable private key: {e}"),
        })?;
        // Fail now, not at issue time, when the pair is not a CA.
        Issuer::from_ca_cert_pem(&cert_pem, &key).map_err(|e| CaError::Io {
            path: cert_path.clone(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
        Ok(Ca { cert_pem, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a CRL with the CA key; PEM.
    pub(crate) fn sign_crl(
        &self,
        params: &rcgen::CertificateRevocationListParams,
    ) -> Result<String, CaError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        Ok(params.signed_by(&issuer)?.pem()?)
    }

    /// Whether a certificate was signed by this CA (issuer name and signature), or why not.
    pub(crate) fn check_issued(&self, cert_der: &[u8]) -> Result<(), CertError> {
        let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(CertError::CaNotPem)?;
        let (_, ca) =
            x509_parser::parse_x509_certificate(&ca_der).map_err(CertError::CaUnparsable)?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(cert_der).map_err(CertError::Unparsable)?;
        if cert.issuer().as_raw() != ca.subject().as_raw()
            || cert.verify_signature(Some(ca.public_key())).is_err()
        {
            return Err(CertError::OtherIssuer {
                issuer: cert.issuer().to_string(),
            });
        }
        Ok(())
    }

    /// The CA certificate and key, PEM, for writing to disk.
    pub fn to_pem_pair(&self) -> PemPair {
        PemPair {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key.serialize_pem(),
        }
    }

    /// Issues a certificate for a subject, its role and name in a `vigia://` URI SAN.
    pub fn issue(&self, subject: &Subject, validity: Validity) -> Result<PemPair, CaError> {
        subject.validate()?;
        let identity = subject.identity();
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Vigia fleet");
        dn.push(DnType::OrganizationalUnitName, identity.role.as_str());
        dn.push(DnType::CommonName, identity.name.clone());
        params.distinguished_name = dn;
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let uri = identity.to_uri().try_into().map_err(CaError::Rcgen)?;
        params.subject_alt_names.push(SanType::URI(uri));
        match subject {
            Subject::Server { dns, ips } => {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth);
                for d in dns {
                    let name = d
                        .clone()
                        .try_into()
                        .map_err(|_| CaError::BadDns(d.clone()))?;
                    params.subject_alt_names.push(SanType::DnsName(name));
                }
                for ip in ips {
                    params.subject_alt_names.push(SanType::IpAddress(*ip));
                }
            }
            Subject::Probe { .. } | Subject::Reader { .. } => {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth);
            }
        }
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `STEM.pem` and `STEM.key` (0600 on Unix), refusing to overwrite unless `force`.
pub fn write_pair(
    dir: &Path,
    stem: &str,
    pair: &PemPair,
    force: bool,
) -> Result<Vec<PathBuf>, CaError> {
    let io = |path: &Path, e: std::io::Error| CaError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    if !force {
        // Check both first so a refusal never leaves half a pair behind.
        for p in [&cert_path, &key_path] {
            if p.exists() {
                return Err(CaError::Exists(p.clone()));
            }
        }
    }
    write_file(&key_path, pair.key_pem.as_bytes(), true, force).map_err(|e| io(&key_path, e))?;
    write_file(&cert_path, pair.cert_pem.as_bytes(), false, force)
        .map_err(|e| io(&cert_path, e))?;
    Ok(vec![cert_path, key_path])
}

fn write_file(path: &Path, data: &[u8], secret: bool, force: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if secret {
            opts.mode(0o600);
        }
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    if secret {
        // An overwritten file keeps its old mode: tighten it explicitly.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn a_certificate_of_another_ca_is_told_by_type() {
        let validity = Validity::days(1).expect("one day");
        let ours = Ca::generate("ours", validity).expect("CA");
        let theirs = Ca::generate("theirs", validity).expect("CA");
        let probe = Subject::Probe {
            site: "loja-1".into(),
        };
        let der = |ca: &Ca| {
            let pem = ca.issue(&probe, validity).expect("issued").cert_pem;
            CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")
        };
        assert!(ours.check_issued(&der(&ours)).is_ok());
        let e = ours.check_issued(&der(&theirs)).expect_err("foreign");
        assert!(
            matches!(&e, CertError::OtherIssuer { issuer } if issuer.contains("theirs")),
            "{e:?}"
        );
        let e = ours.check_issued(b"not DER").expect_err("garbage");
        assert!(matches!(e, CertError::Unparsable(_)), "{e:?}");
    }
}
