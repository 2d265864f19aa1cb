//! The probe's side of the mTLS gRPC connection to the collector: a tonic channel over rustls
//! presenting this site's certificate and trusting only the fleet CA, with HTTP/2 keepalive so
//! a silently dead link (a NAT that forgot us, a collector host that lost power) is noticed
//! within a minute instead of whenever the kernel's TCP timers give up. Also turns the errors a
//! connection attempt meets into one sentence an installer at a client site can act on, told
//! by the errors' types ([`classify`]), so a collector that is simply away is never reported as
//! one refusing this probe's certificate.

use crate::config::CollectorSection;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use vigia::pb::ingest_client::IngestClient;
use vigia::process::error_chain;
use vigia::tls::{PeerIdentity, Role, TlsMaterial};

/// How often an HTTP/2 PING goes out, also while no status is in flight.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long a PING may stay unanswered before the connection is declared dead.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest acknowledgement message accepted (acks are tiny; this bounds a misbehaving peer).
const MAX_DECODING: usize = 64 * 1024;

/// Why the connection settings are unusable (checked once, at start).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A TLS file is missing or wrong.
    #[error("key `collector`: {0}")]
    Tls(#[from] vigia::tls::TlsError),
    /// The URL cannot be used.
    #[error("key `collector.url`: {0}")]
    Url(#[from] UrlError),
}

/// Why `collector.url` cannot be used; tonic's error, when there is one, is the source.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// Not `https://`: the collector accepts only mTLS.
    #[error("{url:?} must start with https:// (the collector speaks only TLS)")]
    NotHttps {
        /// As written (trimmed).
        url: String,
    },
    /// tonic cannot parse it as a URI.
    #[error("{url:?}: {source}")]
    Unparsable {
        /// As written (trimmed).
        url: String,
        /// tonic's reason.
        source: tonic::transport::Error,
    },
    /// tonic cannot set up TLS towards it (e.g. no host to verify the certificate against).
    // The chain is in the text because the outermost tonic error says only "transport error";
    // `error_chain` does not repeat a cause already quoted.
    #[error("{url:?}: {}", error_chain(.source))]
    Tls {
        /// As written (trimmed).
        url: String,
        /// tonic's reason.
        source: tonic::transport::Error,
    },
}

/// Opens connections to the collector; built once from `[collector]`.
#[derive(Debug, Clone)]
pub struct Connector {
    endpoint: Endpoint,
    connect_timeout: Duration,
    identity: PeerIdentity,
    /// `host:port` of the collector, for the hints.
    addr: String,
    /// The URL names a host (not an IP address), so a failure may be a lookup that failed.
    host_is_name: bool,
}

impl Connector {
    /// Loads and checks the TLS files and prepares the endpoint (does not connect).
    pub fn new(section: &CollectorSection) -> Result<Connector, ClientError> {
        let tls = TlsMaterial::load(&section.ca, &section.cert, &section.key)?;
        let url = section.url.trim();
        if !url.starts_with("https://") {
            return Err(UrlError::NotHttps { url: url.into() }.into());
        }
        let mut tls_config = tls.client_tls();
        if let Some(name) = section.server_name.as_deref().filter(|n| !n.is_empty()) {
            tls_config = tls_config.domain_name(name);
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|source| UrlError::Unparsable {
                url: url.into(),
                source,
            })?
            .tls_config(tls_config)
            .map_err(|source| UrlError::Tls {
                url: url.into(),
                source,
            })?
            .connect_timeout(section.connect_timeout)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let uri = endpoint.uri();
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let host_is_name = bare.parse::<std::net::IpAddr>().is_err();
        let addr = format!("{host}:{port}");
        Ok(Connector {
            endpoint,
            connect_timeout: section.connect_timeout,
            identity: tls.identity,
            addr,
            host_is_name,
        })
    }

    /// Changes the HTTP/2 keepalive (PING every `interval`, dead after `timeout` unanswered);
    /// the defaults notice a dead link within 40 s. Tests shorten them.
    pub fn with_keepalive(mut self, interval: Duration, timeout: Duration) -> Connector {
        self.endpoint = self
            .endpoint
            .http2_keep_alive_interval(interval)
            .keep_alive_timeout(timeout);
        self
    }

    /// Who our certificate says we are.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// Checks that the certificate is a probe certificate for `site`; the error says what to fix.
    pub fn check_identity(&self, site: &str) -> Result<(), IdentityError> {
        if self.identity.role != Role::Probe {
            return Err(IdentityError::NotProbe {
                role: self.identity.role,
                site: site.to_string(),
            });
        }
        if self.identity.name != site {
            return Err(IdentityError::OtherSite {
                certificate: self.identity.name.clone(),
                site: site.to_string(),
            });
        }
        Ok(())
    }

    /// Connects (TCP, TLS and HTTP/2 handshakes, all bounded by the connect timeout).
    pub async fn connect(&self) -> Result<IngestClient<Channel>, ConnectError> {
        let timeout = || ConnectError::Timeout {
            addr: self.addr.clone(),
            timeout: vigia::units::duration::format(&self.connect_timeout),
        };
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let channel = match tokio::time::timeout_at(deadline, self.endpoint.connect()).await {
            Err(_) => return Err(timeout()),
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => {
                let failure = match classify(&e) {
                    Failure::Other if self.host_is_name => {
                        // hyper reports a failed lookup only as text: ask the resolver again.
                        match tokio::time::timeout_at(deadline, self.resolves()).await {
                            Ok(false) => Failure::NameNotResolved,
                            _ => Failure::Other,
                        }
                    }
                    f => f,
                };
                return Err(ConnectError::Failed {
                    failure,
                    addr: self.addr.clone(),
                    source: e,
                });
            }
        };
        Ok(IngestClient::new(channel).max_decoding_message_size(MAX_DECODING))
    }

    /// Whether the collector's host name resolves to any address.
    async fn resolves(&self) -> bool {
        tokio::net::lookup_host(self.addr.as_str())
            .await
            .is_ok_and(|mut a| a.next().is_some())
    }

    /// A failed RPC (the call or the stream) as one line with a hint.
    pub fn explain_status(&self, status: &tonic::Status) -> String {
        explain_status(status, &self.addr)
    }
}

/// Why this probe's certificate will not be accepted for its site: typed, so the caller can
/// decide what is fatal (the daemon only warns: the collector is the judge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The certificate is of another role (a reader's, the collector's).
    #[error("the certificate is a {role} certificate, not a probe certificate; issue one with `vigia-collector ca issue probe {site}`")]
    NotProbe {
        /// The role the certificate carries.
        role: Role,
        /// The site this probe is configured as.
        site: String,
    },
    /// A probe certificate, for another site.
    #[error("the certificate is for site {certificate:?} but this probe is configured as site {site:?}; the collector will refuse its statuses")]
    OtherSite {
        /// The site the certificate names.
        certificate: String,
        /// The site this probe is configured as.
        site: String,
    },
}

/// Why a connection attempt failed: typed, so the daemon's log line (and a test) can tell a
/// collector that is away from one that refuses this probe.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No connection within `collector.connect_timeout`.
    #[error("collector unreachable at {addr}: no connection within {timeout} (is the host up, a firewall in between?)")]
    Timeout {
        /// `host:port` of the collector.
        addr: String,
        /// The connect timeout, as configured.
        timeout: String,
    },
    /// The attempt failed; `failure` is what the error's type says it was.
    #[error("{}: {}", .failure.hint(.addr), error_chain(.source))]
    Failed {
        /// What kind of failure.
        failure: Failure,
        /// `host:port` of the collector.
        addr: String,
        /// The error tonic returned.
        source: tonic::transport::Error,
    },
}

impl ConnectError {
    /// What kind of failure this was.
    pub fn failure(&self) -> Failure {
        match self {
            ConnectError::Timeout { .. } => Failure::TimedOut,
            ConnectError::Failed { failure, .. } => *failure,
        }
    }
}

/// What a connection or stream failure was, told by the types in its error chain (never by
/// searching the text: an OS or library rewording must not turn "the collector is down" into
/// "your certificate was refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing accepts connections there (refused, no route): the collector is not running.
    NotListening,
    /// No answer in time (connect timeout, or keepalive pings unanswered).
    TimedOut,
    /// An established connection was cut (reset, closed, end of stream): the collector stopped
    /// or restarted, or the network dropped the link.
    ConnectionLost,
    /// The collector's host name does not resolve.
    NameNotResolved,
    /// The collector's certificate is not issued by the fleet CA this probe trusts.
    ServerUntrusted,
    /// The collector's certificate does not name the host in the URL.
    ServerWrongName,
    /// The collector's certificate has expired or is not valid yet (or this clock is wrong).
    ServerExpired,
    /// The collector's certificate is revoked.
    ServerRevoked,
    /// The collector refused this probe's certificate during the handshake (its alert says so).
    ClientRefused,
    /// The TLS session failed just after the handshake, as the error's kind says (h2 keeps
    /// only the kind of an I/O error, not rustls' verdict). Under TLS 1.3 this is how a
    /// collector refusing this probe's certificate shows: the client finishes its handshake
    /// first and reads the collector's alert only on its first request.
    TlsSession,
    /// The TLS handshake failed for another reason.
    Tls,
    /// None of the above.
    Other,
}

impl Failure {
    /// The sentence for the person reading the log; `addr` is the collector's `host:port`.
    pub fn hint(&self, addr: &str) -> String {
        match self {
            Failure::NotListening => format!(
                "collector unreachable: nothing accepts connections at {addr} (is vigia-collector running, on that port?)"
            ),
            Failure::TimedOut => format!(
                "collector unreachable at {addr}: no answer in time (is the host up, a firewall in between?)"
            ),
            Failure::ConnectionLost => format!(
                "the connection to the collector at {addr} was cut (the collector stopped or restarted, or the network dropped it)"
            ),
            Failure::NameNotResolved => {
                format!("the collector's host name does not resolve ({addr}): check `collector.url` and DNS")
            }
            Failure::ServerUntrusted => format!(
                "the collector at {addr} presents a certificate not issued by the fleet CA: check `collector.ca` is the fleet CA's certificate"
            ),
            Failure::ServerWrongName => format!(
                "the collector's certificate does not name the host in `collector.url` ({addr}): set `collector.server_name` to a name it lists, or use that name in the URL"
            ),
            Failure::ServerExpired => format!(
                "the collector's certificate at {addr} is expired or not valid yet: renew it (`vigia-collector ca issue server`), or check this machine's clock"
            ),
            Failure::ServerRevoked => {
                format!("the collector's certificate at {addr} is revoked: issue it a new one")
            }
            Failure::ClientRefused => format!(
                "the collector at {addr} refused this probe's certificate (issued by another CA, expired, or revoked?): check `collector.cert` and `collector.key`"
            ),
            Failure::TlsSession => format!(
                "the collector at {addr} ended the TLS session right after the handshake, as it does when it refuses this probe's certificate (issued by another CA, expired, or revoked?): check `collector.cert` and `collector.key`"
            ),
            Failure::Tls => format!("the TLS handshake with the collector at {addr} failed"),
            Failure::Other => format!("cannot reach the collector at {addr}"),
        }
    }
}

/// Classifies an error by the types along its source chain: rustls' verdicts first (tokio-rustls
/// wraps them in an `io::Error`, whose `source()` skips them, so each `io::Error`'s payload is
/// looked at too), then hyper's and the OS's.
pub fn classify(e: &(dyn std::error::Error + 'static)) -> Failure {
    let mut found = Failure::Other;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            // The most specific verdict there is: stop here.
            return classify_tls(tls);
        }
        let this = if let Some(io) = err.downcast_ref::<std::io::Error>() {
            classify_io(io.kind())
        } else if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                Failure::TimedOut
            } else if h.is_closed() || h.is_incomplete_message() || h.is_canceled() {
                Failure::ConnectionLost
            } else {
                Failure::Other
            }
        } else if let Some(h) = err.downcast_ref::<h2::Error>() {
            match h.get_io().map(std::io::Error::kind) {
                Some(kind) => classify_io(kind),
                // The collector said goodbye (GOAWAY): stopping or restarting.
                None if h.is_go_away() && h.is_remote() => Failure::ConnectionLost,
                None => Failure::Other,
            }
        } else if err.is::<tonic::TimeoutExpired>() {
            Failure::TimedOut
        } else {
            Failure::Other
        };
        // The deepest known cause wins (an OS error beneath hyper's "connection closed").
        if this != Failure::Other {
            found = this;
        }
        cur = err.source();
    }
    found
}

fn classify_io(kind: std::io::ErrorKind) -> Failure {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused | K::AddrNotAvailable | K::NotConnected => Failure::NotListening,
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => Failure::NotListening,
        K::TimedOut => Failure::TimedOut,
        // tokio-rustls reports TLS failures as InvalidData; a rustls verdict still attached was
        // recognised before this, so this is one whose type h2/hyper stringified on the way up.
        K::InvalidData => Failure::TlsSession,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Failure::ConnectionLost
        }
        _ => Failure::Other,
    }
}

fn classify_tls(e: &rustls::Error) -> Failure {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature | C::BadEncoding => Failure::ServerUntrusted,
            C::NotValidForName | C::NotValidForNameContext { .. } => Failure::ServerWrongName,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => Failure::ServerExpired,
            C::Revoked => Failure::ServerRevoked,
            _ => Failure::Tls,
        },
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::CertificateRequired,
        ) => Failure::ClientRefused,
        _ => Failure::Tls,
    }
}

/// A failed RPC as one line with a hint; `addr` is the collector's `host:port`.
pub fn explain_status(status: &tonic::Status, addr: &str) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(src) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(src));
    }
    let hint = match status.code() {
        tonic::Code::PermissionDenied => "the collector refused this probe's statuses: is the site retired, or the certificate issued for another site? (`collector.cert`)".to_string(),
        tonic::Code::Unauthenticated => "the collector did not accept this probe's identity: is `collector.cert` a probe certificate issued by the fleet CA?".to_string(),
        tonic::Code::ResourceExhausted => {
            "the collector is limiting this probe (rate or size limit); it retries later".to_string()
        }
        tonic::Code::InvalidArgument => {
            "the collector refused a status as invalid".to_string()
        }
        tonic::Code::Unimplemented => format!(
            "{addr} does not offer Vigia's Ingest service: is `collector.url` a vigia-collector of a compatible version?"
        ),
        _ => {
            // Transport trouble reaches the stream as Unavailable/Unknown/Cancelled with the
            // cause as the source; the collector's own Unavailable (shutting down) has none.
            let failure = std::error::Error::source(status).map_or(Failure::Other, classify);
            match (failure, status.code()) {
                (Failure::Other, tonic::Code::Unavailable) => format!(
                    "the collector at {addr} is unavailable (stopping or restarting?)"
                ),
                (Failure::Other, _) => return text,
                (f, _) => f.hint(addr),
            }
        }
    };
    format!("{hint} ({text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(role: Role, name: &str) -> Connector {
        Connector {
            endpoint: Endpoint::from_static("https://localhost:1"),
            connect_timeout: Duration::from_secs(1),
            identity: PeerIdentity {
                role,
                name: name.into(),
            },
            addr: "localhost:1".into(),
            host_is_name: true,
        }
    }

    #[test]
    fn a_certificate_for_another_role_or_site_is_told_by_type() {
        assert_eq!(
            connector(Role::Probe, "loja-1").check_identity("loja-1"),
            Ok(())
        );
        let e = connector(Role::Reader, "ops")
            .check_identity("loja-1")
            .expect_err("a reader certificate");
        assert!(
            matches!(
                e,
                IdentityError::NotProbe {
                    role: Role::Reader,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("ca issue probe loja-1"), "{e}");
        let e = connector(Role::Probe, "loja-2")
            .check_identity("loja-1")
            .expect_err("another site");
        assert_eq!(
            e,
            IdentityError::OtherSite {
                certificate: "loja-2".into(),
                site: "loja-1".into()
            }
        );
        assert!(e.to_string().contains("refuse its statuses"), "{e}");
    }
    use std::io::{Error as IoError, ErrorKind};

    /// An error as tokio-rustls hands it up: a rustls verdict inside an `io::Error`, inside
    /// another error (hyper, tonic) whose source it is.
    #[derive(Debug)]
    struct Wrapper(IoError);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("transport error")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn tls(e: rustls::Error) -> Failure {
        classify(&Wrapper(IoError::new(ErrorKind::InvalidData, e)))
    }

    #[test]
    fn rustls_verdicts_are_told_apart() {
        use rustls::{AlertDescription as A, CertificateError as C};
        let inv = rustls::Error::InvalidCertificate;
        assert_eq!(tls(inv(C::UnknownIssuer)), Failure::ServerUntrusted);
        assert_eq!(tls(inv(C::NotValidForName)), Failure::ServerWrongName);
        assert_eq!(tls(inv(C::Expired)), Failure::ServerExpired);
        assert_eq!(tls(inv(C::Revoked)), Failure::ServerRevoked);
        for alert in [
            A::BadCertificate,
            A::CertificateRevoked,
            A::CertificateExpired,
            A::UnknownCA,
            A::CertificateRequired,
        ] {
            assert_eq!(
                tls(rustls::Error::AlertReceived(alert)),
                Failure::ClientRefused,
                "{alert:?}"
            );
        }
        assert_eq!(
            tls(rustls::Error::AlertReceived(A::HandshakeFailure)),
            Failure::Tls
        );
    }

    #[test]
    fn a_collector_that_went_away_is_never_a_certificate_refusal() {
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
        ] {
            let f = classify(&Wrapper(IoError::new(kind, "tls handshake eof")));
            assert_eq!(f, Failure::ConnectionLost, "{kind:?}");
            assert!(!f.hint("h:1").contains("certificate"), "{kind:?}");
        }
        assert_eq!(
            classify(&Wrapper(IoError::from(ErrorKind::ConnectionRefused))),
            Failure::NotListening
        );
        assert_eq!(
            classify(&Wrapper(IoError::from(ErrorKind::TimedOut))),
            Failure::TimedOut
        );
        // Words in the text do not count: only types.
        assert_eq!(
            classify(&Wrapper(IoError::other("bad certificate alert"))),
            Failure::Other
        );
    }

    #[test]
    fn rpc_refusals_get_their_own_hint() {
        let denied = tonic::Status::permission_denied("site \"a\" is retired");
        let e = explain_status(&denied, "h:1");
        assert!(
            e.contains("PermissionDenied") && e.contains("retired") && e.contains("another site"),
            "{e}"
        );
        let e = explain_status(&tonic::Status::unauthenticated("no certificate"), "h:1");
        assert!(e.contains("fleet CA"), "{e}");
        let e = explain_status(&tonic::Status::unavailable("shutting down"), "h:1");
        assert!(
            e.contains("unavailable") && !e.contains("certificate"),
            "{e}"
        );
        assert_eq!(
            explain_status(&tonic::Status::internal("boom"), "h:1"),
            "Internal: boom"
        );
    }
}
