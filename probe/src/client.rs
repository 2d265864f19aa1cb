//! The probe's side of the mTLS gRPC connection to the collector: a tonic channel over rustls
//! presenting this site's certificate and trusting only the fleet CA, with HTTP/2 keepalive so
//! a silently dead link (a NAT that forgot us, a collector host that lost power) is noticed
//! within a minute instead of whenever the kernel's TCP timers give up. Also turns the errors a
//! connection attempt meets into one sentence an installer at a client site can act on.

use crate::config::CollectorSection;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
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
    Url(String),
}

/// Opens connections to the collector; built once from `[collector]`.
#[derive(Debug, Clone)]
pub struct Connector {
    endpoint: Endpoint,
    connect_timeout: Duration,
    identity: PeerIdentity,
}

impl Connector {
    /// Loads and checks the TLS files and prepares the endpoint (does not connect).
    pub fn new(section: &CollectorSection) -> Result<Connector, ClientError> {
        let tls = TlsMaterial::load(&section.ca, &section.cert, &section.key)?;
        let url = section.url.trim();
        if !url.starts_with("https://") {
            return Err(ClientError::Url(format!(
                "{url:?} must start with https:// (the collector speaks only TLS)"
            )));
        }
        let mut tls_config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .assume_http2(true);
        if let Some(name) = section.server_name.as_deref().filter(|n| !n.is_empty()) {
            tls_config = tls_config.domain_name(name);
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| ClientError::Url(format!("{url:?}: {e}")))?
            .tls_config(tls_config)
            .map_err(|e| ClientError::Url(format!("{url:?}: {}", error_chain(&e))))?
            .connect_timeout(section.connect_timeout)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        Ok(Connector {
            endpoint,
            connect_timeout: section.connect_timeout,
            identity: tls.identity,
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

    /// Checks that the certificate is a probe certificate for `site`; the message says what to fix.
    pub fn check_identity(&self, site: &str) -> Result<(), String> {
        if self.identity.role != Role::Probe {
            return Err(format!(
                "the certificate is a {} certificate, not a probe certificate; issue one with `vigia-collector ca issue probe {site}`",
                self.identity.role
            ));
        }
        if self.identity.name != site {
            return Err(format!(
                "the certificate is for site {:?} but this probe is configured as site {site:?}; the collector will refuse its statuses",
                self.identity.name
            ));
        }
        Ok(())
    }

    /// Connects (TCP, TLS and HTTP/2 handshakes, all bounded by the connect timeout).
    pub async fn connect(&self) -> Result<IngestClient<Channel>, String> {
        let channel = tokio::time::timeout(self.connect_timeout, self.endpoint.connect())
            .await
            .map_err(|_| {
                format!(
                    "no connection within {} (collector unreachable?)",
                    vigia::config::duration::format(&self.connect_timeout)
                )
            })?
            .map_err(|e| explain(&error_chain(&e)))?;
        Ok(IngestClient::new(channel).max_decoding_message_size(MAX_DECODING))
    }
}

/// A failed RPC as one line with a hint.
pub fn explain_status(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(src) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(src));
    }
    match status.code() {
        tonic::Code::PermissionDenied => format!(
            "the collector refused this probe's statuses ({text}); is the certificate issued for this site?"
        ),
        tonic::Code::Unauthenticated => format!(
            "the collector refused this probe's certificate ({text}); is it issued by the fleet CA?"
        ),
        _ => explain(&text),
    }
}

/// Adds what the person reading the log should check, for the failures we recognise.
pub fn explain(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("connection refused") {
        "collector unreachable: nothing listens at that address (is it running?)"
    } else if lower.contains("timed out") || lower.contains("deadline") {
        "collector unreachable: no answer in time"
    } else if lower.contains("broken pipe")
        || lower.contains("connection reset")
        || lower.contains("keep-alive")
        || lower.contains("keepalive")
    {
        "the connection to the collector died (reset, or keepalive pings unanswered)"
    } else if lower.contains("invalid peer certificate")
        || lower.contains("certificate not valid for name")
        || lower.contains("notvalidforname")
        || lower.contains("unknownissuer")
    {
        "the collector's certificate is not trusted: check `collector.ca` is the fleet CA, and `collector.server_name` when the URL is an IP address"
    } else if lower.contains("alert")
        || lower.contains("certificate")
        || lower.contains("handshake")
        || lower.contains("tls")
    {
        "the TLS handshake failed: the collector probably refused this probe's certificate (issued by another CA, expired, or revoked?)"
    } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
        "the collector's host name does not resolve"
    } else {
        return text.to_string();
    };
    format!("{hint} ({text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_failures_get_a_hint() {
        assert!(
            explain("tcp connect error: Connection refused (os error 111)")
                .starts_with("collector unreachable")
        );
        assert!(explain("invalid peer certificate: UnknownIssuer").contains("`collector.ca`"));
        assert!(explain("received fatal alert: UnknownCA").contains("refused this probe"));
        assert_eq!(explain("something else"), "something else");
        assert!(explain("stream closed because of a broken pipe").contains("died"));
        let s = tonic::Status::permission_denied("site \"b\" may not report for \"a\"");
        let e = explain_status(&s);
        assert!(
            e.contains("PermissionDenied") && e.contains("for this site"),
            "{e}"
        );
    }
}
