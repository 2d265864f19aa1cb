//! What `check-config` proves about a program's certificate before a technician leaves a site:
//! the files load and the key matches (as at run time), the certificate was issued by the
//! configured CA, it is valid today (and for how many more days), and it says the right role
//! and name. Each failure names the file and the configuration key to fix, because the
//! alternative is a site that silently never reports.

use chrono::{DateTime, Utc};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::tls::{crypto_provider, PeerIdentity, Role, TlsError, TlsMaterial};

/// Who the certificate must belong to.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The role the program needs.
    pub role: Role,
    /// The name it must carry (the probe's site), or any name.
    pub name: Option<&'a str>,
    /// The configuration key that names it (`site`), for the message.
    pub name_key: &'a str,
}

/// A certificate that passed: what it says and how long it lasts.
#[derive(Debug, Clone)]
pub struct CertFacts {
    /// The loaded files, ready for use.
    pub material: TlsMaterial,
    /// The role and name it carries.
    pub identity: PeerIdentity,
    /// Its last valid instant.
    pub not_after: DateTime<Utc>,
    /// Whole days until then.
    pub days_left: i64,
}

/// Why the certificate would fail at run time.
#[derive(Debug, thiserror::Error)]
pub enum CertProblem {
    /// A file is missing, unreadable, not PEM, insecure, or the key does not match.
    #[error(transparent)]
    Files(#[from] TlsError),
    /// The CA in the configuration did not issue it (another fleet's CA, a re-created CA).
    #[error("{} (certificate) was not issued by the CA in {}: {reason}; copy this fleet's ca.pem, or issue the certificate again with that CA", .cert.display(), .ca.display())]
    WrongCa {
        /// The certificate.
        cert: PathBuf,
        /// The configured CA.
        ca: PathBuf,
        /// rustls' verdict.
        reason: String,
    },
    /// Past its last day, or not valid yet (a clock far off).
    #[error("{} (certificate): {reason}; issue a new one (vigia-collector ca issue --force …) or check this machine's clock", .cert.display())]
    NotValidNow {
        /// The certificate.
        cert: PathBuf,
        /// Expired on / valid from.
        reason: String,
    },
    /// Issued for another role (a reader certificate given to a probe).
    #[error("{} (certificate) is for {found}, but this program needs a {want} certificate", .cert.display())]
    WrongRole {
        /// The certificate.
        cert: PathBuf,
        /// What it says.
        found: PeerIdentity,
        /// What is needed.
        want: Role,
    },
    /// Issued for another name (another site's certificate).
    #[error("{} (certificate) is for {} {:?}, but key `{key}` says {want:?}: the collector would refuse every status", .cert.display(), .found.role, .found.name)]
    WrongName {
        /// The certificate.
        cert: PathBuf,
        /// What it says.
        found: PeerIdentity,
        /// The configured name.
        want: String,
        /// The configuration key holding it.
        key: String,
    },
}

/// Checks `ca`, `cert` and `key` for `expected` at `now`.
pub fn check(
    ca: &Path,
    cert: &Path,
    key: &Path,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<CertFacts, CertProblem> {
    let material = TlsMaterial::load(ca, cert, key)?;
    let identity = material.identity.clone();
    if identity.role != expected.role {
        return Err(CertProblem::WrongRole {
            cert: cert.to_path_buf(),
            found: identity,
            want: expected.role,
        });
    }
    if let Some(want) = expected.name {
        if identity.name != want {
            return Err(CertProblem::WrongName {
                cert: cert.to_path_buf(),
                found: identity,
                want: want.to_string(),
                key: expected.name_key.to_string(),
            });
        }
    }
    let not_after = not_after(&material, cert)?;
    verify_chain(&material, ca, cert, now)?;
    Ok(CertFacts {
        material,
        identity,
        not_after,
        days_left: (not_after - now).num_days(),
    })
}

fn not_after(material: &TlsMaterial, cert: &Path) -> Result<DateTime<Utc>, CertProblem> {
    let (_, parsed) = x509_parser::parse_x509_certificate(&material.cert_chain[0])
        .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))?;
    DateTime::from_timestamp(parsed.validity().not_after.timestamp(), 0).ok_or_else(|| {
        TlsError::Config(format!("{}: validity out of range", cert.display())).into()
    })
}

/// The same verification the peer will run: a client certificate as the collector checks it,
/// the server's as a probe does (against a name it carries).
fn verify_chain(
    material: &TlsMaterial,
    ca: &Path,
    cert: &Path,
    now: DateTime<Utc>,
) -> Result<(), CertProblem> {
    let provider = crypto_provider();
    let roots = Arc::new(material.roots()?);
    let leaf = &material.cert_chain[0];
    let intermediates = &material.cert_chain[1..];
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.timestamp()).unwrap_or(0),
    ));
    let verdict = if material.identity.role == Role::Server {
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let name = first_name(leaf)
            .unwrap_or_else(|| ServerName::try_from("localhost").expect("static name"));
        verifier
            .verify_server_cert(leaf, intermediates, &name, &[], at)
            .map(|_| ())
    } else {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        verifier
            .verify_client_cert(leaf, intermediates, at)
            .map(|_| ())
    };
    match verdict {
        Ok(()) => Ok(()),
        Err(rustls::Error::InvalidCertificate(e)) => match e {
            rustls::CertificateError::Expired
            | rustls::CertificateError::ExpiredContext { .. }
            | rustls::CertificateError::NotValidYet
            | rustls::CertificateError::NotValidYetContext { .. } => {
                Err(CertProblem::NotValidNow {
                    cert: cert.to_path_buf(),
                    reason: validity_words(&e),
                })
            }
            other => Err(CertProblem::WrongCa {
                cert: cert.to_path_buf(),
                ca: ca.to_path_buf(),
                reason: format!("{other:?}"),
            }),
        },
        Err(other) => Err(CertProblem::WrongCa {
            cert: cert.to_path_buf(),
            ca: ca.to_path_buf(),
            reason: other.to_string(),
        }),
    }
}

fn validity_words(e: &rustls::CertificateError) -> String {
    let date = |t: &UnixTime| {
        DateTime::from_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX), 0)
            .map_or_else(|| "?".to_string(), |d| d.format("%Y-%m-%d").to_string())
    };
    match e {
        rustls::CertificateError::ExpiredContext { not_after, .. } => {
            format!("expired on {}", date(not_after))
        }
        rustls::CertificateError::NotValidYetContext { not_before, .. } => {
            format!("not valid until {}", date(not_before))
        }
        rustls::CertificateError::NotValidYet => "not valid yet".to_string(),
        _ => "expired".to_string(),
    }
}

/// A DNS name or IP address the server certificate carries, to verify it as a probe would.
fn first_name(leaf: &rustls::pki_types::CertificateDer<'_>) -> Option<ServerName<'static>> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(d) => ServerName::try_from(d.to_string()).ok(),
        GeneralName::IPAddress(b) if b.len() == 4 => {
            let ip: [u8; 4] = (*b).try_into().ok()?;
            Some(ServerName::IpAddress(std::net::IpAddr::from(ip).into()))
        }
        GeneralName::IPAddress(b) if b.len() == 16 => {
            let ip: [u8; 16] = (*b).try_into().ok()?;
            Some(ServerName::IpAddress(std::net::IpAddr::from(ip).into()))
        }
        _ => None,
    })
}

impl CertFacts {
    /// One line for `check-config`: whose certificate, and until when.
    pub fn summary(&self, cert: &Path) -> String {
        format!(
            "certificate {}: {} (valid until {}, {} more days)",
            cert.display(),
            self.identity,
            self.not_after.format("%Y-%m-%d"),
            self.days_left
        )
    }
}
