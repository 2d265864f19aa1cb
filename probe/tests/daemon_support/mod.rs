//! Helpers for the daemon's acceptance tests: a site folder with a small intelbras recording
//! tree and a `probe.toml` pointing at a test collector, a probe daemon running in the test's
//! runtime, a TCP proxy that counts connections and can swallow the collector's answers, log
//! capture, and reading back what the collector stored.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigia::config::ConfigSource;
use vigia::pb::{HistoryRequest, RecordingStatus};
use vigia_collector::testkit::{CertPaths, TestCollector, TestFleet};
use vigia_probe::config::ProbeConfig;
use vigia_probe::daemon::{scanner_source, Daemon, DaemonError, Stats};

/// The site every test probe reports for.
pub const SITE: &str = "loja-1";
/// Upper bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A temporary site: certificates, a recording tree, the spool, and the collector's store.
pub struct SiteDir {
    pub dir: tempfile::TempDir,
    pub fleet: TestFleet,
}

impl SiteDir {
    pub fn new() -> SiteDir {
        vigia::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        let fleet = TestFleet::new(&certs).expect("test fleet");
        // A few files in the intelbras layout: <year>/<month>/<day>/<file>.
        for (day, file) in [("26", "00.dav"), ("27", "00.dav"), ("27", "01.dav")] {
            let p = dir.path().join(format!("rec/2026/11/{day}/{file}"));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"recording").expect("write");
        }
        SiteDir { dir, fleet }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("collector-data")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.path("spool")
    }

    pub fn probe_certs(&self) -> CertPaths {
        self.fleet.probe(SITE).expect("probe cert")
    }

    /// Writes `probe.toml` and loads it as the binary would.
    #[track_caller]
    pub fn config(&self, url: &str, certs: &CertPaths, opts: &Opts) -> ProbeConfig {
        let p = self.config_file(url, certs, opts);
        ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![])).expect("valid config")
    }

    /// Writes `probe.toml` and returns its path.
    pub fn config_file(&self, url: &str, certs: &CertPaths, opts: &Opts) -> PathBuf {
        let lit = |p: &Path| format!("'{}'", p.display());
        let toml = format!(
            "site = \"{SITE}\"\ntimezone = \"America/Sao_Paulo\"\n\n\
             [[recorder]]\nid = \"nvr1\"\ntechnology = \"intelbras\"\npath = {}\n\n\
             [collector]\nurl = \"{url}\"\nca = {}\ncert = {}\nkey = {}\n\
             connect_timeout = \"2s\"\n{}\n\
             [schedule]\nevery = \"{}\"\n\n\
             [spool]\ndir = 'spool'\nmax_entries = {}\n",
            lit(&self.path("rec")),
            lit(&certs.ca),
            lit(&certs.cert),
            lit(&certs.key),
            // Empty: the default, as a user who never set it has it.
            if opts.backoff_max.is_empty() {
                String::new()
            } else {
                format!("backoff_max = \"{}\"\n", opts.backoff_max)
            },
            opts.every,
            opts.max_entries,
        );
        let p = self.path("probe.toml");
        std::fs::write(&p, toml).expect("write probe.toml");
        p
    }

    pub async fn start_collector(&self) -> TestCollector {
        TestCollector::start(&self.fleet, &self.data_dir(), |_| {})
            .await
            .expect("collector starts")
    }

    pub async fn start_collector_on(&self, addr: SocketAddr) -> TestCollector {
        TestCollector::start_on(&self.fleet, &self.data_dir(), addr, |_| {})
            .await
            .expect("collector starts")
    }
}

/// The knobs the tests turn in `probe.toml`.
pub struct Opts {
    /// `collector.backoff_max`; empty leaves it out (the default).
    pub backoff_max: &'static str,
    pub every: &'static str,
    pub max_entries: usize,
}

impl Default for Opts {
    /// Scan every 200 ms, reconnect within 400 ms, the default spool bound.
    fn default() -> Opts {
        Opts {
            backoff_max: "400ms",
            every: "200ms",
            max_entries: 10_000,
        }
    }
}

/// `https://localhost:PORT` for an address (the server certificate names localhost).
pub fn url_of(addr: SocketAddr) -> String {
    format!("https://localhost:{}", addr.port())
}

/// A probe daemon running in the test's runtime.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
    pub stats: Arc<Stats>,
}

impl Running {
    /// Starts `run` with the real scanner; `drain` bounds the wait for acks when stopping.
    pub fn start(config: &ProbeConfig, drain: Duration) -> Running {
        let daemon = Daemon::new(config)
            .expect("daemon starts")
            .with_drain_timeout(drain);
        let stats = daemon.stats();
        let source = scanner_source(config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(source, async move {
            let _ = rx.await;
        }));
        Running {
            stop: tx,
            task,
            stats,
        }
    }

    /// Stops (like SIGTERM) and waits, bounded, for a clean end.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("daemon stops in time")
            .expect("daemon task")
            .expect("daemon ends without error");
    }
}

/// Polls `cond` every 20 ms until it holds; fails the test after `WAIT`, saying what was awaited.
#[track_caller]
pub fn wait_until<'a>(
    what: &'a str,
    mut cond: impl FnMut() -> bool + 'a,
) -> impl std::future::Future<Output = ()> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what} (at {caller})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every status the collector stored for the site, oldest first (read through Query/History
/// with a reader certificate).
pub async fn stored(collector: &TestCollector, fleet: &TestFleet) -> Vec<RecordingStatus> {
    let mut query = collector
        .query_client(fleet, "ops")
        .await
        .expect("query client");
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = tokio::time::timeout(
            WAIT,
            query.history(HistoryRequest {
                site: SITE.into(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            }),
        )
        .await
        .expect("history in time")
        .expect("history")
        .into_inner();
        out.extend(page.entries.into_iter().filter_map(|e| e.status));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    out.reverse();
    out
}

/// Checks the stored statuses are one spool's sequences `1..=n`, each once, in arrival order.
#[track_caller]
pub fn assert_contiguous_once(stored: &[RecordingStatus], n: u64) {
    let seqs: Vec<u64> = stored.iter().map(|s| s.sequence).collect();
    let expected: Vec<u64> = (1..=n).collect();
    assert_eq!(
        seqs, expected,
        "stored sequences, in arrival order (gaps = lost, repeats = stored twice)"
    );
    let ids: std::collections::HashSet<&str> = stored.iter().map(|s| s.spool_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one spool id: {ids:?}");
}

/// A TCP proxy in front of a collector: counts the connections it accepts and can stop passing
/// the collector's bytes back (the probe's statuses still arrive, its acknowledgements do not).
pub struct Proxy {
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    swallow: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        Proxy::start_on([127, 0, 0, 1], target).await
    }

    /// A proxy listening on a chosen loopback address.
    pub async fn start_on(ip: [u8; 4], target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let accepted = Arc::new(AtomicU64::new(0));
        let swallow = Arc::new(AtomicBool::new(false));
        let (acc, sw) = (accepted.clone(), swallow.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let sw = sw.clone();
                conns.spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw_) = server.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut cr, &mut sw_).await;
                        let _ = sw_.shutdown().await;
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if !sw.load(Ordering::SeqCst)
                                        && cw.write_all(&buf[..n]).await.is_err()
                                    {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Proxy {
            addr,
            accepted,
            swallow,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// From now on the collector's answers are dropped on the floor.
    pub fn swallow_answers(&self) {
        self.swallow.store(true, Ordering::SeqCst);
    }

    /// Passes the collector's answers again (connections that lost some are beyond repair).
    pub fn pass_answers(&self) {
        self.swallow.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

/// Log lines captured from the current thread (use a current-thread runtime).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures INFO and above on this thread until the guard is dropped.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }

    /// Lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
