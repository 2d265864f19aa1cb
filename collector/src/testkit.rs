//! Test support shared by every crate's integration tests and the end-to-end test: a fleet of
//! certificates minted by the real CA code into a folder, so that no test ever ships a key, and
//! a real collector on a loopback port ([`TestCollector`]) that tests start, stop and restart.

use crate::ca::{self, Ca, Subject, Validity};
use crate::clock::Clock;
use crate::config::CollectorConfig;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Identity};
use vigia::pb::admin_client::AdminClient;
use vigia::pb::query_client::QueryClient;

/// Every wait of the test kit (bind, connect, stop) is bounded by this.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(15);

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

    /// A probe certificate for `site` from a different CA, written as `foreign-SITE.*` (that
    /// CA's certificate as `foreign-SITE-ca.pem`);
    /// it trusts this fleet's CA (so it accepts the server) but will be refused by it.
    pub fn foreign_probe(&self, site: &str) -> Result<CertPaths, ca::CaError> {
        let subject = Subject::Probe {
            site: site.to_string(),
        };
        self.foreign(&subject, &format!("foreign-{site}"))
    }

    /// A reader certificate for `name` from a different CA, written as `foreign-reader-NAME.*`
    /// (that CA's certificate as `foreign-reader-NAME-ca.pem`), refused by the collector.
    pub fn foreign_reader(&self, name: &str) -> Result<CertPaths, ca::CaError> {
        let subject = Subject::Reader {
            name: name.to_string(),
        };
        self.foreign(&subject, &format!("foreign-reader-{name}"))
    }

    fn foreign(&self, subject: &Subject, stem: &str) -> Result<CertPaths, ca::CaError> {
        let other = Ca::generate("foreign", Validity::days(30)?)?;
        let pair = other.issue(subject, Validity::days(30)?)?;
        ca::write_pair(&self.dir, stem, &pair, true)?;
        // The other CA's certificate too, for a party that trusts both CAs (it passes its own
        // checks and is refused only by the collector).
        let ca_path = self.dir.join(format!("{stem}-ca.pem"));
        std::fs::write(&ca_path, other.to_pem_pair().cert_pem).map_err(|e| ca::CaError::Io {
            path: ca_path.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.paths(stem))
    }

    /// A probe certificate for `site` from this fleet's CA that expired ten days ago, written as
    /// `expired-SITE.*`.
    pub fn expired_probe(&self, site: &str) -> Result<CertPaths, ca::CaError> {
        let subject = Subject::Probe {
            site: site.to_string(),
        };
        self.expired(&subject, &format!("expired-{site}"))
    }

    /// A reader certificate for `name` from this fleet's CA that expired ten days ago, written
    /// as `expired-reader-NAME.*`.
    pub fn expired_reader(&self, name: &str) -> Result<CertPaths, ca::CaError> {
        let subject = Subject::Reader {
            name: name.to_string(),
        };
        self.expired(&subject, &format!("expired-reader-{name}"))
    }

    fn expired(&self, subject: &Subject, stem: &str) -> Result<CertPaths, ca::CaError> {
        let now = time::OffsetDateTime::now_utc();
        let pair = self.ca.issue(
            subject,
            Validity {
                not_before: now - time::Duration::days(40),
                not_after: now - time::Duration::days(10),
            },
        )?;
        ca::write_pair(&self.dir, stem, &pair, true)?;
        Ok(self.paths(stem))
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

/// A collector serving a test fleet on a loopback port, with its own store folder.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use vigia_collector::{testkit::{TestCollector, TestFleet}, Clock};
/// let dir = tempfile::tempdir()?;
/// let fleet = TestFleet::new(&dir.path().join("certs"))?;
/// let clock = Clock::manual(chrono::Utc::now());
/// let collector = TestCollector::start_with_clock(&fleet, &dir.path().join("data"), clock.clone(), |c| {
///     c.expected_sites = vec!["loja-1".into()];
/// }).await?;
/// let mut query = collector.query_client(&fleet, "ops").await?;
/// let collector = collector.restart().await?; // same port, same store
/// collector.stop().await;
/// # Ok(()) }
/// ```
pub struct TestCollector {
    /// Where it listens (127.0.0.1 and a port).
    pub addr: SocketAddr,
    /// Its store folder.
    pub data_dir: PathBuf,
    /// Where `/metrics` is served, when `[metrics] listen` is set (port 0 picks a free one).
    pub metrics_addr: Option<SocketAddr>,
    config: CollectorConfig,
    clock: Clock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestCollector {
    /// The configuration a test collector runs with before the test's tweak: the fleet's server
    /// certificate, `data_dir`, a 2 s shutdown grace.
    pub fn config(fleet: &TestFleet, data_dir: &Path) -> CollectorConfig {
        let server = fleet.server();
        let mut config = CollectorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            shutdown_grace: Duration::from_secs(2),
            ..CollectorConfig::default()
        };
        config.tls.ca = server.ca;
        config.tls.cert = server.cert;
        config.tls.key = server.key;
        config
    }

    /// Starts a collector on 127.0.0.1:0 with the fleet's server cert and a config tweak, on
    /// the system clock.
    pub async fn start(
        fleet: &TestFleet,
        data_dir: &Path,
        tweak: impl FnOnce(&mut CollectorConfig),
    ) -> anyhow::Result<TestCollector> {
        Self::start_with_clock(fleet, data_dir, Clock::system(), tweak).await
    }

    /// [`TestCollector::start`] on `clock` (a [`Clock::manual`] the test moves).
    pub async fn start_with_clock(
        fleet: &TestFleet,
        data_dir: &Path,
        clock: Clock,
        tweak: impl FnOnce(&mut CollectorConfig),
    ) -> anyhow::Result<TestCollector> {
        let mut config = Self::config(fleet, data_dir);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("bind 127.0.0.1:0")?;
        Self::spawn(config, clock, listener).await
    }

    /// Starts a collector on a fixed address (e.g. one from [`reserve_addr`]), retrying the
    /// bind for a few seconds while the port is still held by a collector just stopped.
    pub async fn start_on(
        fleet: &TestFleet,
        data_dir: &Path,
        addr: SocketAddr,
        tweak: impl FnOnce(&mut CollectorConfig),
    ) -> anyhow::Result<TestCollector> {
        let mut config = Self::config(fleet, data_dir);
        tweak(&mut config);
        Self::start_with(config, Clock::system(), addr).await
    }

    /// Starts a collector with a complete configuration and clock on `addr` (port 0 for any
    /// free port).
    pub async fn start_with(
        config: CollectorConfig,
        clock: Clock,
        addr: SocketAddr,
    ) -> anyhow::Result<TestCollector> {
        let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%addr, error = %e, "bind failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("bind {addr}")),
            }
        };
        Self::spawn(config, clock, listener).await
    }

    async fn spawn(
        mut config: CollectorConfig,
        clock: Clock,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<TestCollector> {
        let addr = listener.local_addr()?;
        config.listen = addr;
        let data_dir = config.data_dir.clone();
        // Open (certificates, store) before returning, so a start error is the caller's error;
        // a store still locked by a collector just stopped is retried briefly.
        let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
        let collector = loop {
            let (c, k) = (config.clone(), clock.clone());
            match tokio::task::spawn_blocking(move || crate::Collector::open(c, k)).await? {
                Ok(c) => break c,
                Err(crate::StartError::Store(crate::store::StoreError::Locked { .. }))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let metrics_addr = collector.metrics_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(collector.serve(listener, async move {
            let _ = rx.await;
        }));
        Ok(TestCollector {
            addr,
            data_dir,
            metrics_addr,
            config,
            clock,
            shutdown: Some(tx),
            task,
        })
    }

    /// "https://localhost:PORT" (the server certificate names localhost).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The configuration it runs with (after the tweak).
    pub fn running_config(&self) -> &CollectorConfig {
        &self.config
    }

    /// The clock it runs on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Stops gracefully (bounded in time) and waits until the store is closed.
    pub async fn stop(mut self) {
        if let Err(e) = self.shutdown_inner().await {
            tracing::warn!(error = %e, "test collector stopped with an error");
        }
    }

    /// Stops gracefully and returns how the server ended (tests of shutdown itself).
    pub async fn stop_result(mut self) -> anyhow::Result<()> {
        self.shutdown_inner().await
    }

    async fn shutdown_inner(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let grace = self.config.shutdown_grace + TEST_TIMEOUT;
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(anyhow::anyhow!("collector task failed: {e}")),
            Err(_) => {
                self.task.abort();
                Err(anyhow::anyhow!("collector did not stop within {grace:?}"))
            }
        }
    }

    /// Stops, then starts again on the SAME address with the same store and configuration
    /// (clock included): what a probe sees as "the collector restarted".
    pub async fn restart(mut self) -> anyhow::Result<TestCollector> {
        self.shutdown_inner().await?;
        let config = self.config.clone();
        let clock = self.clock.clone();
        let addr = self.addr;
        Self::start_with(config, clock, addr).await
    }

    /// A Query client with a reader certificate named `reader` (issued on the spot).
    pub async fn query_client(
        &self,
        fleet: &TestFleet,
        reader: &str,
    ) -> anyhow::Result<QueryClient<Channel>> {
        let paths = fleet.reader(reader)?;
        Ok(QueryClient::new(self.channel(&paths).await?))
    }

    /// An Admin client with a reader certificate named `reader` (issued on the spot).
    pub async fn admin_client(
        &self,
        fleet: &TestFleet,
        reader: &str,
    ) -> anyhow::Result<AdminClient<Channel>> {
        let paths = fleet.reader(reader)?;
        Ok(AdminClient::new(self.channel(&paths).await?))
    }

    /// A connected channel presenting `paths`' certificate (any role), trusting the fleet CA.
    pub async fn channel(&self, paths: &CertPaths) -> anyhow::Result<Channel> {
        connect(&self.url(), paths).await
    }
}

impl Drop for TestCollector {
    fn drop(&mut self) {
        // A test that forgets stop() must not leave a server running.
        if self.shutdown.is_some() {
            self.task.abort();
        }
    }
}

/// Connects to `url` with mutual TLS from `paths`, bounded by [`TEST_TIMEOUT`].
pub async fn connect(url: &str, paths: &CertPaths) -> anyhow::Result<Channel> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("read {}", p.display()));
    let tls = vigia::tls::client_tls(
        &read(&paths.ca)?,
        Identity::from_pem(read(&paths.cert)?, read(&paths.key)?),
    )
    .domain_name("localhost");
    let endpoint = Channel::from_shared(url.to_string())?
        .tls_config(tls)?
        .connect_timeout(TEST_TIMEOUT);
    tokio::time::timeout(TEST_TIMEOUT, endpoint.connect())
        .await
        .with_context(|| format!("connect {url}: timed out"))?
        .with_context(|| format!("connect {url}"))
}

/// A free loopback address, released at once: for tests where the collector starts after the
/// probe, on an address the probe was configured with. (Use [`TestCollector::start_on`].)
pub fn reserve_addr() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    l.local_addr()
}
