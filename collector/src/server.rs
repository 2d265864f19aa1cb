//! Starting and stopping the collector: certificates and store checked before anything is
//! served, health and reflection beside the three services, and a shutdown that stops
//! accepting, lets streams deliver the acks they earned, flushes, and returns within a bound
//! even when probes keep their streams open.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use vigia::pb;
use vigia::tls::TlsError;

use crate::admin::AdminService;
use crate::clock::Clock;
use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::service::{IngestService, QueryService, Shared, StoreSlot};
use crate::store::{Store, StoreError};
use crate::store_cell::StoreCell;
use crate::writer::Writer;

/// How often history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Extra time, beyond `shutdown_grace`, for the final flush before giving up.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificate files are missing; the message lists them and the commands that make them.
    #[error("{0}")]
    MissingCertificates(String),
    /// The certificate files exist but are unusable.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The CRL file is present but unusable.
    #[error("TLS: {0}")]
    Crl(#[from] crate::tls_reload::CrlError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metrics address cannot be bound.
    #[error("metrics listener {addr}: {source}")]
    Metrics {
        /// `[metrics] listen`.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The server refused its TLS configuration.
    #[error("TLS configuration: {0}")]
    Transport(String),
}

impl From<crate::tls_reload::LoadError> for StartError {
    fn from(e: crate::tls_reload::LoadError) -> Self {
        match e {
            crate::tls_reload::LoadError::Tls(e) => StartError::Tls(e),
            crate::tls_reload::LoadError::Crl(e) => StartError::Crl(e),
        }
    }
}

/// The `vigia-collector ca` commands that create missing certificate files.
pub fn missing_certificates(config: &CollectorConfig) -> Option<String> {
    let tls = &config.tls;
    let missing: Vec<&PathBuf> = [&tls.ca, &tls.cert, &tls.key]
        .into_iter()
        .filter(|p| !p.exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let dir_of = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| ".".to_string(), |d| d.display().to_string())
    };
    let ca_dir = dir_of(&tls.ca);
    let out_dir = dir_of(&tls.cert);
    let mut msg = format!(
        "missing certificate file(s): {}\ncreate them with:\n",
        missing
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !tls.ca.exists() {
        msg.push_str(&format!("  vigia-collector ca init --dir {ca_dir}\n"));
    }
    let mut names = String::from("--dns localhost --ip 127.0.0.1");
    let ip = config.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push_str(&format!(" --ip {ip}"));
    }
    let out = if out_dir == ca_dir {
        String::new()
    } else {
        format!(" --out {out_dir}")
    };
    msg.push_str(&format!(
        "  vigia-collector ca issue --dir {ca_dir}{out} server {names}\n"
    ));
    msg.push_str("(add a --dns or --ip for every name probes use to reach this machine)");
    let expected_names = [
        (&tls.ca, "ca.pem"),
        (&tls.cert, "server.pem"),
        (&tls.key, "server.key"),
    ];
    for (path, made) in expected_names {
        if path.file_name().and_then(|n| n.to_str()) != Some(made) {
            msg.push_str(&format!(
                "\nnote: those commands write {made}; [tls] names {}",
                path.display()
            ));
        }
    }
    Some(msg)
}

/// A collector whose certificates are loaded and whose store is open, ready to serve.
pub struct Collector {
    config: Arc<CollectorConfig>,
    /// The time source for verdicts and arrival times: a constructor argument, not part of
    /// the configuration, so tests can run a manual clock without a field the file never sets.
    clock: Clock,
    tls: crate::tls_reload::LoadedTls,
    tls_snapshot: crate::tls_reload::Snapshot,
    store: Store,
    metrics: Arc<Metrics>,
    metrics_listener: Option<std::net::TcpListener>,
}

impl Collector {
    /// Loads the certificates and opens the store; nothing is bound yet. `clock` is
    /// [`Clock::system`] except in tests.
    pub fn open(config: CollectorConfig, clock: Clock) -> Result<Collector, StartError> {
        if let Some(msg) = missing_certificates(&config) {
            return Err(StartError::MissingCertificates(msg));
        }
        // Read before loading, so a file changed meanwhile is loaded again by the reloader.
        let tls_snapshot = crate::tls_reload::Snapshot::read(&config.tls);
        let tls = crate::tls_reload::load(&config.tls)?;
        // The store first: nothing is bound for a collector that cannot open its store.
        let cache_bytes = config.cache_bytes();
        let store = Store::open_checked(&config.data_dir, cache_bytes, config.store.compression)?;
        tracing::info!(
            cache_mib = cache_bytes >> 20,
            sized_to_store = config.store.cache_capacity.is_none(),
            "store open"
        );
        let metrics_listener = match config.metrics.listen {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| StartError::Metrics { addr, source })?;
                Some(l)
            }
            None => None,
        };
        Ok(Collector {
            config: Arc::new(config),
            clock,
            tls,
            tls_snapshot,
            store,
            metrics: Arc::new(Metrics::default()),
            metrics_listener,
        })
    }

    /// Where `/metrics` is served (the bound address, so port 0 in the config works).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address to bind for gRPC (`listen`), once the store is open.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.config.listen
    }

    /// The open store (read access for tests and tools).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves on `listener` until `shutdown` resolves, then drains within `shutdown_grace`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Collector {
            config,
            clock,
            tls,
            tls_snapshot,
            store,
            metrics,
            metrics_listener,
        } = self;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        // Every reader and the writer take the store from the cell for one operation, so that
        // it can be reopened after a storage fault; no other handle is kept.
        let cell = StoreCell::new(store);
        let writer = Writer::with_cell(cell.clone(), clock.clone(), metrics.clone());
        let shared = Shared {
            config: config.clone(),
            clock: clock.clone(),
            store: StoreSlot::new(cell.clone()),
            writer: writer.clone(),
            metrics: metrics.clone(),
            limiter: Arc::new(RateLimiter::new(&config.ingest)),
            stopping: stop_rx.clone(),
            pages: Arc::default(),
        };

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<pb::ingest_server::IngestServer<IngestService>>()
            .await;
        health
            .set_serving::<pb::query_server::QueryServer<QueryService>>()
            .await;
        health
            .set_serving::<pb::admin_server::AdminServer<AdminService>>()
            .await;
        let store_health = tokio::spawn(report_store_health(
            cell.clone(),
            health.clone(),
            stop_rx.clone(),
        ));
        let recovery = tokio::spawn(cell.clone().recover_loop(stop_rx.clone()));
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        // Decoding stops at twice the configured size; between the two the status is decoded
        // and refused with INVALID_ARGUMENT naming max_message_bytes.
        let decode_limit = config.max_message_bytes.saturating_mul(2);
        let ingest = pb::ingest_server::IngestServer::new(IngestService(shared.clone()))
            .max_decoding_message_size(decode_limit);
        let query = pb::query_server::QueryServer::new(QueryService(shared.clone()))
            .max_decoding_message_size(64 * 1024);
        let admin = pb::admin_server::AdminServer::new(AdminService(shared.clone()))
            .max_decoding_message_size(64 * 1024);

        // Our own accept loop instead of tonic's TLS: the configuration is swapped on reload
        // (CRL, CA, server certificate), and connections and handshakes are bounded.
        crate::tls_reload::log_loaded(&config.tls, &tls, "TLS configuration loaded");
        let tls_slot = Arc::new(crate::tls_reload::TlsSlot::new(tls.config.clone()));
        let tls_reloader = tokio::spawn(crate::tls_reload::reload_loop(
            config.tls.clone(),
            tls_slot.clone(),
            tls_snapshot,
            config.tls.reload_interval,
            stop_rx.clone(),
        ));
        let limits = crate::accept::AcceptLimits {
            max_connections: max_connections(&config),
            handshake_timeout: config.limits.handshake_timeout,
        };
        let incoming =
            crate::accept::incoming(listener, tls_slot, limits, metrics.clone(), stop_rx.clone());

        let mut metrics_task = None;
        if let Some(ml) = metrics_listener {
            let ml = TcpListener::from_std(ml)?;
            tracing::info!(addr = %ml.local_addr()?, "serving /metrics");
            metrics_task = Some(tokio::spawn(crate::exposition::serve(
                ml,
                config.clone(),
                clock.clone(),
                cell.clone(),
                metrics.clone(),
                stop_rx.clone(),
            )));
        }
        let pruner = tokio::spawn(prune_loop(
            cell.clone(),
            config.clone(),
            clock.clone(),
            stop_rx.clone(),
        ));

        let mut stop_signal = stop_rx.clone();
        let server = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .max_concurrent_streams(Some(64))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ingest)
            .add_service(query)
            .add_service(admin)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop_signal.wait_for(|s| *s).await;
            });
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "collector serving");
        vigia::service_manager::ready();
        vigia::service_manager::spawn_watchdog();

        let grace = config.shutdown_grace;
        let health_on_stop = health.clone();
        let stop_on_signal = stop_tx.clone();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing open streams");
            health_on_stop
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            let _ = stop_on_signal.send(true);
        });

        let mut stop_seen = stop_rx.clone();
        tokio::pin!(server);
        let result = tokio::select! {
            r = &mut server => r.map_err(anyhow::Error::from),
            _ = async {
                let _ = stop_seen.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_s = grace.as_secs_f64(), "connections still open after the grace period; closing them");
                Ok(())
            }
        };
        // Also when the server ended on its own: every stream and task stops now.
        let _ = stop_tx.send(true);
        shared.store.close();
        // Streams have been told to stop; whatever they queued is flushed before we return.
        if tokio::time::timeout(FINAL_FLUSH, writer.stop())
            .await
            .is_err()
        {
            tracing::error!("the store writer did not stop in time");
        }
        // The writer's last flush was the final one; the handle is gone with it.
        cell.release();
        store_health.abort();
        recovery.abort();
        watcher.abort();
        tls_reloader.abort();
        pruner.abort();
        if let Some(t) = metrics_task {
            t.abort();
        }
        tracing::info!("collector stopped");
        result
    }
}

/// Health follows the store: Ingest (and the server as a whole, "") is NOT_SERVING while the
/// store cannot write, SERVING again once it can. Query and Admin reads keep answering.
async fn report_store_health(
    cell: Arc<StoreCell>,
    health: tonic_health::server::HealthReporter,
    stop: watch::Receiver<bool>,
) {
    let mut writable = cell.subscribe();
    loop {
        if writable.changed().await.is_err() || *stop.borrow() {
            return;
        }
        let ok = *writable.borrow_and_update();
        if *stop.borrow() {
            return;
        }
        let status = if ok {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        health
            .set_service_status(pb::ingest_server::SERVICE_NAME, status)
            .await;
        health.set_service_status("", status).await;
    }
}

async fn prune_loop(
    cell: Arc<StoreCell>,
    config: Arc<CollectorConfig>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Only while the store writes: pruning a faulted store would only fail.
        if let Ok((s, _)) = cell.for_write() {
            let config = config.clone();
            let now = clock.now();
            let began = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || crate::thin::compact(&s, &config, now, None))
                .await
            {
                Ok(Ok(done)) if done.pruned + done.thinned + done.folded > 0 => tracing::info!(
                    pruned = done.pruned,
                    thinned = done.thinned,
                    folded = done.folded,
                    examined = done.examined,
                    took_ms = began.elapsed().as_millis(),
                    "pruned, thinned and folded old history"
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, "history pruning failed"),
                _ => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}

/// Serves on an already-bound listener until `shutdown` resolves, then drains within a bounded
/// time (`shutdown_grace` plus a final flush). `clock` is [`Clock::system`] except in tests.
pub async fn serve(
    config: CollectorConfig,
    clock: Clock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let collector = tokio::task::spawn_blocking(move || Collector::open(config, clock)).await??;
    collector.serve(listener, shutdown).await
}

/// `[limits] max_connections`, or the default from the file descriptor limit (raised first).
fn max_connections(config: &CollectorConfig) -> usize {
    let soft = crate::fd_limit::raise_nofile_limit();
    let derived = crate::fd_limit::default_max_connections(soft);
    let max = config.limits.max_connections.unwrap_or(derived);
    if max > derived {
        tracing::warn!(
            max_connections = max,
            fd_limit = ?soft,
            "[limits] max_connections is above what the file descriptor limit allows; raise `ulimit -n` (LimitNOFILE=)"
        );
    }
    tracing::info!(
        max_connections = max,
        fd_limit = ?soft,
        handshake_timeout_s = config.limits.handshake_timeout.as_secs_f64(),
        "connection limits"
    );
    max
}
