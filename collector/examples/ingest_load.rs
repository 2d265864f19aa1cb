//! Load generator for `bench/collector.sh`: mints a fleet, drives a running collector with many
//! mutual-TLS probe streams (throughput, latency at a fixed rate, idle connections), and drives
//! the Flask baseline with keep-alive JSON POSTs. Prints one `key value` line per figure.
//!
//! Build with `cargo build --release -p vigia-collector --example ingest_load`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Identity};
use vigia::days::to_timestamp;
use vigia::pb::ingest_client::IngestClient;
use vigia::pb::{RecordingStatus, Technology};
use vigia::status_builder::StatusBuilder;
use vigia_collector::ca::{Ca, Subject, Validity};
use vigia_collector::issuing;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Cameras per status.
    #[arg(long, global = true, default_value_t = 16)]
    cameras: u32,
    /// Days each camera (and the recorder) keeps.
    #[arg(long, global = true, default_value_t = 90)]
    days: u32,
    /// Statuses as probes before per-camera days sent them (no day bitmaps, no non-empty times).
    #[arg(long, global = true)]
    legacy: bool,
}

/// The status shape every subcommand sends.
#[derive(Clone, Copy)]
struct Shape {
    cameras: u32,
    days: u32,
    legacy: bool,
}

static SHAPE: std::sync::OnceLock<Shape> = std::sync::OnceLock::new();

fn shape() -> Shape {
    *SHAPE.get_or_init(|| Shape {
        cameras: 16,
        days: 90,
        legacy: false,
    })
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a CA and a server certificate for localhost under DIR/certs (kept if present).
    Setup {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Statuses acknowledged per second from STREAMS probe streams, each keeping WINDOW unacked.
    Throughput {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 200)]
        streams: usize,
        #[arg(long, default_value_t = 32)]
        window: usize,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        #[arg(long, default_value_t = 8)]
        secs: u64,
    },
    /// Ack latency (send to durable ack) at a fixed total RATE spread over STREAMS streams.
    Latency {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 200)]
        streams: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        #[arg(long, default_value_t = 8)]
        secs: u64,
        /// Also print p50/p99/max per second of sending to stderr (where the slow acks were).
        #[arg(long)]
        timeline: bool,
    },
    /// Open CONNS idle probe streams (one connection each) and report the collector's RSS.
    Idle {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// The collector's process id, for /proc/PID/status.
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Prints the encoded size of one status of the chosen shape.
    Size,
    /// Writes one status for each of `sites` sites straight into a store (no network): a fleet
    /// of any size for the ListSites and digest benchmarks. One site in ten is late.
    Fill {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 50_000)]
        sites: usize,
    },
    /// Writes SPAN_DAYS of history for SITES sites named PREFIX-00000… into a stopped
    /// collector's store through the collector's own Writer (no network), one status per site
    /// every INTERVAL seconds of simulated time on a manual clock: the history keys, full
    /// statuses and heartbeats real probes would have left, in seconds instead of a week, and
    /// the collector's hourly prune pass (thinning, folding into blocks) run at each simulated
    /// hour, as a collector running that week would have.
    Week {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 200)]
        sites: usize,
        /// The latency run's sites are `lat-…`: it then writes into sites holding the week.
        #[arg(long, default_value = "lat")]
        prefix: String,
        #[arg(long, default_value_t = 7)]
        span_days: u32,
        #[arg(long, default_value_t = 300)]
        interval: u64,
    },
    /// Keep-alive JSON POSTs to the Flask baseline at each concurrency; prints requests/s.
    Http {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 1)]
        warmup: u64,
        #[arg(long, default_value_t = 5)]
        secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    vigia::tls::install_crypto_provider();
    let cli = Cli::parse();
    let _ = SHAPE.set(Shape {
        cameras: cli.cameras,
        days: cli.days,
        legacy: cli.legacy,
    });
    let rt = vigia::process::runtime(None)?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Setup { dir } => setup(&dir),
            Cmd::Size => {
                use prost::Message as _;
                println!("status_bytes {}", status("loja-00001", 1).encoded_len());
                Ok(())
            }
            Cmd::Throughput {
                dir,
                addr,
                streams,
                window,
                warmup,
                secs,
            } => throughput(&dir, addr, streams, window, warmup, secs).await,
            Cmd::Latency {
                dir,
                addr,
                streams,
                rate,
                warmup,
                secs,
                timeline,
            } => latency(&dir, addr, streams, rate, warmup, secs, timeline).await,
            Cmd::Idle {
                dir,
                addr,
                conns,
                pid,
                hold,
            } => idle(&dir, addr, conns, pid, hold).await,
            Cmd::Http {
                addr,
                concurrency,
                warmup,
                secs,
            } => http(addr, &concurrency, warmup, secs).await,
            Cmd::Fill { data, sites } => fill(&data, sites).await,
            Cmd::Week {
                data,
                sites,
                prefix,
                span_days,
                interval,
            } => week(&data, sites, &prefix, span_days, interval).await,
        }
    })
}

async fn fill(data: &Path, sites: usize) -> anyhow::Result<()> {
    let store = vigia_collector::store::Store::open(data, 64 << 20)?;
    let writer = vigia_collector::writer::Writer::start(
        store.clone(),
        vigia_collector::Clock::system(),
        Arc::new(vigia_collector::metrics::Metrics::default()),
    );
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    let done = |r: Result<Result<_, vigia_collector::store::NotDurable>, _>| -> anyhow::Result<()> {
        r.map_err(|e| anyhow::anyhow!("ack lost: {e}"))?
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("store: {e}"))
    };
    for i in 0..sites {
        let mut s = status(&format!("loja-{i:05}"), 1);
        if i % 10 == 0 {
            // Stopped six hours ago: LATE, so the digest has problems to list first.
            let stale = Some(to_timestamp(
                chrono::Utc::now() - chrono::Duration::hours(6),
            ));
            s.newest_recording = stale;
            s.newest_nonempty_recording = stale;
        }
        pending.push(writer.submit(s).await?);
        // Bounded: the writer acknowledges in group commits.
        while pending.len() >= 4096 {
            if let Some(r) = pending.next().await {
                done(r)?;
            }
        }
    }
    while let Some(r) = pending.next().await {
        done(r)?;
    }
    writer.stop().await;
    store.flush()?;
    println!("filled_sites {sites}");
    println!("fill_s {:.1}", started.elapsed().as_secs_f64());
    Ok(())
}

async fn week(
    data: &Path,
    sites: usize,
    prefix: &str,
    span_days: u32,
    interval: u64,
) -> anyhow::Result<()> {
    anyhow::ensure!(interval > 0, "--interval must be at least 1 second");
    let store = vigia_collector::store::Store::open(data, 64 << 20)?;
    let end = chrono::Utc::now();
    let start = end - chrono::Duration::days(i64::from(span_days));
    let clock = vigia_collector::Clock::manual(start);
    let writer = vigia_collector::writer::Writer::start(
        store.clone(),
        clock.clone(),
        Arc::new(vigia_collector::metrics::Metrics::default()),
    );
    let names: Vec<String> = (0..sites).map(|i| format!("{prefix}-{i:05}")).collect();
    let rounds = u64::from(span_days) * 86_400 / interval;
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    let done = |r: Result<Result<_, vigia_collector::store::NotDurable>, _>| -> anyhow::Result<()> {
        r.map_err(|e| anyhow::anyhow!("ack lost: {e}"))?
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("store: {e}"))
    };
    let (mut templates, mut templates_day) = (Vec::new(), None);
    let mut written = 0u64;
    let config = vigia_collector::CollectorConfig::default();
    let mut last_pass = start;
    for round in 0..rounds {
        let at = start + chrono::Duration::seconds(i64::try_from(round * interval)?);
        if at - last_pass >= chrono::Duration::hours(1) {
            // Every status written so far acknowledged first: the pass sees what it would have.
            while let Some(r) = pending.next().await {
                done(r)?;
            }
            vigia_collector::thin::compact(&store, &config, at, None)?;
            last_pass = at;
        }
        clock.set(at);
        // A new recorded day (and the oldest gone) once a simulated day: a full status.
        if templates_day != Some(at.date_naive()) {
            templates = names
                .iter()
                .map(|n| {
                    let mut s = status_at(n, 0, at);
                    s.spool_id = "week-spool".into();
                    s
                })
                .collect();
            templates_day = Some(at.date_naive());
        }
        for template in &templates {
            let mut s = template.clone();
            s.sequence = round + 1;
            advance_at(&mut s, round + 1, at);
            pending.push(writer.submit(s).await?);
            written += 1;
            while pending.len() >= 4096 {
                if let Some(r) = pending.next().await {
                    done(r)?;
                }
            }
        }
    }
    while let Some(r) = pending.next().await {
        done(r)?;
    }
    writer.stop().await;
    store.flush()?;
    drop(store);
    println!("week_statuses {written}");
    println!("week_s {:.1}", started.elapsed().as_secs_f64());
    println!("store_bytes {}", dir_bytes(data));
    Ok(())
}

/// Bytes of the files under `dir` (what the store takes on disk).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn setup(dir: &Path) -> anyhow::Result<()> {
    let certs = dir.join("certs");
    if !certs.join("ca.pem").exists() {
        issuing::init(&certs, "bench", 30, true)?;
    }
    if !certs.join("server.pem").exists() {
        issuing::issue(
            &certs,
            &certs,
            &Subject::Server {
                dns: vec!["localhost".into()],
                ips: vec!["127.0.0.1".parse()?],
            },
            30,
            true,
        )?;
    }
    Ok(())
}

/// A status of realistic size: by default 90 recorded days and 16 cameras, each with its day
/// bitmap and newest non-empty recording (`--cameras`, `--days`, `--legacy`).
fn status(site: &str, sequence: u64) -> RecordingStatus {
    status_at(site, sequence, chrono::Utc::now())
}

/// [`status`] as a probe would have sent it at `now` (the `week` fill's simulated days).
fn status_at(site: &str, sequence: u64, now: chrono::DateTime<chrono::Utc>) -> RecordingStatus {
    let Shape {
        cameras,
        days,
        legacy,
    } = shape();
    let days = days.max(1);
    let mut status = StatusBuilder::new(now)
        .site(site)
        .recorder("nvr-1")
        .technology(Technology::Digifort)
        .sequence(sequence)
        .spool_id("bench-spool")
        .days(days)
        .newest(now - chrono::Duration::minutes(2))
        .cameras((1..=cameras).map(|i| format!("cam-{i:02}")))
        .files(
            100 * u64::from(days) * u64::from(cameras),
            (225 << 30) * u64::from(cameras),
        );
    if legacy {
        status = status.legacy_probe();
    }
    RecordingStatus {
        probe_version: "bench".into(),
        hostname: format!("{site}-host"),
        root_path: "D:\\Digifort\\Gravacoes".into(),
        scan_duration: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
        ..status.build()
    }
}

/// What a real probe's next scan changes: the observation time, every newest recording, and
/// the file and byte counts (new recordings at every scan); the verdict-relevant rest repeats.
fn advance(s: &mut RecordingStatus, seq: u64) {
    advance_at(s, seq, chrono::Utc::now());
}

/// [`advance`] to a scan made at `now`.
fn advance_at(s: &mut RecordingStatus, seq: u64, now: chrono::DateTime<chrono::Utc>) {
    s.observed_at = Some(to_timestamp(now));
    let newest = Some(to_timestamp(now - chrono::Duration::seconds(30)));
    s.newest_recording = newest;
    s.file_count += seq;
    s.total_bytes += seq << 20;
    s.disk_free_bytes = s.disk_free_bytes.saturating_sub(seq << 20);
    for c in &mut s.cameras {
        c.newest_recording = newest;
        if c.newest_nonempty_recording.is_some() {
            c.newest_nonempty_recording = newest;
        }
        c.file_count += seq;
        c.total_bytes += seq << 16;
    }
    if s.newest_nonempty_recording.is_some() {
        s.newest_nonempty_recording = newest;
    }
}

/// A site name and the identity its probe presents.
type Probe = (String, Identity);

/// Mints `n` probe identities (distinct sites) from the CA under `dir/certs`; returns the CA PEM too.
fn probes(dir: &Path, n: usize, prefix: &str) -> anyhow::Result<(Vec<u8>, Vec<Probe>)> {
    let certs = dir.join("certs");
    let ca = Ca::load(&certs)?;
    let ca_pem = std::fs::read(certs.join("ca.pem"))?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let site = format!("{prefix}-{i:05}");
        let pair = ca.issue(&Subject::Probe { site: site.clone() }, Validity::days(2)?)?;
        out.push((site, Identity::from_pem(pair.cert_pem, pair.key_pem)));
    }
    Ok((ca_pem, out))
}

async fn connect(addr: SocketAddr, ca_pem: &[u8], id: Identity) -> anyhow::Result<Channel> {
    let tls = vigia::tls::client_tls(ca_pem, id).domain_name("localhost");
    let endpoint = Channel::from_shared(format!("https://localhost:{}", addr.port()))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(30));
    // The collector may still be starting: retry for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match endpoint.connect().await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("connect"),
        }
    }
}

/// Connects all probes, `parallel` handshakes at a time.
async fn connect_all(
    addr: SocketAddr,
    ca_pem: &[u8],
    ids: Vec<Probe>,
    parallel: usize,
) -> anyhow::Result<Vec<(String, Channel)>> {
    let ca_pem = Arc::new(ca_pem.to_vec());
    let results: Vec<anyhow::Result<(String, Channel)>> = futures::stream::iter(ids)
        .map(|(site, id)| {
            let ca_pem = ca_pem.clone();
            async move { Ok((site, connect(addr, &ca_pem, id).await?)) }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn throughput(
    dir: &Path,
    addr: SocketAddr,
    streams: usize,
    window: usize,
    warmup: u64,
    secs: u64,
) -> anyhow::Result<()> {
    let (ca_pem, ids) = probes(dir, streams, "tput")?;
    let channels = connect_all(addr, &ca_pem, ids, 32).await?;
    let acks = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let spool = run_spool();
    let mut tasks = Vec::new();
    for (site, ch) in channels {
        let acks = acks.clone();
        let stop = stop.clone();
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel(window * 2);
            let mut client = IngestClient::new(ch);
            let mut resp = client
                .report(ReceiverStream::new(rx))
                .await
                .context("open stream")?
                .into_inner();
            let permits = Arc::new(Semaphore::new(window));
            let sender = {
                let permits = permits.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut template = status(&site, 0);
                    template.spool_id = spool;
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(p) = permits.acquire().await else {
                            break;
                        };
                        p.forget();
                        seq += 1;
                        let mut s = template.clone();
                        s.sequence = seq;
                        advance(&mut s, seq);
                        if tx.send(s).await.is_err() {
                            break;
                        }
                    }
                })
            };
            while let Some(ack) = resp.message().await? {
                let _ = ack;
                acks.fetch_add(1, Ordering::Relaxed);
                permits.add_permits(1);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            sender.abort();
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let a0 = acks.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let a1 = acks.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    println!("streams {streams}");
    println!("acks_per_s {:.0}", (a1 - a0) as f64 / elapsed);
    Ok(())
}

async fn latency(
    dir: &Path,
    addr: SocketAddr,
    streams: usize,
    rate: f64,
    warmup: u64,
    secs: u64,
    timeline: bool,
) -> anyhow::Result<()> {
    let (ca_pem, ids) = probes(dir, streams, "lat")?;
    let channels = connect_all(addr, &ca_pem, ids, 32).await?;
    let period = Duration::from_secs_f64(streams as f64 / rate);
    let measuring = Arc::new(AtomicBool::new(false));
    // (seconds since the start of measuring when sent, latency in ms)
    let samples = Arc::new(Mutex::new(Vec::<(f64, f64)>::new()));
    // (seconds since the start of measuring, how late the send was against its schedule in ms):
    // the generator's own lag on the shared cores, told apart from the collector's latency.
    let lags = Arc::new(std::sync::Mutex::new(Vec::<(f64, f64)>::new()));
    let acks = Arc::new(AtomicU64::new(0));
    let spool = run_spool();
    let mut tasks = Vec::new();
    let t_start = Arc::new(std::sync::OnceLock::<Instant>::new());
    for (i, (site, ch)) in channels.into_iter().enumerate() {
        let t_start = t_start.clone();
        let measuring = measuring.clone();
        let samples = samples.clone();
        let lags = lags.clone();
        let acks = acks.clone();
        let spool = spool.clone();
        // Spread the streams' send instants evenly over one period.
        let offset = period.mul_f64(i as f64 / streams as f64);
        tasks.push(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel(1024);
            let mut client = IngestClient::new(ch);
            let mut resp = client
                .report(ReceiverStream::new(rx))
                .await
                .context("open stream")?
                .into_inner();
            let sent = Arc::new(Mutex::new(std::collections::VecDeque::<Instant>::new()));
            let sender = {
                let sent = sent.clone();
                let measuring = measuring.clone();
                let t_start = t_start.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(offset).await;
                    let mut tick = tokio::time::interval(period);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    let mut template = status(&site, 0);
                    template.spool_id = spool;
                    let mut seq = 0u64;
                    loop {
                        let due = tick.tick().await.into_std();
                        seq += 1;
                        let mut s = template.clone();
                        s.sequence = seq;
                        advance(&mut s, seq);
                        let now = Instant::now();
                        if measuring.load(Ordering::Relaxed) {
                            let since = t_start
                                .get()
                                .map_or(0.0, |t0| due.saturating_duration_since(*t0).as_secs_f64());
                            let late = now.saturating_duration_since(due).as_secs_f64() * 1000.0;
                            lags.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push((since, late));
                        }
                        sent.lock().await.push_back(now);
                        if tx.send(s).await.is_err() {
                            break;
                        }
                    }
                })
            };
            while let Some(_ack) = resp.message().await? {
                let at = sent.lock().await.pop_front();
                if let Some(at) = at {
                    if measuring.load(Ordering::Relaxed) {
                        let ms = at.elapsed().as_secs_f64() * 1000.0;
                        let since = t_start
                            .get()
                            .map_or(0.0, |t0| at.saturating_duration_since(*t0).as_secs_f64());
                        samples.lock().await.push((since, ms));
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            sender.abort();
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let t0 = Instant::now();
    let _ = t_start.set(t0);
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    let all = samples.lock().await.clone();
    let late = lags
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if timeline {
        // Per second of sending: where in the run the slow acks were (a stall or a backlog),
        // and how late the generator itself sent in that second.
        let mut by_sec = std::collections::BTreeMap::<u64, (Vec<f64>, Vec<f64>)>::new();
        for (at, ms) in &all {
            by_sec.entry(*at as u64).or_default().0.push(*ms);
        }
        for (at, ms) in &late {
            by_sec.entry(*at as u64).or_default().1.push(*ms);
        }
        for (sec, (mut v, mut l)) in by_sec {
            v.sort_by(f64::total_cmp);
            l.sort_by(f64::total_cmp);
            eprintln!(
                "second {sec}: n {} p50 {:.1} p99 {:.1} max {:.1} send_lag_p99 {:.1} send_lag_max {:.1}",
                v.len(),
                quantile(&v, 0.5),
                quantile(&v, 0.99),
                quantile(&v, 1.0),
                quantile(&l, 0.99),
                quantile(&l, 1.0),
            );
        }
    }
    let mut v: Vec<f64> = all.into_iter().map(|(_, ms)| ms).collect();
    v.sort_by(f64::total_cmp);
    let mut l: Vec<f64> = late.into_iter().map(|(_, ms)| ms).collect();
    l.sort_by(f64::total_cmp);
    println!("target_rate {rate:.0}");
    println!(
        "acks_per_s {:.0}",
        acks.load(Ordering::Relaxed) as f64 / elapsed
    );
    println!("samples {}", v.len());
    println!("p50_ms {:.2}", quantile(&v, 0.50));
    println!("p99_ms {:.2}", quantile(&v, 0.99));
    println!("max_ms {:.2}", quantile(&v, 1.0));
    println!("send_lag_p99_ms {:.2}", quantile(&l, 0.99));
    println!("send_lag_max_ms {:.2}", quantile(&l, 1.0));
    Ok(())
}

/// The `q` quantile of sorted samples (NaN when there are none).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// A spool id of each run's own: a run re-using an earlier run's sites and sequence numbers on
/// the same collector would otherwise be answered as re-sends (dedup) and write no history.
fn run_spool() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("bench-{}-{nanos}", std::process::id())
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

async fn idle(
    dir: &Path,
    addr: SocketAddr,
    conns: usize,
    pid: u32,
    hold: u64,
) -> anyhow::Result<()> {
    let (ca_pem, ids) = probes(dir, conns, "idle")?;
    let before = rss_kib(pid)?;
    let t0 = Instant::now();
    let channels = connect_all(addr, &ca_pem, ids, 64).await?;
    let connect_s = t0.elapsed().as_secs_f64();
    // Open one stream per connection and get one status acknowledged, then stay idle.
    let opened: Vec<anyhow::Result<_>> = futures::stream::iter(channels)
        .map(|(site, ch)| async move {
            let (tx, rx) = mpsc::channel(4);
            let mut client = IngestClient::new(ch);
            tx.send(status(&site, 1)).await.ok();
            let mut resp = client.report(ReceiverStream::new(rx)).await?.into_inner();
            resp.message().await?.context("no ack")?;
            anyhow::Ok((tx, resp, client))
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let mut held = Vec::with_capacity(opened.len());
    let mut failed = 0;
    for o in opened {
        match o {
            Ok(h) => held.push(h),
            Err(_) => failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = rss_kib(pid)?;
    let n = held.len();
    // What the mailer pays for the whole fleet: ListSites over 10,000 sites, as a reader.
    let certs = dir.join("certs");
    let reader = Ca::load(&certs)?.issue(
        &Subject::Reader {
            name: "bench-reader".into(),
        },
        Validity::days(2)?,
    )?;
    let ch = connect(
        addr,
        &ca_pem,
        Identity::from_pem(reader.cert_pem, reader.key_pem),
    )
    .await?;
    let mut query =
        vigia::pb::query_client::QueryClient::new(ch).max_decoding_message_size(256 << 20);
    let mut times = Vec::new();
    let mut bytes = 0;
    let mut largest_page = 0;
    for _ in 0..3 {
        // The whole fleet as the mailer reads it: pages of 500 until the token runs out.
        let t = Instant::now();
        let (mut sites, mut token) = (0, String::new());
        bytes = 0;
        loop {
            let page = query
                .list_sites(vigia::pb::ListSitesRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let len = prost::Message::encoded_len(&page);
            bytes += len;
            largest_page = largest_page.max(len);
            sites += page.sites.len();
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(sites >= n, "ListSites returned {sites} sites");
    }
    times.sort_by(f64::total_cmp);
    println!("idle_streams {n}");
    println!("failed {failed}");
    println!("connect_s {connect_s:.1}");
    println!("rss_before_mib {:.1}", before as f64 / 1024.0);
    println!("rss_after_mib {:.1}", after as f64 / 1024.0);
    println!(
        "bytes_per_stream {:.0}",
        (after.saturating_sub(before) as f64 * 1024.0) / n.max(1) as f64
    );
    println!("list_sites_ms {:.0}", times[1]);
    println!("list_sites_bytes {bytes}");
    println!("list_sites_largest_page_bytes {largest_page}");
    drop(held);
    Ok(())
}

async fn http(addr: SocketAddr, levels: &[usize], warmup: u64, secs: u64) -> anyhow::Result<()> {
    let body = {
        let s = status("loja-00001", 1);
        let days: Vec<String> = s.recorded_days.iter().map(|d| format!("\"{d}\"")).collect();
        format!(
            "{{\"site\":\"{}\",\"recorder\":\"{}\",\"tecnologia\":\"digifort\",\"dias\":{},\"datas\":[{}],\"quantidade\":{},\"mais_antiga\":\"2024-01-01 00:00\",\"mais_recente\":\"2024-01-30 23:58\",\"cameras\":[{}]}}",
            s.site,
            s.recorder,
            s.days_recorded,
            days.join(","),
            s.file_count,
            (1..=4).map(|i| format!("{{\"camera\":\"cam-{i:02}\",\"dias\":30,\"quantidade\":3000}}")).collect::<Vec<_>>().join(",")
        )
    };
    let request = format!(
        "POST /status HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let request = Arc::new(request.into_bytes());
    let mut best = (0usize, 0.0f64);
    for &c in levels {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..c {
            let (count, stop, request) = (count.clone(), stop.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let mut sock = tokio::net::TcpStream::connect(addr).await?;
                sock.set_nodelay(true)?;
                let mut buf = vec![0u8; 8192];
                while !stop.load(Ordering::Relaxed) {
                    sock.write_all(&request).await?;
                    // Read one response: head, then Content-Length bytes of body.
                    let mut n = 0;
                    let head_end = loop {
                        let r = sock.read(&mut buf[n..]).await?;
                        anyhow::ensure!(r > 0, "server closed");
                        n += r;
                        if let Some(p) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    anyhow::ensure!(head.starts_with("http/1.1 200"), "bad response: {head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut have = n - head_end;
                    while have < len {
                        let r = sock.read(&mut buf).await?;
                        anyhow::ensure!(r > 0, "server closed");
                        have += r;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }));
        }
        tokio::time::sleep(Duration::from_secs(warmup)).await;
        let c0 = count.load(Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let rps = (count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        println!("http_concurrency_{c}_rps {rps:.0}");
        if rps > best.1 {
            best = (c, rps);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("http_best_concurrency {}", best.0);
    println!("http_best_rps {:.0}", best.1);
    Ok(())
}
