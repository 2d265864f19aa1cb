//! TLS material and peer identity. Every Vigia connection is mutual TLS under one fleet CA; a
//! certificate carries its holder's role and name (a URI SAN `vigia://ROLE/NAME`), so the
//! collector knows which site a probe may write without any other account database.
//! Loading errors name the file and what is wrong with it, because the person reading them is
//! installing a probe at a client site, not debugging Rust.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// URI scheme of the SAN that carries a certificate's role and name.
pub const IDENTITY_URI_SCHEME: &str = "vigia://";

/// What a certificate holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The collector's server certificate.
    Server,
    /// A site's probe: may report for its own site only.
    Probe,
    /// The mailer or an operator: may query and administer.
    Reader,
}

impl Role {
    /// The role's word in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Probe => "probe",
            Role::Reader => "reader",
        }
    }

    /// Reads a role word.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "server" => Some(Role::Server),
            "probe" => Some(Role::Probe),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is at the other end of a connection, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    /// What the holder may do.
    pub role: Role,
    /// The site (probes), the holder (readers) or the server's name.
    pub name: String,
}

impl PeerIdentity {
    /// The SAN URI that encodes this identity in a certificate.
    pub fn to_uri(&self) -> String {
        format!("{IDENTITY_URI_SCHEME}{}/{}", self.role, self.name)
    }

    /// Reads an identity URI (`vigia://probe/loja-12`).
    pub fn from_uri(uri: &str) -> Option<PeerIdentity> {
        let rest = uri.strip_prefix(IDENTITY_URI_SCHEME)?;
        let (role, name) = rest.split_once('/')?;
        let role = Role::parse(role)?;
        crate::names::validate_name("certificate", name).ok()?;
        Some(PeerIdentity {
            role,
            name: name.to_string(),
        })
    }

    /// Reads the role and name out of a DER certificate (the peer's leaf).
    pub fn from_der(der: &[u8]) -> Result<PeerIdentity, IdentityError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| IdentityError::Unparsable(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::Unparsable(e.to_string()))?;
        let mut found = None;
        if let Some(san) = san {
            for name in &san.value.general_names {
                if let GeneralName::URI(uri) = name {
                    if uri.starts_with(IDENTITY_URI_SCHEME) {
                        if found.is_some() {
                            return Err(IdentityError::Ambiguous);
                        }
                        found = Some(
                            PeerIdentity::from_uri(uri)
                                .ok_or_else(|| IdentityError::BadUri(uri.to_string()))?,
                        );
                    }
                }
            }
        }
        found.ok_or(IdentityError::NoIdentity)
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)
    }
}

/// Why a certificate does not say who its holder is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not a readable X.509 certificate.
    #[error("certificate cannot be parsed: {0}")]
    Unparsable(String),
    /// A certificate from elsewhere, not issued by `vigia-collector ca issue`.
    #[error(
        "certificate carries no vigia:// identity (was it issued by `vigia-collector ca issue`?)"
    )]
    NoIdentity,
    /// The identity URI is malformed.
    #[error("certificate identity {0:?} is not of the form vigia://ROLE/NAME")]
    BadUri(String),
    /// Two identities in one certificate: refuse rather than guess.
    #[error("certificate carries more than one vigia:// identity")]
    Ambiguous,
}

/// Why TLS material could not be loaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file is not there.
    #[error("{} ({what}): file not found", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// "CA certificate", "certificate", "private key".
        what: &'static str,
    },
    /// The file cannot be read.
    #[error("{} ({what}): cannot read: {reason}", .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// "CA certificate", "certificate", "private key".
        what: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// The file holds no PEM block of the expected kind.
    #[error("{} ({what}): not a PEM file with a {expected} ({reason})", .path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
        /// "CA certificate", "certificate", "private key".
        what: &'static str,
        /// "CERTIFICATE", "PRIVATE KEY".
        expected: &'static str,
        /// What the PEM reader said.
        reason: String,
    },
    /// The private key is not the certificate's.
    #[error("{} (private key) does not match the certificate {}", .key.display(), .cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The key cannot be used (unsupported algorithm, corrupt).
    #[error("{} (private key): unusable: {reason}", .path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The certificate has no Vigia identity.
    #[error("{} (certificate): {source}", .path.display())]
    Identity {
        /// The certificate file.
        path: PathBuf,
        /// What is missing.
        source: IdentityError,
    },
    /// rustls refused to build a configuration from the material.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The private key is readable by others.
    #[error(transparent)]
    Insecure(#[from] crate::secret_file::InsecureFile),
}

/// A loaded, checked set of files: the fleet CA, our certificate chain and its key.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The CA file's PEM text (for tonic's `Certificate::from_pem`).
    pub ca_pem: Vec<u8>,
    /// Our certificate chain's PEM text.
    pub cert_pem: Vec<u8>,
    /// Our private key's PEM text.
    pub key_pem: Vec<u8>,
    /// The CA certificates, decoded.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// Our chain, leaf first, decoded.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// Our identity as our own certificate states it.
    pub identity: PeerIdentity,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("identity", &self.identity)
            .field("ca_certs", &self.ca_certs.len())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TlsError::Missing {
                path: path.to_path_buf(),
                what,
            }
        } else {
            TlsError::Unreadable {
                path: path.to_path_buf(),
                what,
                reason: e.to_string(),
            }
        }
    })
}

fn certs_from_pem(
    pem: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let not_pem = |reason: String| TlsError::NotPem {
        path: path.to_path_buf(),
        what,
        expected: "CERTIFICATE",
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(not_pem("no certificate found".into()));
    }
    for c in &certs {
        x509_parser::parse_x509_certificate(c)
            .map_err(|e| not_pem(format!("certificate cannot be parsed: {e}")))?;
    }
    Ok(certs)
}

/// Reads the CA certificate(s) of a file.
pub fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certs_from_pem(&read(path, "CA certificate")?, path, "CA certificate")
}

fn load_key_pem(path: &Path) -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsError> {
    crate::secret_file::check(path, "private key")?;
    let pem = read(path, "private key")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::NotPem {
        path: path.to_path_buf(),
        what: "private key",
        expected: "PRIVATE KEY",
        reason: e.to_string(),
    })?;
    Ok((pem, key))
}

/// The one way every Vigia client dials the collector: trust only the fleet CA `ca_pem`,
/// present `identity`, and speak HTTP/2 even when the server names no ALPN protocol (the
/// collector speaks nothing else). For material not loaded from files (tests, load generators);
/// programs use [`TlsMaterial::client_tls`].
pub fn client_tls(
    ca_pem: &[u8],
    identity: tonic::transport::Identity,
) -> tonic::transport::ClientTlsConfig {
    tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
        .identity(identity)
        .assume_http2(true)
}

/// The one crypto provider of the whole graph (ring, shared with lettre).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider; call at the start of each `main`.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TlsMaterial {
    /// Loads and checks the CA, certificate and key files: present, PEM, key matching, identity present.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
        let ca_pem = read(ca, "CA certificate")?;
        let ca_certs = certs_from_pem(&ca_pem, ca, "CA certificate")?;
        let cert_pem = read(cert, "certificate")?;
        let cert_chain = certs_from_pem(&cert_pem, cert, "certificate")?;
        let (key_pem, key_der) = load_key_pem(key)?;
        let provider = crypto_provider();
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| TlsError::BadKey {
                path: key.to_path_buf(),
                reason: e.to_string(),
            })?;
        let certified = rustls::sign::CertifiedKey::new(cert_chain.clone(), signing);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => {
                return Err(TlsError::KeyMismatch {
                    key: key.to_path_buf(),
                    cert: cert.to_path_buf(),
                })
            }
        }
        let identity =
            PeerIdentity::from_der(&cert_chain[0]).map_err(|source| TlsError::Identity {
                path: cert.to_path_buf(),
                source,
            })?;
        Ok(TlsMaterial {
            ca_pem,
            cert_pem,
            key_pem,
            ca_certs,
            cert_chain,
            identity,
        })
    }

    /// Our private key, decoded again (rustls consumes keys, and PEM is the stored form).
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| TlsError::Config(e.to_string()))
    }

    pub(crate) fn roots(&self) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for c in &self.ca_certs {
            roots
                .add(c.clone())
                .map_err(|e| TlsError::Config(format!("CA certificate refused: {e}")))?;
        }
        Ok(roots)
    }

    /// A rustls server configuration that demands a client certificate from the fleet CA.
    pub fn rustls_server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = crypto_provider();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots()?),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert_chain.clone(), self.private_key()?)
            .map_err(|e| TlsError::Config(e.to_string()))
    }

    /// The tonic client settings for dialling the collector with this material (see
    /// [`client_tls`]); callers add `domain_name` when the URL's host is not the certificate's.
    pub fn client_tls(&self) -> tonic::transport::ClientTlsConfig {
        client_tls(
            &self.ca_pem,
            tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem),
        )
    }

    /// A rustls client configuration that trusts only the fleet CA and presents our certificate.
    pub fn rustls_client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.cert_chain.clone(), self.private_key()?)
            .map_err(|e| TlsError::Config(e.to_string()))
    }
}
