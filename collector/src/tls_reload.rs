//! The collector's TLS configuration, and its reload while running: the fleet CA, the CRL and
//! the server's own certificate and key are re-read every `[tls] reload_interval`, and a new
//! rustls configuration applies to every connection accepted after it. A revocation
//! (`ca revoke`) or a renewed server certificate thus takes effect without a restart, and a
//! file that fails to load is logged while the last good configuration stays in force.

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, CertificateRevocationListDer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use vigia::tls::{crypto_provider, TlsError, TlsMaterial};

use crate::config::TlsPaths;

/// Why the CRL file cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// Present but unreadable.
    #[error("{} (CRL): cannot read: {reason}", .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// Not PEM with an `X509 CRL` block, or a block that does not parse.
    #[error("{} (CRL): not a valid PEM file with an X509 CRL ({reason}); rewrite it with `vigia-collector ca revoke`, or remove it to revoke nothing", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Signed by another CA than the one in `[tls] ca`.
    #[error("{} (CRL): issued by \"{issuer}\", not by the CA in {}", .path.display(), .ca.display())]
    ForeignIssuer {
        /// The file.
        path: PathBuf,
        /// The CRL's issuer.
        issuer: String,
        /// `[tls] ca`.
        ca: PathBuf,
    },
    /// The issuer name matches but the signature does not verify.
    #[error("{} (CRL): its signature does not verify with the CA in {}", .path.display(), .ca.display())]
    BadSignature {
        /// The file.
        path: PathBuf,
        /// `[tls] ca`.
        ca: PathBuf,
    },
}

/// Why a TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The CA, certificate or key.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The CRL.
    #[error(transparent)]
    Crl(#[from] CrlError),
}

/// The checked CRLs of a CRL file.
#[derive(Debug, Default, Clone)]
pub struct Crls {
    /// The CRLs, DER.
    pub ders: Vec<CertificateRevocationListDer<'static>>,
    /// Revoked serials listed, over all CRLs.
    pub revoked: usize,
    /// Those serials, as [`crate::revocation::serial_hex`] spells them.
    pub serials: HashSet<String>,
    /// Whether every CA certificate in `[tls] ca` has a CRL here.
    pub covers_every_ca: bool,
}

/// Reads and checks the CRL file: a missing file is "nothing revoked"; a present one must be
/// PEM CRLs, each issued and signed by a CA certificate of `ca_certs`.
pub fn load_crls(
    path: &Path,
    ca_path: &Path,
    ca_certs: &[CertificateDer<'static>],
) -> Result<Crls, CrlError> {
    let pem = match std::fs::read(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Crls::default()),
        Err(e) => {
            return Err(CrlError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let invalid = |reason: String| CrlError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let ders = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if ders.is_empty() {
        return Err(invalid("no X509 CRL block found".into()));
    }
    let cas = ca_certs
        .iter()
        .map(|c| x509_parser::parse_x509_certificate(c).map(|(_, c)| c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CrlError::Invalid {
            path: ca_path.to_path_buf(),
            reason: format!("CA certificate: {e}"),
        })?;
    let mut covered = vec![false; cas.len()];
    let mut serials = HashSet::new();
    let mut revoked = 0;
    for der in &ders {
        let (_, crl) = x509_parser::parse_x509_crl(der).map_err(|e| invalid(e.to_string()))?;
        let Some(i) = cas
            .iter()
            .position(|ca| ca.subject().as_raw() == crl.issuer().as_raw())
        else {
            return Err(CrlError::ForeignIssuer {
                path: path.to_path_buf(),
                issuer: crl.issuer().to_string(),
                ca: ca_path.to_path_buf(),
            });
        };
        if crl.verify_signature(cas[i].public_key()).is_err() {
            return Err(CrlError::BadSignature {
                path: path.to_path_buf(),
                ca: ca_path.to_path_buf(),
            });
        }
        covered[i] = true;
        for r in crl.iter_revoked_certificates() {
            revoked += 1;
            serials.insert(crate::revocation::serial_hex(r.raw_serial()));
        }
    }
    Ok(Crls {
        ders,
        revoked,
        serials,
        covers_every_ca: covered.iter().all(|c| *c),
    })
}

/// A loaded TLS configuration and what it was built from.
pub struct LoadedTls {
    /// The rustls configuration for new connections.
    pub config: Arc<ServerConfig>,
    /// The CA, certificate and key as loaded.
    pub material: TlsMaterial,
    /// The CRLs in force.
    pub crls: Crls,
    /// The server certificate's serial, hex (logged on reload: which certificate is served).
    pub server_serial: String,
}

/// Loads `[tls]`: CA, server certificate and key (checked as at start), and the CRL.
pub fn load(paths: &TlsPaths) -> Result<LoadedTls, LoadError> {
    let material = TlsMaterial::load(&paths.ca, &paths.cert, &paths.key)?;
    let crls = load_crls(&paths.crl_path(), &paths.ca, &material.ca_certs)?;
    let config = server_config(&material, &crls)?;
    let server_serial = x509_parser::parse_x509_certificate(&material.cert_chain[0])
        .map(|(_, c)| crate::revocation::serial_hex(c.raw_serial()))
        .unwrap_or_default();
    Ok(LoadedTls {
        config: Arc::new(config),
        material,
        crls,
        server_serial,
    })
}

/// A rustls server configuration demanding a client certificate from the fleet CA that no CRL
/// revokes, speaking HTTP/2 only (gRPC).
pub fn server_config(material: &TlsMaterial, crls: &Crls) -> Result<ServerConfig, TlsError> {
    let provider = crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in &material.ca_certs {
        roots
            .add(c.clone())
            .map_err(|e| TlsError::Config(format!("CA certificate refused: {e}")))?;
    }
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls.ders.iter().cloned())
            // Our chains are leaf + root: only the leaf can be revoked.
            .only_check_end_entity_revocation();
    if !crls.ders.is_empty() && !crls.covers_every_ca {
        // A CA without a CRL (a second CA during a rotation) has nothing revoked; without this
        // every certificate it issued would be refused as "unknown revocation status".
        verifier = verifier.allow_unknown_revocation_status();
    }
    let verifier = verifier
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.cert_chain.clone(), material.private_key()?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The configuration new connections get; replaced whole on reload, so a handshake uses one
/// consistent configuration from start to end. It also tells open connections which serials a
/// reload revoked, so a revoked certificate's connection closes too (see `crate::accept`).
pub struct TlsSlot {
    config: RwLock<Arc<ServerConfig>>,
    revoked: RwLock<Arc<HashSet<String>>>,
    generation: AtomicU64,
}

impl TlsSlot {
    /// A slot holding `config`. Its revoked set starts empty: no connection can exist yet
    /// whose certificate the first CRL revokes.
    pub fn new(config: Arc<ServerConfig>) -> TlsSlot {
        TlsSlot {
            config: RwLock::new(config),
            revoked: RwLock::new(Arc::new(HashSet::new())),
            generation: AtomicU64::new(0),
        }
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.config.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes with every reload; a connection compares it to decide whether to look again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the CRL of the latest reload lists `serial` (hex as `serial_hex` spells it).
    pub fn is_revoked(&self, serial: &str) -> bool {
        match self.revoked.read() {
            Ok(g) => g.contains(serial),
            Err(poisoned) => poisoned.into_inner().contains(serial),
        }
    }

    fn set(&self, config: Arc<ServerConfig>, revoked: HashSet<String>) {
        match self.config.write() {
            Ok(mut g) => *g = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        let revoked = Arc::new(revoked);
        match self.revoked.write() {
            Ok(mut g) => *g = revoked,
            Err(poisoned) => *poisoned.into_inner() = revoked,
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// One file's content as last seen: a change of any kind (also appearing or vanishing) counts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Missing,
    Bytes(Vec<u8>),
    Error(String),
}

/// The four files' contents; the files are small, so comparing contents is cheap and catches
/// what a modification time misses (a copy within the same second, a restored old file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot([Seen; 4]);

impl Snapshot {
    /// Reads the CA, CRL, certificate and key files of `paths`.
    pub fn read(paths: &TlsPaths) -> Snapshot {
        let seen = |p: &Path| match std::fs::read(p) {
            Ok(b) => Seen::Bytes(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Seen::Missing,
            Err(e) => Seen::Error(e.to_string()),
        };
        Snapshot([
            seen(&paths.ca),
            seen(&paths.crl_path()),
            seen(&paths.cert),
            seen(&paths.key),
        ])
    }
}

/// Re-reads the files every `interval` until `stop`; a changed set that loads replaces the
/// configuration in `slot`, one that does not is logged once and the previous one stays.
pub async fn reload_loop(
    paths: TlsPaths,
    slot: Arc<TlsSlot>,
    mut loaded_from: Snapshot,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut failed: Option<Snapshot> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
        let p = paths.clone();
        // Read before loading: a file changing in between makes the next poll load again.
        let Ok(snapshot) = tokio::task::spawn_blocking(move || Snapshot::read(&p)).await else {
            continue;
        };
        if snapshot == loaded_from || failed.as_ref() == Some(&snapshot) {
            continue;
        }
        let p = paths.clone();
        let Ok(outcome) = tokio::task::spawn_blocking(move || load(&p)).await else {
            continue;
        };
        match outcome {
            Ok(new) => {
                log_loaded(&paths, &new, "TLS files changed; new connections use them");
                slot.set(new.config, new.crls.serials);
                loaded_from = snapshot;
                failed = None;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "TLS files changed but cannot be used; keeping the previous TLS configuration"
                );
                failed = Some(snapshot);
            }
        }
    }
}

/// Logs what a loaded configuration holds (at start and after each reload).
pub fn log_loaded(paths: &TlsPaths, tls: &LoadedTls, what: &str) {
    if !tls.crls.ders.is_empty() && !tls.crls.covers_every_ca {
        tracing::warn!(
            crl = %paths.crl_path().display(),
            ca = %paths.ca.display(),
            "the CRL covers only some of the CA certificates; the others have nothing revoked"
        );
    }
    tracing::info!(
        server_certificate = %paths.cert.display(),
        server_serial = %tls.server_serial,
        crl = %paths.crl_path().display(),
        revoked = tls.crls.revoked,
        "{what}"
    );
}
