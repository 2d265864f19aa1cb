//! Benchmark of the probe's spool and stream (run by `bench/probe_spool.sh`):
//!  1. how fast the spool takes statuses (each one written atomically and fsynced);
//!  2. how fast a backlog left by an outage drains to a real collector (mutual TLS on loopback,
//!     each acknowledgement durable in sled) with the daemon's window of 64 unacknowledged
//!     statuses, side by side with stop-and-wait (window 1: one round trip per status, the way
//!     the old tool POSTed its reports one by one).
//!
//! Usage: `spool_drain [STATUSES] [RUNS] [WINDOW...]` (defaults 5000 and 3); prints medians and
//! the ratio; each extra WINDOW is also measured on its own (exploration).

use std::time::{Duration, Instant};
use vigia::config::ConfigSource;
use vigia_collector::testkit::{TestCollector, TestFleet};
use vigia_probe::config::ProbeConfig;
use vigia_probe::daemon::{scanner_source, Daemon};
use vigia_probe::spool::Spool;

struct Run {
    push_per_s: f64,
    drain_per_s: f64,
}

async fn one_run(statuses: usize, window: usize) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let certs_dir = dir.path().join("certs");
    std::fs::create_dir_all(&certs_dir)?;
    let fleet = TestFleet::new(&certs_dir)?;
    let certs = fleet.probe("loja-1")?;
    let rec = dir.path().join("rec/2026/11/27");
    std::fs::create_dir_all(&rec)?;
    std::fs::write(rec.join("00.dav"), b"recording")?;
    let collector = TestCollector::start(&fleet, &dir.path().join("data"), |_| {}).await?;
    let toml = format!(
        "site = \"loja-1\"\n[[recorder]]\nid = \"nvr1\"\ntechnology = \"intelbras\"\npath = '{}'\n\
         [collector]\nurl = \"{}\"\nca = '{}'\ncert = '{}'\nkey = '{}'\n[spool]\ndir = 'spool'\n",
        dir.path().join("rec").display(),
        collector.url(),
        certs.ca.display(),
        certs.cert.display(),
        certs.key.display(),
    );
    let file = dir.path().join("probe.toml");
    std::fs::write(&file, toml)?;
    let cfg = ProbeConfig::load_from(&ConfigSource::file(&file).with_env(vec![]))?;

    let status = scanner_source(&cfg)
        .scan_all()
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no status"))?;
    let started = Instant::now();
    {
        let mut spool = Spool::open(&cfg.spool.dir, statuses + 1)?;
        for _ in 0..statuses {
            spool.push(status.clone())?;
        }
    }
    let push = started.elapsed();

    let daemon = Daemon::new(&cfg)?.with_in_flight(window);
    let stats = daemon.stats();
    let started = Instant::now();
    let empty = Vec::new;
    let ok = daemon.send_once(empty, Duration::from_secs(600)).await?;
    let drain = started.elapsed();
    anyhow::ensure!(
        ok && stats.acknowledged() == statuses as u64,
        "backlog not drained: {} of {statuses}",
        stats.acknowledged()
    );
    collector.stop().await;
    Ok(Run {
        push_per_s: statuses as f64 / push.as_secs_f64(),
        drain_per_s: statuses as f64 / drain.as_secs_f64(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    vigia::tls::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let statuses: usize = args.next().map_or(Ok(5000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    // Extra windows to try (exploration), each printed on its own.
    for w in args {
        let w: usize = w.parse()?;
        let mut d = Vec::new();
        for _ in 0..runs {
            d.push(one_run(statuses, w).await?.drain_per_s);
        }
        println!(
            "backlog drain, window {w}: {:.0} statuses/s (median)",
            median(d)
        );
    }
    let mut pushes = Vec::new();
    let mut windowed = Vec::new();
    let mut stop_and_wait = Vec::new();
    for _ in 0..runs {
        // Alternate, so both see the same machine state.
        let w = one_run(statuses, 64).await?;
        let s = one_run(statuses, 1).await?;
        pushes.extend([w.push_per_s, s.push_per_s]);
        windowed.push(w.drain_per_s);
        stop_and_wait.push(s.drain_per_s);
    }
    let (p, w, s) = (median(pushes), median(windowed), median(stop_and_wait));
    println!("statuses per run: {statuses}, runs: {runs}");
    println!("spool push (write + fsync + rename each): {p:.0} statuses/s (median)");
    println!("backlog drain, window 64:                 {w:.0} statuses/s (median)");
    println!("backlog drain, stop-and-wait (baseline):  {s:.0} statuses/s (median)");
    println!("ratio window 64 / stop-and-wait:          {:.1}x", w / s);
    Ok(())
}
