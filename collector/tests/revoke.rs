//! Revocation that revokes, on a running collector: `ca revoke` and `ca issue --force` write a
//! CRL, and within `[tls] reload_interval` the collector refuses the revoked certificate at
//! the handshake (and closes its open connection) while every other probe and reader keeps
//! working, with no restart. The server's own certificate is reloaded the same way, a broken
//! CRL never replaces a good one, and idle sockets cannot starve real probes of connections.

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::{list_sites, probe_stream, status, STEP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout, Instant};
use vigia_collector::ca::Subject;
use vigia_collector::issuing;
use vigia_collector::testkit::{CertPaths, TestCollector, TestFleet};
use vigia_collector::CollectorConfig;

/// A reload happens within this of a change (reload_interval 1 s plus scheduling slack).
const RELOAD_WITHIN: Duration = Duration::from_secs(6);

/// Log lines of every collector in this test binary (tests assert on their own peers/serials).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().map(|v| v.clone()).unwrap_or_default()).into_owned()
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    fleet: TestFleet,
}

impl Env {
    fn new() -> Env {
        vigia::tls::install_crypto_provider();
        let _ = logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let fleet = TestFleet::new(&root.join("certs")).expect("fleet");
        Env {
            _dir: dir,
            root,
            fleet,
        }
    }

    fn certs(&self) -> PathBuf {
        self.fleet.dir().to_path_buf()
    }

    /// Issues through the CA folder (recorded in issued.toml, as `ca issue` does).
    fn issue_probe(&self, site: &str) -> CertPaths {
        let subject = Subject::Probe { site: site.into() };
        issuing::issue(&self.certs(), &self.certs(), &subject, 30, false).expect("issue");
        self.paths(site)
    }

    fn paths(&self, stem: &str) -> CertPaths {
        CertPaths {
            ca: self.fleet.ca_pem(),
            cert: self.certs().join(format!("{stem}.pem")),
            key: self.certs().join(format!("{stem}.key")),
        }
    }

    /// Copies a pair aside (a re-issue overwrites the files; the old key still exists somewhere).
    fn keep_copy(&self, stem: &str, copy: &str) -> CertPaths {
        for ext in ["pem", "key"] {
            std::fs::copy(
                self.certs().join(format!("{stem}.{ext}")),
                self.certs().join(format!("{copy}.{ext}")),
            )
            .expect("copy pair");
        }
        self.paths(copy)
    }

    async fn collector(&self, tweak: impl FnOnce(&mut CollectorConfig)) -> TestCollector {
        TestCollector::start(&self.fleet, &self.root.join("data"), |c| {
            c.tls.reload_interval = Duration::from_secs(1);
            tweak(c);
        })
        .await
        .expect("start")
    }
}

fn cli(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigia-collector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIA_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vigia-collector")
}

fn cli_ok(args: &[&str]) -> String {
    let out = cli(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
    text
}

/// Connects with `paths`, sends one status and waits for its ack.
async fn report_once(
    c: &TestCollector,
    paths: &CertPaths,
    site: &str,
    seq: u64,
) -> Result<(), tonic::Status> {
    let mut s = probe_stream(c, paths).await?;
    s.send(status(site, "nvr", seq, chrono::Utc::now())).await;
    let ack = s.next().await?;
    assert_eq!(ack.sequence, seq);
    Ok(())
}

/// Waits until a new connection with `paths` is refused; panics if it is still served after
/// [`RELOAD_WITHIN`]. Returns how long it took.
async fn refused_within(
    c: &TestCollector,
    paths: &CertPaths,
    site: &str,
) -> (Duration, tonic::Status) {
    let start = Instant::now();
    let mut seq = 1000;
    loop {
        seq += 1;
        // Served (the reload has not happened yet) or timed out: try again.
        if let Ok(Err(e)) = timeout(STEP, report_once(c, paths, site, seq)).await {
            return (start.elapsed(), e);
        }
        assert!(
            start.elapsed() < RELOAD_WITHIN,
            "{} still served {:?} after the change",
            paths.cert.display(),
            start.elapsed()
        );
        sleep(Duration::from_millis(200)).await;
    }
}

fn assert_handshake_refusal(e: &tonic::Status, what: &str) {
    // The TLS layer refuses: the RPC fails as a transport error, never reaching a handler.
    assert!(
        matches!(e.code(), tonic::Code::Unknown | tonic::Code::Unavailable),
        "{what}: {e:?}"
    );
}

#[tokio::test]
async fn a_revoked_probe_is_refused_at_the_handshake_and_others_keep_working() {
    timeout(Duration::from_secs(90), async {
        let env = Env::new();
        let loja1 = env.issue_probe("loja-1");
        let loja2 = env.issue_probe("loja-2");
        let c = env.collector(|_| {}).await;
        let mut query = c.query_client(&env.fleet, "ops").await.expect("reader");

        // loja-1 reports on a stream that stays open across the revocation.
        let mut open = probe_stream(&c, &loja1).await.expect("loja-1 stream");
        open.send(status("loja-1", "nvr", 1, chrono::Utc::now()))
            .await;
        assert_eq!(open.next().await.expect("ack").sequence, 1);
        report_once(&c, &loja2, "loja-2", 1)
            .await
            .expect("loja-2 before");

        let out = cli_ok(&[
            "ca",
            "revoke",
            "--dir",
            env.certs().to_str().expect("utf-8"),
            "loja-1",
            "--reason",
            "key-compromise",
        ]);
        assert!(
            out.contains("revoked serial") && out.contains("loja-1"),
            "{out}"
        );
        assert!(env.certs().join("crl.pem").exists());

        let (took, e) = refused_within(&c, &loja1, "loja-1").await;
        assert_handshake_refusal(&e, "revoked loja-1");
        eprintln!("revocation in force after {took:?}");

        // The connection opened before the revocation is closed too: its next status is not acked.
        open.send(status("loja-1", "nvr", 2, chrono::Utc::now()))
            .await;
        assert!(
            open.next().await.is_err(),
            "the revoked probe's open stream still acks"
        );

        // Everyone else: unaffected, on new connections and the reader's existing one.
        report_once(&c, &loja2, "loja-2", 2)
            .await
            .expect("loja-2 after");
        let sites = list_sites(&mut query).await;
        assert!(sites.iter().any(|s| s.site == "loja-1"), "{sites:?}");
        let mut fresh = c.query_client(&env.fleet, "ops2").await.expect("reader");
        assert_eq!(list_sites(&mut fresh).await.len(), sites.len());

        // The refusal is logged at INFO with the reason.
        let log = log_text();
        assert!(
            log.lines().any(|l| l.contains("refused a TLS handshake")
                && l.contains("reason=\"revoked\"")
                && l.contains("peer=127.0.0.1:")),
            "no refusal line in the log:\n{log}"
        );
        assert!(
            log.contains("closing a connection: its certificate was revoked"),
            "{log}"
        );
        c.stop().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_forced_reissue_revokes_the_certificate_it_replaces() {
    timeout(Duration::from_secs(90), async {
        let env = Env::new();
        env.issue_probe("loja-3");
        let old = env.keep_copy("loja-3", "old-loja-3");
        let c = env.collector(|_| {}).await;
        report_once(&c, &old, "loja-3", 1)
            .await
            .expect("old works before");

        // Without --force a second certificate for the name is refused, naming the old serial.
        let certs = env.certs();
        let dir = certs.to_str().expect("utf-8");
        let out = cli(&[
            "ca", "issue", "--dir", dir, "--out", dir, "probe", "--site", "loja-3",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("loja-3") && err.contains("--force"), "{err}");

        let out = cli_ok(&[
            "ca", "issue", "--dir", dir, "--out", dir, "--force", "probe", "--site", "loja-3",
        ]);
        assert!(out.contains("superseded"), "{out}");
        let new = env.paths("loja-3");

        let (_, e) = refused_within(&c, &old, "loja-3").await;
        assert_handshake_refusal(&e, "superseded certificate");
        report_once(&c, &new, "loja-3", 2)
            .await
            .expect("the new certificate works");
        c.stop().await;
    })
    .await
    .expect("bounded");
}

/// The serial of the certificate the server presents to a new connection.
async fn served_serial(c: &TestCollector, client: &CertPaths) -> String {
    let material =
        vigia::tls::TlsMaterial::load(&client.ca, &client.cert, &client.key).expect("client");
    let mut config = material.rustls_client_config().expect("client config");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(c.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = timeout(STEP, connector.connect(name, tcp))
        .await
        .expect("bounded")
        .expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("server certs")[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).expect("parse");
    vigia_collector::revocation::serial_hex(cert.raw_serial())
}

#[tokio::test]
async fn a_replaced_server_certificate_is_served_to_new_connections() {
    timeout(Duration::from_secs(90), async {
        let env = Env::new();
        let probe = env.issue_probe("loja-4");
        let c = env.collector(|_| {}).await;
        let before = served_serial(&c, &probe).await;

        let subject = Subject::Server {
            dns: vec!["localhost".into()],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        };
        let issued = issuing::issue_recorded(&env.certs(), &env.certs(), &subject, 30, true)
            .expect("reissue server");
        assert_ne!(issued.serial, before);

        let start = Instant::now();
        loop {
            if served_serial(&c, &probe).await == issued.serial {
                break;
            }
            assert!(start.elapsed() < RELOAD_WITHIN, "still serving {before}");
            sleep(Duration::from_millis(200)).await;
        }
        report_once(&c, &probe, "loja-4", 1)
            .await
            .expect("probes verify the new certificate");
        c.stop().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_broken_crl_later_keeps_the_previous_configuration() {
    timeout(Duration::from_secs(90), async {
        let env = Env::new();
        let loja5 = env.issue_probe("loja-5");
        let loja6 = env.issue_probe("loja-6");
        let c = env.collector(|_| {}).await;
        let certs = env.certs();
        cli_ok(&[
            "ca",
            "revoke",
            "--dir",
            certs.to_str().expect("utf-8"),
            "loja-5",
        ]);
        refused_within(&c, &loja5, "loja-5").await;

        // A damaged CRL (a half-copied file) must not lift the revocation.
        let crl = certs.join("crl.pem");
        std::fs::write(&crl, "-----BEGIN X509 CRL-----\nnot base64 at all\n").expect("corrupt");
        sleep(Duration::from_secs(3)).await;
        let e = report_once(&c, &loja5, "loja-5", 9)
            .await
            .expect_err("still revoked");
        assert_handshake_refusal(&e, "revoked under a broken CRL");
        report_once(&c, &loja6, "loja-6", 1)
            .await
            .expect("others still served");
        let log = log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("keeping the previous TLS configuration")
                    && l.contains(&crl.display().to_string())),
            "the broken CRL is not logged with its path:\n{log}"
        );
        c.stop().await;

        // At start, the same file is an error naming it.
        let err = TestCollector::start(&env.fleet, &env.root.join("data"), |_| {})
            .await
            .err()
            .expect("a broken CRL refuses the start")
            .to_string();
        assert!(
            err.contains(&crl.display().to_string()) && err.contains("CRL"),
            "{err}"
        );
    })
    .await
    .expect("bounded");
}

#[test]
fn revoking_an_unknown_name_or_serial_fails_naming_it() {
    let env = Env::new();
    env.issue_probe("loja-7");
    let certs = env.certs();
    let dir = certs.to_str().expect("utf-8");
    for (args, says) in [
        (vec!["nobody"], "\"nobody\""),
        (vec!["--serial", "deadbeef01"], "deadbeef01"),
        (vec!["--serial", "not-hex"], "not-hex"),
        (vec!["--cert", "/nonexistent/x.pem"], "/nonexistent/x.pem"),
    ] {
        let mut all = vec!["ca", "revoke", "--dir", dir];
        all.extend(args.iter().copied());
        let out = cli(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A certificate from another CA is not this CA's to revoke.
    let foreign = env.fleet.foreign_probe("loja-7").expect("foreign");
    let out = cli(&[
        "ca",
        "revoke",
        "--dir",
        dir,
        "--cert",
        foreign.cert.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not issued by this CA"), "{err}");
    // Nothing was revoked by the failures.
    assert!(vigia_collector::revocation::revoked(&certs)
        .expect("list")
        .revoked
        .is_empty());
}

#[test]
fn check_config_reads_the_crl() {
    let env = Env::new();
    let certs = env.certs();
    let config = env.root.join("collector.toml");
    let mut f = std::fs::File::create(&config).expect("config");
    writeln!(
        f,
        "data_dir = {:?}\n[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        env.root.join("data"),
        certs.join("ca.pem"),
        certs.join("server.pem"),
        certs.join("server.key")
    )
    .expect("write");
    let cfg = config.to_str().expect("utf-8");
    cli_ok(&["--config", cfg, "check-config"]);
    std::fs::write(certs.join("crl.pem"), "garbage").expect("corrupt");
    let out = cli(&["--config", cfg, "check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&certs.join("crl.pem").display().to_string()),
        "{err}"
    );
}

async fn metrics_text(addr: std::net::SocketAddr) -> String {
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("metrics");
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("get");
    let mut body = String::new();
    timeout(STEP, sock.read_to_string(&mut body))
        .await
        .expect("bounded")
        .expect("read");
    body
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[tokio::test]
async fn idle_sockets_hold_a_connection_slot_only_until_the_handshake_timeout() {
    timeout(Duration::from_secs(90), async {
        let env = Env::new();
        let probe = env.issue_probe("loja-8");
        let c = env
            .collector(|c| {
                c.limits.max_connections = Some(16);
                c.limits.handshake_timeout = Duration::from_secs(1);
                c.metrics.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            })
            .await;
        // 40 sockets that connect and never say a word: more than twice the cap.
        let mut idle = Vec::new();
        for _ in 0..40 {
            idle.push(
                tokio::net::TcpStream::connect(c.addr)
                    .await
                    .expect("idle connect"),
            );
        }
        let start = Instant::now();
        report_once(&c, &probe, "loja-8", 1)
            .await
            .expect("a real probe is served");
        let waited = start.elapsed();
        eprintln!("served after {waited:?} behind 40 idle sockets");
        assert!(waited < Duration::from_secs(8), "{waited:?}");

        let text = metrics_text(c.metrics_addr.expect("metrics")).await;
        assert!(
            metric(
                &text,
                "vigia_tls_handshakes_refused_total{reason=\"timeout\"}"
            ) >= 16,
            "{text}"
        );
        // The collector is still healthy: a reader gets through.
        let mut q = c.query_client(&env.fleet, "ops").await.expect("reader");
        assert_eq!(list_sites(&mut q).await.len(), 1);
        let text = metrics_text(c.metrics_addr.expect("metrics")).await;
        assert!(metric(&text, "vigia_connections_open ") >= 1, "{text}");
        drop(idle);
        c.stop().await;
    })
    .await
    .expect("bounded");
}
