//! The collector's front door: accepts TCP connections, does each TLS handshake in its own
//! task under a timeout, and hands finished connections to tonic. Bounded under abuse:
//!
//! - at most `[limits] max_connections` connections are open or handshaking; when that many
//!   are, the loop stops accepting and new ones wait in the kernel's backlog (no CPU spent);
//! - a connection that does not finish its handshake within `[limits] handshake_timeout` is
//!   closed, so idle sockets hold a slot for at most that long;
//! - accept errors (EMFILE, ENFILE, ENOBUFS…) back off from 10 ms to 1 s instead of spinning;
//! - every refused handshake is logged at INFO with its reason and peer, rate-limited, and
//!   counted in `/metrics`.
//!
//! The TLS configuration is read from a [`TlsSlot`] for each handshake, so a reload applies
//! to the next connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::log_throttle::{Admit, LogThrottle};
use crate::metrics::Metrics;
use crate::tls_reload::TlsSlot;

/// First pause after a failed accept; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause after failed accepts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Refused handshakes logged in full per window; the rest are counted.
const REFUSALS_PER_WINDOW: u32 = 20;
/// The rate-limiting window of every log line a peer can cause.
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// The limits the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits {
    /// Connections open or handshaking at once.
    pub max_connections: usize,
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
}

/// A TLS connection handed to tonic. It holds its connection slot, released when tonic drops
/// the connection, and counts itself in the open-connections gauge.
pub struct Conn {
    inner: TlsStream<TcpStream>,
    revocation: RevocationCheck,
    _slot: OwnedSemaphorePermit,
    _open: OpenGuard,
}

/// Closes a connection whose certificate a reload revoked: a stolen probe key must not keep
/// streaming on the connection it opened before `ca revoke`. Checked on each read, but only
/// when a reload happened since the last check (one atomic load otherwise); HTTP/2 keepalive
/// pings make an idle connection read too.
struct RevocationCheck {
    tls: Arc<TlsSlot>,
    serial: Option<String>,
    generation: u64,
    peer: SocketAddr,
}

impl RevocationCheck {
    fn revoked(&mut self) -> bool {
        let g = self.tls.generation();
        if g == self.generation {
            return false;
        }
        self.generation = g;
        match &self.serial {
            Some(serial) if self.tls.is_revoked(serial) => {
                tracing::info!(peer = %self.peer, serial, "closing a connection: its certificate was revoked");
                true
            }
            _ => false,
        }
    }
}

struct OpenGuard(Arc<Metrics>);

impl OpenGuard {
    fn new(metrics: Arc<Metrics>) -> OpenGuard {
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(metrics)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.revocation.revoked() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the client certificate was revoked",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Connected for Conn {
    // The same connect info as tonic's own TLS, so `Request::peer_certs()` and
    // `remote_addr()` work unchanged in the services.
    type ConnectInfo = <TlsStream<TcpStream> as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// A short, stable name for why a handshake failed (the `/metrics` label and the log's
/// `reason`), from the error's type, never its text.
pub fn refusal_reason(e: &io::Error) -> &'static str {
    use rustls::{CertificateError as C, Error as R};
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<R>()) else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => "closed",
            io::ErrorKind::InvalidData => "not_tls",
            _ => "io_error",
        };
    };
    match tls {
        R::NoCertificatesPresented => "no_certificate",
        R::InvalidCertificate(c) => match c {
            C::Revoked => "revoked",
            C::UnknownIssuer => "unknown_issuer",
            C::Expired | C::ExpiredContext { .. } => "expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "not_yet_valid",
            C::UnknownRevocationStatus => "unknown_revocation_status",
            C::BadSignature => "bad_signature",
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "wrong_purpose",
            _ => "bad_certificate",
        },
        R::InvalidMessage(_)
        | R::InappropriateMessage { .. }
        | R::InappropriateHandshakeMessage { .. } => "not_tls",
        R::PeerIncompatible(_) | R::NoApplicationProtocol => "incompatible",
        // The client refused us (it does not trust our certificate, or gave up).
        R::AlertReceived(_) => "client_alert",
        _ => "tls_error",
    }
}

/// Every reason [`refusal_reason`] gives, plus `timeout` (for `/metrics`).
pub const REFUSAL_REASONS: [&str; 16] = [
    "no_certificate",
    "revoked",
    "unknown_issuer",
    "expired",
    "not_yet_valid",
    "unknown_revocation_status",
    "bad_signature",
    "wrong_purpose",
    "bad_certificate",
    "not_tls",
    "incompatible",
    "client_alert",
    "tls_error",
    "closed",
    "io_error",
    "timeout",
];

struct Shared {
    tls: Arc<TlsSlot>,
    limits: AcceptLimits,
    metrics: Arc<Metrics>,
    refusals: LogThrottle,
    tx: mpsc::Sender<Result<Conn, io::Error>>,
}

impl Shared {
    fn refused(&self, peer: SocketAddr, reason: &'static str, error: &dyn std::fmt::Display) {
        self.metrics.handshake_refused(reason);
        match self.refusals.admit() {
            Admit::Log { suppressed } => {
                if suppressed > 0 {
                    tracing::info!(
                        suppressed,
                        window_s = LOG_WINDOW.as_secs(),
                        "more TLS handshakes were refused than logged"
                    );
                }
                tracing::info!(%peer, reason, error = %error, "refused a TLS handshake");
            }
            Admit::Suppress => {}
        }
    }
}

/// Starts accepting on `listener`; the returned stream yields handshaken connections for
/// `Server::serve_with_incoming_shutdown`, and ends once `stop` is set.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<TlsSlot>,
    limits: AcceptLimits,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> ReceiverStream<Result<Conn, io::Error>> {
    // Handshakes finish at their own pace; a few waiting for tonic to take them is enough.
    let (tx, rx) = mpsc::channel(64);
    let shared = Arc::new(Shared {
        tls,
        limits,
        metrics,
        refusals: LogThrottle::new(LOG_WINDOW, REFUSALS_PER_WINDOW),
        tx,
    });
    tokio::spawn(accept_loop(listener, shared, stop));
    ReceiverStream::new(rx)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let full_log = LogThrottle::new(LOG_WINDOW, 1);
    let error_log = LogThrottle::new(LOG_WINDOW, 5);
    let mut backoff = Duration::ZERO;
    loop {
        if slots.available_permits() == 0 {
            if let Admit::Log { .. } = full_log.admit() {
                tracing::warn!(
                    max_connections = shared.limits.max_connections,
                    "connection limit reached; new connections wait until one closes ([limits] max_connections)"
                );
            }
        }
        // Wait for a free slot before accepting: while full, connections queue in the backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            _ = crate::shutdown::stopped(&mut stop) => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = crate::shutdown::stopped(&mut stop) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::ZERO;
                a
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                if let Admit::Log { suppressed } = error_log.admit() {
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        suppressed,
                        "accepting a connection failed (out of file descriptors?); backing off"
                    );
                }
                drop(slot);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = crate::shutdown::stopped(&mut stop) => return,
                }
                continue;
            }
        };
        // Without Nagle: acks are small and must not wait for more data.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(handshake(shared.clone(), tcp, peer, slot));
    }
}

async fn handshake(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
) {
    // The generation before the configuration: a reload in between is checked once more.
    let generation = shared.tls.generation();
    let acceptor = TlsAcceptor::from(shared.tls.current());
    match tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            let serial = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|leaf| x509_parser::parse_x509_certificate(leaf).ok())
                .map(|(_, c)| crate::revocation::serial_hex(c.raw_serial()));
            let conn = Conn {
                revocation: RevocationCheck {
                    tls: shared.tls.clone(),
                    serial,
                    generation,
                    peer,
                },
                inner: tls,
                _slot: slot,
                _open: OpenGuard::new(shared.metrics.clone()),
            };
            // Err: the server is stopping; the connection is dropped with its slot.
            let _ = shared.tx.send(Ok(conn)).await;
        }
        Ok(Err(e)) => shared.refused(peer, refusal_reason(&e), &e),
        Err(_) => shared.refused(
            peer,
            "timeout",
            &format_args!(
                "no TLS handshake within {:?} ([limits] handshake_timeout)",
                shared.limits.handshake_timeout
            ),
        ),
    }
}
