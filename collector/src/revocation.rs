//! Revocation at the fleet CA: what was issued (`issued.toml`), what was revoked and why
//! (`revoked.toml`), and the CRL signed by the CA (`crl.pem`) that the collector checks every
//! client certificate against. The two TOML files are the CA's memory: a name resolves to the
//! serials issued for it, so `ca revoke loja-12` needs no certificate file at hand, and
//! `ca issue --force` can revoke the certificate it replaces.
//!
//! Every file is replaced atomically (written beside, then renamed), so a collector polling
//! `crl.pem` never reads half of one.

use crate::ca::{Ca, CaError, CertError};
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use vigia::tls::{PeerIdentity, Role};

/// The index of every certificate `ca issue` wrote, in the CA folder.
pub const ISSUED_FILE: &str = "issued.toml";
/// The revocations, with date and reason, in the CA folder; the CRL is rebuilt from it.
pub const REVOKED_FILE: &str = "revoked.toml";
/// The CRL, signed by the CA; the collector reads it (`[tls] crl`).
pub const CRL_FILE: &str = "crl.pem";
/// How long a CRL claims to be current. The collector does not enforce it (a CA kept offline
/// must not lock the fleet out when it is not re-signed in time); other tools may.
const CRL_DAYS: i64 = 3650;

/// One certificate the CA issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedCert {
    /// Serial number, lowercase hex without separators or leading zero bytes.
    pub serial: String,
    /// `probe`, `reader` or `server`.
    pub role: String,
    /// The site, reader or first server name the certificate names.
    pub name: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub not_after: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedIndex {
    #[serde(default)]
    certificate: Vec<IssuedCert>,
}

/// Why a certificate was revoked (RFC 5280 reason codes, the ones an operator has use for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No reason given.
    Unspecified,
    /// The key was (or may have been) stolen: a lost site machine.
    KeyCompromise,
    /// Replaced by a new certificate for the same name (`ca issue --force`).
    Superseded,
    /// The holder no longer exists (a closed site).
    CessationOfOperation,
}

impl Reason {
    /// Every reason, as written on the command line and in `revoked.toml`.
    pub const ALL: [Reason; 4] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::Superseded,
        Reason::CessationOfOperation,
    ];

    /// The command-line and file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
        }
    }

    fn rcgen(self) -> rcgen::RevocationReason {
        match self {
            Reason::Unspecified => rcgen::RevocationReason::Unspecified,
            Reason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Reason::Superseded => rcgen::RevocationReason::Superseded,
            Reason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Reason, String> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown reason {s:?}; expected one of {}",
                    Reason::ALL.map(Reason::as_str).join(", ")
                )
            })
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedCert {
    /// Serial number, as in [`IssuedCert::serial`].
    pub serial: String,
    /// The role it carried (`?` when the certificate named none).
    pub role: String,
    /// The name it carried.
    pub name: String,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
    /// Why.
    pub reason: Reason,
}

/// `revoked.toml`: the revocations and the number of the last CRL written from them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedList {
    /// The CRL number last used (CRL numbers only grow).
    #[serde(default)]
    pub crl_number: u64,
    /// Every revocation, oldest first.
    #[serde(default)]
    pub revoked: Vec<RevokedCert>,
}

/// What to revoke.
#[derive(Debug, Clone)]
pub enum Target {
    /// One serial number (hex, `:` separators allowed), as `issued.toml` lists it.
    Serial(String),
    /// Every unrevoked certificate issued for a name (of one role, when given).
    Name {
        /// The site, reader or server name.
        name: String,
        /// Only certificates of this role.
        role: Option<Role>,
    },
    /// The certificate in this file (also one issued before `issued.toml` existed).
    CertFile(PathBuf),
}

/// What a revocation did.
#[derive(Debug, Default)]
pub struct Revocation {
    /// Certificates revoked now.
    pub newly: Vec<RevokedCert>,
    /// Certificates that were already revoked (nothing changed for them).
    pub already: Vec<RevokedCert>,
    /// Files written (`revoked.toml`, `crl.pem`); empty when nothing changed.
    pub files: Vec<PathBuf>,
}

fn io_err(path: &Path, e: impl fmt::Display) -> CaError {
    CaError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Serial bytes as the files spell them: lowercase hex, no leading zero bytes.
pub fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a serial as typed (`3A:0F…`, `3a0f…`, `0x3a0f`) into the files' spelling.
pub fn normalize_serial(text: &str) -> Result<String, CaError> {
    let bad = || CaError::BadSerial(text.to_string());
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.is_empty() || hex.len() > 42 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    let bytes = serial_bytes(&padded).ok_or_else(bad)?;
    Ok(serial_hex(&bytes))
}

fn serial_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 == 1 {
        return serial_bytes(&format!("0{hex}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The serial, expiry and identity of a PEM certificate (`ca issue` records them).
pub fn cert_facts(
    cert_pem: &str,
) -> Result<(String, DateTime<Utc>, Option<PeerIdentity>), CertError> {
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(CertError::NotPem)?;
    der_facts(&der)
}

fn der_facts(der: &[u8]) -> Result<(String, DateTime<Utc>, Option<PeerIdentity>), CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(CertError::Unparsable)?;
    let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or(CertError::ExpiryOutOfRange)?;
    Ok((
        serial_hex(cert.raw_serial()),
        not_after,
        PeerIdentity::from_der(der).ok(),
    ))
}

fn read_toml<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T, CaError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| io_err(path, format!("damaged: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Replaces `path` atomically: a reader sees the old file or the new one, never a mix.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CaError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, e)
    })
}

fn write_toml<T: Serialize>(path: &Path, header: &str, value: &T) -> Result<(), CaError> {
    let body = toml::to_string(value).map_err(|e| io_err(path, e))?;
    write_atomic(path, format!("{header}\n{body}").as_bytes())
}

/// Every certificate `ca issue` recorded in `dir`.
pub fn issued(dir: &Path) -> Result<Vec<IssuedCert>, CaError> {
    Ok(read_toml::<IssuedIndex>(&dir.join(ISSUED_FILE))?.certificate)
}

/// The revocations recorded in `dir`.
pub fn revoked(dir: &Path) -> Result<RevokedList, CaError> {
    read_toml(&dir.join(REVOKED_FILE))
}

/// Adds an issued certificate to `issued.toml`.
pub fn record_issued(dir: &Path, cert: IssuedCert) -> Result<PathBuf, CaError> {
    let path = dir.join(ISSUED_FILE);
    let mut index: IssuedIndex = read_toml(&path)?;
    index.certificate.push(cert);
    write_toml(
        &path,
        "# Written by `vigia-collector ca issue`: every certificate this CA issued.",
        &index,
    )?;
    Ok(path)
}

/// The certificates issued for `role`/`name` that are not revoked.
pub fn live_for(dir: &Path, role: Role, name: &str) -> Result<Vec<IssuedCert>, CaError> {
    let revoked = revoked(dir)?;
    Ok(issued(dir)?
        .into_iter()
        .filter(|c| c.role == role.as_str() && c.name == name)
        .filter(|c| !revoked.revoked.iter().any(|r| r.serial == c.serial))
        .collect())
}

/// Starts a fresh record for a new CA: no certificates issued, none revoked, an empty CRL.
pub fn reset(dir: &Path, ca: &Ca) -> Result<PathBuf, CaError> {
    write_toml(
        &dir.join(ISSUED_FILE),
        "# Written by `vigia-collector ca issue`: every certificate this CA issued.",
        &IssuedIndex::default(),
    )?;
    let mut list = RevokedList::default();
    write_crl(dir, ca, &mut list)
}

/// Writes `crl.pem` from `list` (its CRL number incremented) and saves `revoked.toml`.
pub fn write_crl(dir: &Path, ca: &Ca, list: &mut RevokedList) -> Result<PathBuf, CaError> {
    let crl_path = dir.join(CRL_FILE);
    list.crl_number += 1;
    let now = time::OffsetDateTime::now_utc();
    let mut revoked_certs = Vec::with_capacity(list.revoked.len());
    for r in &list.revoked {
        let bytes = serial_bytes(&r.serial).ok_or_else(|| {
            io_err(
                &dir.join(REVOKED_FILE),
                format!("damaged: serial {:?} is not hex", r.serial),
            )
        })?;
        let revoked_at =
            time::OffsetDateTime::from_unix_timestamp(r.revoked_at.timestamp()).unwrap_or(now);
        revoked_certs.push(rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&bytes),
            revocation_time: revoked_at,
            reason_code: Some(r.reason.rcgen()),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(CRL_DAYS),
        crl_number: rcgen::SerialNumber::from(list.crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let pem = ca.sign_crl(&params)?;
    // revoked.toml first: if the CRL write fails, the next revoke rewrites it from the list.
    write_toml(
        &dir.join(REVOKED_FILE),
        "# Written by `vigia-collector ca revoke`; crl.pem is rebuilt from this list.",
        list,
    )?;
    write_atomic(&crl_path, pem.as_bytes())?;
    Ok(crl_path)
}

/// Revokes what `target` names and rewrites the CRL; unknown names and serials are errors.
pub fn revoke(dir: &Path, target: &Target, reason: Reason) -> Result<Revocation, CaError> {
    let ca = Ca::load(dir)?;
    let index_path = dir.join(ISSUED_FILE);
    let list = revoked(dir)?;
    let index = issued(dir)?;
    let chosen: Vec<(String, String, String)> = match target {
        Target::Serial(text) => {
            let serial = normalize_serial(text)?;
            let in_index = index.iter().find(|c| c.serial == serial);
            let in_list = list.revoked.iter().find(|r| r.serial == serial);
            match (in_index, in_list) {
                (Some(c), _) => vec![(c.serial.clone(), c.role.clone(), c.name.clone())],
                (None, Some(r)) => vec![(r.serial.clone(), r.role.clone(), r.name.clone())],
                (None, None) => {
                    return Err(CaError::UnknownSerial {
                        serial: text.clone(),
                        index: index_path,
                    })
                }
            }
        }
        Target::Name { name, role } => {
            let matching: Vec<&IssuedCert> = index
                .iter()
                .filter(|c| &c.name == name)
                .filter(|c| role.is_none_or(|r| c.role == r.as_str()))
                .collect();
            if matching.is_empty() {
                return Err(CaError::UnknownName {
                    name: name.clone(),
                    index: index_path,
                });
            }
            let mut roles: Vec<&str> = matching.iter().map(|c| c.role.as_str()).collect();
            roles.sort_unstable();
            roles.dedup();
            if roles.len() > 1 {
                return Err(CaError::AmbiguousName {
                    name: name.clone(),
                    roles: roles.join(", "),
                });
            }
            matching
                .into_iter()
                .map(|c| (c.serial.clone(), c.role.clone(), c.name.clone()))
                .collect()
        }
        Target::CertFile(path) => {
            let pem = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
            let cert = |source: CertError| CaError::Cert {
                path: path.clone(),
                source,
            };
            let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| cert(CertError::NotPem(e)))?;
            ca.check_issued(&der).map_err(cert)?;
            let (serial, _, identity) = der_facts(&der).map_err(cert)?;
            let (role, name) = identity.map_or_else(
                || ("?".to_string(), "?".to_string()),
                |i| (i.role.as_str().to_string(), i.name),
            );
            vec![(serial, role, name)]
        }
    };
    revoke_entries(dir, &ca, list, chosen, reason)
}

/// Revokes the given (serial, role, name) entries not revoked yet, and rewrites the CRL.
pub(crate) fn revoke_entries(
    dir: &Path,
    ca: &Ca,
    mut list: RevokedList,
    chosen: Vec<(String, String, String)>,
    reason: Reason,
) -> Result<Revocation, CaError> {
    let mut out = Revocation::default();
    let now = Utc::now();
    for (serial, role, name) in chosen {
        if let Some(r) = list.revoked.iter().find(|r| r.serial == serial) {
            out.already.push(r.clone());
            continue;
        }
        let r = RevokedCert {
            serial,
            role,
            name,
            revoked_at: now,
            reason,
        };
        list.revoked.push(r.clone());
        out.newly.push(r);
    }
    if !out.newly.is_empty() {
        let crl = write_crl(dir, ca, &mut list)?;
        out.files = vec![dir.join(REVOKED_FILE), crl];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_read_in_every_usual_spelling() {
        for typed in ["3A:0f:01", "3a0f01", "0x3a0f01", "00:3a:0f:01", " 3a0f01 "] {
            assert_eq!(
                normalize_serial(typed).ok().as_deref(),
                Some("3a0f01"),
                "{typed}"
            );
        }
        assert_eq!(normalize_serial("a0f01").ok().as_deref(), Some("0a0f01"));
        for bad in ["", "xyz", "3a-0f", &"f".repeat(43)] {
            assert!(normalize_serial(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
        }
        assert!("stolen".parse::<Reason>().is_err());
    }
}
