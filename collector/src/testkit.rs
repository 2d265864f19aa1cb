//! Test support shared by every crate's integration tests and the end-to-end test: a fleet of
//! certificates minted by the real CA code into a folder, so that no test ever ships a key.
//! (The collector-starting half lives beside it once the server exists.)

use crate::ca::{self, Ca, Subject, Validity};
use std::path::{Path, PathBuf};

/// The three files a party needs for mutual TLS.
#[derive(Debug, Clone)]
pub struct CertPaths {
    /// The fleet CA certificate to trust.
    pub ca: PathBuf,
    /// This party's certificate.
    pub cert: PathBuf,
    /// This party's private key.
    pub key: PathBuf,
}

/// A CA and a server certificate for `localhost` and `127.0.0.1`, written into a folder.
pub struct TestFleet {
    dir: PathBuf,
    ca: Ca,
}

impl TestFleet {
    /// Mints a CA and the collector's server certificate into `dir`.
    pub fn new(dir: &Path) -> Result<TestFleet, ca::CaError> {
        let ca = Ca::generate("test", Validity::days(30)?)?;
        ca::write_pair(dir, "ca", &ca.to_pem_pair(), true)?;
        let fleet = TestFleet {
            dir: dir.to_path_buf(),
            ca,
        };
        fleet.issue(&Subject::Server {
            dns: vec!["localhost".into()],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        })?;
        Ok(fleet)
    }

    /// The folder holding every file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fleet CA certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The collector's server certificate and key.
    pub fn server(&self) -> CertPaths {
        self.paths("server")
    }

    /// Issues (or re-issues) a probe certificate for `site`.
    pub fn probe(&self, site: &str) -> Result<CertPaths, ca::CaError> {
        self.issue(&Subject::Probe {
            site: site.to_string(),
        })
    }

    /// Issues (or re-issues) a reader certificate for `name`.
    pub fn reader(&self, name: &str) -> Result<CertPaths, ca::CaError> {
        self.issue(&Subject::Reader {
            name: name.to_string(),
        })
    }

    /// A probe certificate for `site` from a different CA, written as `foreign-SITE.*`;
    /// it trusts this fleet's CA (so it accepts the server) but will be refused by it.
    pub fn foreign_probe(&self, site: &str) -> Result<CertPaths, ca::CaError> {
        let other = Ca::generate("foreign", Validity::days(30)?)?;
        let pair = other.issue(
            &Subject::Probe {
                site: site.to_string(),
            },
            Validity::days(30)?,
        )?;
        let stem = format!("foreign-{site}");
        ca::write_pair(&self.dir, &stem, &pair, true)?;
        Ok(self.paths(&stem))
    }

    fn issue(&self, subject: &Subject) -> Result<CertPaths, ca::CaError> {
        let pair = self.ca.issue(subject, Validity::days(30)?)?;
        ca::write_pair(&self.dir, subject.file_stem(), &pair, true)?;
        Ok(self.paths(subject.file_stem()))
    }

    fn paths(&self, stem: &str) -> CertPaths {
        CertPaths {
            ca: self.ca_pem(),
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        }
    }
}
