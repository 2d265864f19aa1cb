//! Storage faults, with the real binary and real files: a damaged `db` file is refused at start
//! with an error naming the path (never an empty store in its place), an unfinished snapshot
//! left by a failed open does not block the next one, `store check` and `store salvage` say
//! and save what can be read, and a full disk (a small tmpfs made by the test) turns health
//! NOT_SERVING without a false acknowledgement, then recovers without a restart once space
//! returns, with every acknowledged status stored.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{status, Env, ProbeStream, STEP};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use vigia::pb::query_client::QueryClient;
use vigia::pb::{HistoryRequest, ListSitesRequest};
use vigia_collector::testkit::{connect, reserve_addr, TestCollector};

/// Sites and statuses per site written before a store is damaged.
const SITES: usize = 12;
const PER_SITE: u64 = 40;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigia-collector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIA_") {
            c.env_remove(k);
        }
    }
    c.env("VIGIA_LOG", "info");
    c
}

/// A collector.toml for this fleet and store.
fn write_config(
    env: &Env,
    data: &Path,
    listen: SocketAddr,
    metrics: Option<SocketAddr>,
) -> PathBuf {
    let server = env.fleet.server();
    let mut text = format!(
        "listen = \"{listen}\"\ndata_dir = {:?}\nshutdown_grace = \"2s\"\n",
        data.display().to_string()
    );
    if let Some(m) = metrics {
        text.push_str(&format!("[metrics]\nlisten = \"{m}\"\n"));
    }
    text.push_str(&format!(
        "[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        server.ca.display().to_string(),
        server.cert.display().to_string(),
        server.key.display().to_string()
    ));
    let path = env.dir.path().join("collector.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A collector process, killed if the test ends early.
struct Proc {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(config: &Path) -> Proc {
        let mut child = bin()
            .args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigia-collector");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for "collector serving"; panics with the log if it exits or takes too long.
    fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let serving = line.contains("collector serving");
                self.seen.push(line);
                if serving {
                    return;
                }
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                self.drain();
                panic!(
                    "the collector exited ({s}) instead of serving:\n{}",
                    self.seen.join("\n")
                );
            }
        }
        panic!(
            "the collector did not serve within 30 s:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the process to exit by itself; its exit code and whole log.
    fn wait_exit(&mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                // The reader thread ends at EOF; collect what it still holds.
                std::thread::sleep(Duration::from_millis(100));
                self.drain();
                return (s.code(), self.seen.join("\n"));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                self.drain();
                panic!("no exit within 30 s:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn drain(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit().0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `SITES` sites with `PER_SITE` acknowledged statuses each through a real collector.
async fn seed(env: &Env, data: &Path) {
    let c = TestCollector::start(&env.fleet, data, |_| {})
        .await
        .expect("start");
    let now = chrono::Utc::now();
    for i in 0..SITES {
        let site = format!("loja-{i}");
        let paths = env.fleet.probe(&site).expect("probe cert");
        let mut s = support::probe_stream(&c, &paths).await.expect("stream");
        for seq in 1..=PER_SITE {
            s.send(status(&site, "nvr", seq, now)).await;
        }
        for seq in 1..=PER_SITE {
            assert_eq!(s.next().await.expect("ack").sequence, seq);
        }
    }
    c.stop().await;
}

fn damage(data: &Path, how: &str) {
    let db = data.join("db");
    let len = std::fs::metadata(&db).expect("db file").len();
    match how {
        "zero" => std::fs::File::create(&db).map(drop).expect("truncate"),
        "half" => std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .and_then(|f| f.set_len(len / 2))
            .expect("truncate"),
        "garbage" => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&db)
                .expect("open db");
            let mut x: u32 = 0x9e37_79b9;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            f.write_all(&junk).expect("garbage");
        }
        // The archive (history the hourly pass moved) gone: sled would make an empty one.
        "archive" => std::fs::remove_dir_all(vigia_collector::archive::dir(data)).expect("remove"),
        other => panic!("unknown damage {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_db_file_or_a_lost_archive_is_refused_at_start_naming_the_path_never_an_empty_store(
) {
    for how in ["zero", "half", "garbage", "archive"] {
        let env = Env::new();
        let data = env.data();
        seed(&env, &data).await;
        assert!(
            data.join("vigia-store.toml").exists(),
            "the marker is written with the first acknowledged status"
        );
        damage(&data, how);
        let addr = reserve_addr().expect("addr");
        let config = write_config(&env, &data, addr, None);

        let mut p = Proc::start(&config);
        let (code, log) = p.wait_exit();
        assert_ne!(
            code,
            Some(0),
            "{how}: the collector must refuse the store:\n{log}"
        );
        eprintln!("{how}: {log}");
        let shown = data.display().to_string();
        assert!(
            log.contains(&shown),
            "{how}: the error names {shown}:\n{log}"
        );
        assert!(
            log.contains("damaged") && log.contains("store salvage") && log.contains("backup"),
            "{how}: the error says what to do:\n{log}"
        );
        assert!(
            how != "archive" || log.contains("archive"),
            "{how}: the error says the archive is missing:\n{log}"
        );
        assert!(!log.contains("collector serving"), "{how}: {log}");
        assert!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
            "{how}: nothing may listen on the port of a refused store"
        );

        // `store check` agrees (exit 1, DAMAGED or the open error naming the store).
        let out = bin()
            .args(["store", "check", "--config"])
            .arg(&config)
            .output()
            .expect("store check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{how}: store check: {text}");
        assert!(
            text.contains("damaged") || text.contains("DAMAGED"),
            "{how}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_generating_snapshot_from_a_failed_open_does_not_block_the_start() {
    let env = Env::new();
    let data = env.data();
    seed(&env, &data).await;
    // What a start on a full disk leaves behind.
    let stale = data.join("snap.00000000000000FF.generating");
    std::fs::File::create(&stale).expect("stale snapshot");
    let addr = reserve_addr().expect("addr");
    let config = write_config(&env, &data, addr, None);
    let mut p = Proc::start(&config);
    p.wait_serving();
    assert!(!stale.exists(), "the unfinished snapshot is removed");
    let mut q = reader(&env, addr).await;
    let sites = q
        .list_sites(ListSitesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .sites;
    assert_eq!(sites.len(), SITES, "every site is there");
    assert_eq!(p.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_check_says_ok_and_salvage_copies_sites_and_history_into_a_store_that_opens() {
    let env = Env::new();
    let data = env.data();
    seed(&env, &data).await;
    let config = write_config(&env, &data, reserve_addr().expect("addr"), None);
    let out = bin()
        .args(["store", "check", "--config"])
        .arg(&config)
        .output()
        .expect("store check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ok") && text.contains(&format!("sites: {SITES} record")),
        "{text}"
    );

    let new_dir = env.dir.path().join("salvaged");
    let out = bin()
        .args(["store", "salvage", "--config"])
        .arg(&config)
        .arg("--to")
        .arg(&new_dir)
        .output()
        .expect("store salvage");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history = SITES as u64 * PER_SITE;
    assert!(
        text.contains(&format!("history: {history} record(s) copied")),
        "{text}"
    );

    // Salvage never writes over a folder that holds something.
    let out = bin()
        .args(["store", "salvage", "--config"])
        .arg(&config)
        .arg("--to")
        .arg(&new_dir)
        .output()
        .expect("store salvage again");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // The salvaged store opens (its own marker, every pointer resolved) and serves everything.
    let c = TestCollector::start(&env.fleet, &new_dir, |_| {})
        .await
        .expect("the collector opens the salvaged store");
    assert!(new_dir.join("vigia-store.toml").exists());
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let sites = support::list_sites(&mut q).await;
    assert_eq!(sites.len(), SITES);
    for i in 0..SITES {
        let seqs = sequences(&mut q, &format!("loja-{i}")).await;
        assert_eq!(seqs, (1..=PER_SITE).collect::<BTreeSet<_>>(), "loja-{i}");
    }
    c.stop().await;
}

async fn reader(env: &Env, addr: SocketAddr) -> QueryClient<Channel> {
    let paths = env.fleet.reader("ops").expect("reader cert");
    let ch = connect(&format!("https://localhost:{}", addr.port()), &paths)
        .await
        .expect("connect");
    QueryClient::new(ch)
}

/// Every sequence stored for a site (History, all pages).
async fn sequences(q: &mut QueryClient<Channel>, site: &str) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut n = 0;
    let mut token = String::new();
    loop {
        let page = q
            .history(HistoryRequest {
                site: site.into(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("history")
            .into_inner();
        for e in &page.entries {
            out.insert(e.status.as_ref().map_or(0, |s| s.sequence));
            n += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(n, out.len(), "{site}: every status stored once");
    out
}

/// A tmpfs mounted for the test, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run it as root, or inside `unshare -rm`): mount said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k as u64,
        }
    }
    // Tail of a page: single bytes until nothing fits.
    while let Ok(1) = f.write(&[0u8]) {
        n += 1;
    }
    let _ = f.sync_all();
    n
}

async fn health(ch: &Channel, service: &str) -> Option<ServingStatus> {
    let mut h = HealthClient::new(ch.clone());
    let r = tokio::time::timeout(
        STEP,
        h.check(HealthCheckRequest {
            service: service.into(),
        }),
    )
    .await
    .ok()?
    .ok()?;
    ServingStatus::try_from(r.into_inner().status).ok()
}

/// Polls until both the Ingest service and the whole server report `want`.
async fn wait_health(ch: &Channel, want: ServingStatus, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ingest = health(ch, vigia::pb::ingest_server::SERVICE_NAME).await;
        let all = health(ch, "").await;
        if ingest == Some(want) && all == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health did not turn {want:?} within {within:?} (Ingest {ingest:?}, overall {all:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn scrape(addr: SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect_timeout(&addr, STEP).expect("metrics connect");
    s.set_read_timeout(Some(STEP)).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_statuses_without_false_acks_and_recovers_without_a_restart() {
    let env = Env::new();
    let mnt = Tmpfs::mount(&env.dir.path().join("mnt"), "48m");
    let data = mnt.0.join("data");
    let addr = reserve_addr().expect("addr");
    let metrics = reserve_addr().expect("metrics addr");
    let config = write_config(&env, &data, addr, Some(metrics));
    let mut p = Proc::start(&config);
    p.wait_serving();

    let url = format!("https://localhost:{}", addr.port());
    let probe = env.fleet.probe("loja-1").expect("probe cert");
    let ops = env.fleet.reader("ops").expect("reader cert");
    let ops_ch = connect(&url, &ops).await.expect("reader channel");
    let mut q = QueryClient::new(ops_ch.clone());
    wait_health(&ops_ch, ServingStatus::Serving, STEP).await;

    // What a probe's spool does: every status sent stays until it is acknowledged.
    let now = chrono::Utc::now();
    let mut sent: Vec<u64> = Vec::new();
    let mut acked = BTreeSet::new();
    let mut s = ProbeStream::open(connect(&url, &probe).await.expect("probe channel"))
        .await
        .expect("stream");
    for seq in 1..=20 {
        s.send(status("loja-1", "nvr", seq, now)).await;
        sent.push(seq);
    }
    for _ in 1..=20 {
        acked.insert(s.next().await.expect("ack before the disk fills").sequence);
    }

    // The disk fills up.
    let filler = mnt.0.join("filler");
    assert!(fill(&filler) > 0);
    let mut refused = None;
    let started = Instant::now();
    let mut seq = 21;
    while refused.is_none() && started.elapsed() < Duration::from_secs(60) && seq < 5000 {
        s.send(status("loja-1", "nvr", seq, now)).await;
        sent.push(seq);
        seq += 1;
        match s.next().await {
            Ok(a) => {
                acked.insert(a.sequence);
            }
            Err(e) => refused = Some(e),
        }
    }
    let refused = refused.expect("the full disk must refuse a status");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    wait_health(&ops_ch, ServingStatus::NotServing, STEP).await;
    let m = scrape(metrics);
    assert!(m.contains("vigia_store_writable 0"), "{m}");
    assert!(
        m.contains("vigia_store_fault_info{reason=\"disk_full\""),
        "{m}"
    );

    // While it lasts: a new stream's status is refused, never acknowledged ...
    let mut s = ProbeStream::open(connect(&url, &probe).await.expect("probe channel"))
        .await
        .expect("stream");
    s.send(status("loja-1", "nvr", seq, now)).await;
    sent.push(seq);
    seq += 1;
    let e = s.next().await.expect_err("no ack while the disk is full");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(e.message().contains("cannot write"), "{e:?}");
    // ... and queries answer from what is stored.
    let sites = q
        .list_sites(ListSitesRequest::default())
        .await
        .expect("queries keep answering on a full disk")
        .into_inner()
        .sites;
    assert!(sites.iter().any(|r| r.site == "loja-1"));

    // Space returns: the collector writes again by itself, same process.
    std::fs::remove_file(&filler).expect("remove filler");
    wait_health(&ops_ch, ServingStatus::Serving, Duration::from_secs(30)).await;
    assert!(p.running(), "no restart");
    let m = scrape(metrics);
    assert!(m.contains("vigia_store_writable 1"), "{m}");
    assert!(m.contains("vigia_store_reopens_total 1"), "{m}");

    // The probe re-sends everything not acknowledged, plus new statuses: all acknowledged.
    let mut s = ProbeStream::open(connect(&url, &probe).await.expect("probe channel"))
        .await
        .expect("stream after recovery");
    let unacked: Vec<u64> = sent
        .iter()
        .copied()
        .filter(|q| !acked.contains(q))
        .collect();
    assert!(!unacked.is_empty());
    let mut resend = unacked.clone();
    resend.extend(seq..seq + 10);
    for &q in &resend {
        s.send(status("loja-1", "nvr", q, now)).await;
    }
    for &q in &resend {
        let a = s.next().await.expect("ack after recovery");
        assert_eq!(a.sequence, q);
        acked.insert(q);
    }
    drop(s);
    let all: BTreeSet<u64> = sent.iter().copied().chain(seq..seq + 10).collect();
    assert_eq!(acked, all, "every status acknowledged in the end");
    let stored = sequences(&mut q, "loja-1").await;
    assert_eq!(stored, all, "every acknowledged status stored, each once");

    drop(q);
    drop(ops_ch);
    assert_eq!(p.terminate(), Some(0));
    let log = p.seen.join("\n");
    eprintln!(
        "sent {}, acked before the refusal {}, resent {}\n{log}",
        sent.len(),
        sent.len() - unacked.len(),
        unacked.len()
    );
    assert!(log.contains("the store cannot write"), "{log}");
    assert!(log.contains("the store writes again"), "{log}");
}
