//! The CA folder's operations that keep its record, above both the CA (`crate::ca`: keys and
//! minting) and the record (`crate::revocation`: `issued.toml`, `revoked.toml`, the CRL):
//! creating a CA starts a fresh record, and issuing a certificate records it and, when it
//! replaces one, revokes the old. Kept apart from `ca` so the record can sign its CRL with the
//! CA without the CA importing the record back.

use std::path::{Path, PathBuf};

use crate::ca::{write_pair, Ca, CaError, Subject, Validity};
use crate::revocation;

/// Creates a CA in `dir` (`ca.pem`, `ca.key`, an empty `crl.pem`, and fresh `issued.toml`
/// and `revoked.toml`); returns the certificate, key and CRL paths.
pub fn init(dir: &Path, name: &str, days: u32, force: bool) -> Result<Vec<PathBuf>, CaError> {
    let ca = Ca::generate(name, Validity::days(days)?)?;
    let mut files = write_pair(dir, "ca", &ca.to_pem_pair(), force)?;
    // A new CA starts a new record: the old one's certificates are not trusted any more.
    files.push(revocation::reset(dir, &ca)?);
    Ok(files)
}

/// What `ca issue` did.
#[derive(Debug)]
pub struct Issued {
    /// The certificate and key written (and `crl.pem` when an old certificate was revoked).
    pub files: Vec<PathBuf>,
    /// The new certificate's serial.
    pub serial: String,
    /// Certificates for the same name revoked because this one replaces them (`--force`).
    pub superseded: Vec<revocation::RevokedCert>,
}

/// Issues a certificate from the CA in `ca_dir` into `out_dir`; returns the files written.
pub fn issue(
    ca_dir: &Path,
    out_dir: &Path,
    subject: &Subject,
    days: u32,
    force: bool,
) -> Result<Vec<PathBuf>, CaError> {
    Ok(issue_recorded(ca_dir, out_dir, subject, days, force)?.files)
}

/// Issues a certificate, records it in the CA's `issued.toml`, and with `force` revokes the
/// certificates it replaces (same role and name), so one name has one valid certificate.
pub fn issue_recorded(
    ca_dir: &Path,
    out_dir: &Path,
    subject: &Subject,
    days: u32,
    force: bool,
) -> Result<Issued, CaError> {
    subject.validate()?;
    let validity = Validity::days(days)?;
    let ca = Ca::load(ca_dir)?;
    let identity = subject.identity();
    let previous = revocation::live_for(ca_dir, identity.role, &identity.name)?;
    if let (false, Some(old)) = (force, previous.first()) {
        return Err(CaError::AlreadyIssued {
            role: identity.role.as_str(),
            name: identity.name,
            serial: old.serial.clone(),
            index: ca_dir.join(revocation::ISSUED_FILE),
        });
    }
    let pair = ca.issue(subject, validity)?;
    let mut files = write_pair(out_dir, subject.file_stem(), &pair, force)?;
    let (serial, not_after, _) = revocation::cert_facts(&pair.cert_pem).map_err(CaError::Minted)?;
    revocation::record_issued(
        ca_dir,
        revocation::IssuedCert {
            serial: serial.clone(),
            role: identity.role.as_str().to_string(),
            name: identity.name.clone(),
            issued_at: chrono::Utc::now(),
            not_after,
        },
    )?;
    let mut superseded = Vec::new();
    if !previous.is_empty() {
        let chosen = previous
            .into_iter()
            .map(|c| (c.serial, c.role, c.name))
            .collect();
        let list = revocation::revoked(ca_dir)?;
        let done =
            revocation::revoke_entries(ca_dir, &ca, list, chosen, revocation::Reason::Superseded)?;
        files.extend(
            done.files
                .into_iter()
                .filter(|f| f.ends_with(revocation::CRL_FILE)),
        );
        superseded = done.newly;
    }
    Ok(Issued {
        files,
        serial,
        superseded,
    })
}
