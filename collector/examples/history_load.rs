//! The history benchmark's load (`bench/history.sh`): 5-minute reports of simulated days for
//! many sites, through the collector's own write path (`Writer` on a manual `Clock`) and its
//! periodic prune pass (`thin::compact`), then the store's size: bytes on disk (what `du`
//! counts, after a flush) and logical bytes (keys and values of every tree), per site-day.
//!
//! Each site has one recorder with `--cameras` cameras and a rolling 30-day retention: new
//! recordings on every camera at every scan, a new day (and the oldest one going) at midnight,
//! one camera stopping for six hours and recovering, and one day deleted from the recorder.
//!
//! `--mode thin` runs the prune pass (thinning, then folding into blocks) every simulated hour,
//! as the collector does (`--pass-every-hours N` for fewer), with the default `[history]`;
//! `--mode beats` never runs it (heartbeats only: the collector before thinning). Both print
//! what the same statuses would take stored in full (layout 1), from their encoded size.
//! `--compression on` creates the store with sled's page compression (`[store] compression`;
//! off by default, as in the collector).
//!
//! sled 0.34 cleans segments in its flusher thread, at most half of each second, and reuses the
//! freed ones but shrinks its file only from the end: the file keeps the largest size the
//! replay ever needed. `--gc-idle on` waits after each pass until that thread is idle (what the
//! hour between two real passes gives it); `--settle-minutes M` goes on at the real rate for
//! M minutes after the replay, printing the size each minute.

use chrono::{DateTime, Duration as Span, Utc};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigia::days::to_timestamp;
use vigia::pb::{HistoryEntry, RecordingStatus, Technology};
use vigia::status_builder::StatusBuilder;
use vigia_collector::store::Store;
use vigia_collector::writer::Writer;
use vigia_collector::{Clock, CollectorConfig};

struct Args {
    dir: PathBuf,
    sites: usize,
    days: i64,
    cameras: usize,
    thin: bool,
    compression: bool,
    pass_every_hours: i64,
    settle_minutes: u64,
    gc_idle: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        dir: PathBuf::from("history-bench"),
        sites: 100,
        days: 30,
        cameras: 8,
        thin: true,
        compression: false,
        pass_every_hours: 1,
        settle_minutes: 0,
        gc_idle: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{k}: value missing"))
        };
        match k.as_str() {
            "--dir" => a.dir = PathBuf::from(v()?),
            "--sites" => a.sites = v()?.parse()?,
            "--days" => a.days = v()?.parse()?,
            "--cameras" => a.cameras = v()?.parse()?,
            "--mode" => {
                a.thin = match v()?.as_str() {
                    "thin" => true,
                    "beats" => false,
                    m => anyhow::bail!("--mode: {m}: expected thin or beats"),
                }
            }
            "--gc-idle" => {
                a.gc_idle = match v()?.as_str() {
                    "on" => true,
                    "off" => false,
                    g => anyhow::bail!("--gc-idle: {g}: expected on or off"),
                }
            }
            "--settle-minutes" => a.settle_minutes = v()?.parse()?,
            "--pass-every-hours" => a.pass_every_hours = v()?.parse::<i64>()?.max(1),
            "--compression" => {
                a.compression = match v()?.as_str() {
                    "on" => true,
                    "off" => false,
                    c => anyhow::bail!("--compression: {c}: expected on or off"),
                }
            }
            _ => anyhow::bail!("unknown argument {k}"),
        }
    }
    Ok(a)
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Site `i`'s scan at `t`.
fn scan(i: usize, cameras: usize, t: DateTime<Utc>, sequence: u64) -> RecordingStatus {
    let today = t.date_naive();
    let day_no = (t - start()).num_days();
    // Site i loses one day of recordings (someone deleted it) on day 3 + i % 20, for good.
    let deleted = (day_no >= 3 + (i % 20) as i64)
        .then(|| (start() + Span::days(3 + (i % 20) as i64) - Span::days(10)).date_naive());
    let oldest = (0..30)
        .rev()
        .map(|d| today - chrono::Days::new(d))
        .find(|d| Some(*d) != deleted)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(t, |d| d.and_utc());
    let step = u64::try_from((t - start()).num_minutes() / 5).unwrap_or(0);
    // Camera 3 of site i stops on day 1 + i % 25 at 10:00 and is back at 16:00.
    let stop_from = start() + Span::days(1 + (i % 25) as i64) + Span::hours(10);
    let stopped = t >= stop_from && t < stop_from + Span::hours(6);
    let files = |c: u64| 100 * 30 * 24 + step * (1 + c % 2);
    let mut status = StatusBuilder::new(t)
        .site(&format!("site-{i:05}"))
        .recorder("nvr-1")
        .technology(Technology::Digifort)
        .sequence(sequence)
        .spool_id("bench-spool")
        .zone("UTC")
        .oldest(oldest)
        .newest(t - Span::seconds(40))
        .cameras((1..=cameras).map(|c| format!("cam-{c:02}")))
        .files(
            (0..cameras as u64).map(files).sum(),
            (0..cameras as u64).map(|c| files(c) << 24).sum(),
        )
        .disk((2 << 40) - (step << 22) % (1 << 40), 8 << 40);
    if let Some(day) = deleted {
        status = status.missing_day(day);
    }
    if stopped {
        status = status.camera_newest("cam-03", stop_from);
    }
    let mut status = RecordingStatus {
        probe_version: "bench".into(),
        hostname: format!("site-{i:05}-nvr"),
        root_path: "D:\\Digifort\\Gravacoes".into(),
        scan_duration: Some(prost_types::Duration {
            seconds: 2,
            nanos: i32::try_from(step % 1000).unwrap_or(0) * 1_000_000,
        }),
        ..status.build()
    };
    // Every other camera writes files twice as fast.
    for (c, camera) in (1u64..).zip(&mut status.cameras) {
        camera.file_count = files(c);
        camera.total_bytes = files(c) << 24;
    }
    status
}

/// Bytes on disk under `dir`, as `du` counts them (allocated blocks).
fn disk_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let _ = std::fs::remove_dir_all(&a.dir);
    let clock = Clock::manual(start());
    // The prune pass is given the simulated time; the default `[history]` and `[rules]`.
    let config = CollectorConfig::default();
    let store = Store::open_as(&a.dir, config.cache_bytes(), a.compression)?;
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    let end = start() + Span::days(a.days);
    let began = Instant::now();
    let mut sequence = 0u64;
    let mut statuses = 0u64;
    let mut full_bytes = 0u64;
    let mut compact_time = Duration::ZERO;
    // Each pass's time and statuses the thinning step read, by simulated day: whether a pass
    // costs what arrived since the last one or grows with the history kept.
    let mut passes_by_day: Vec<Vec<(Duration, usize)>> = Vec::new();
    let mut thinned = 0usize;
    let mut idle_time = Duration::ZERO;
    let mut capped = 0usize;
    while clock.now() < end {
        let now = clock.now();
        sequence += 1;
        let mut pending = Vec::with_capacity(a.sites);
        for i in 0..a.sites {
            let s = scan(i, a.cameras, now, sequence);
            // What layout 1 stored: the whole entry under a key of site, time, sequence,
            // recorder and spool.
            let entry = HistoryEntry {
                status: Some(s.clone()),
                received_at: Some(to_timestamp(now)),
            };
            full_bytes += prost::Message::encoded_len(&entry) as u64
                + (s.site.len() + 18 + s.recorder.len() + s.spool_id.len()) as u64;
            pending.push(writer.submit(s).await?);
            statuses += 1;
        }
        for p in pending {
            p.await?.map_err(anyhow::Error::msg)?;
        }
        if a.thin && now.timestamp() % (a.pass_every_hours * 3600) == 0 && now > start() {
            let t = Instant::now();
            let done = vigia_collector::thin::compact(&store, &config, now, None)?;
            thinned += done.thinned;
            compact_time += t.elapsed();
            let day = usize::try_from((now - start()).num_days()).unwrap_or(0);
            if passes_by_day.len() <= day {
                passes_by_day.resize(day + 1, Vec::new());
            }
            passes_by_day[day].push((t.elapsed(), done.examined));
            if a.gc_idle {
                let t = Instant::now();
                capped += usize::from(!cleaner_idle()?);
                idle_time += t.elapsed();
            }
            if std::env::var_os("HL_TRACE").is_some() {
                store.flush()?;
                eprintln!(
                    "day {:.2} du {} KB",
                    (now - start()).num_minutes() as f64 / 1440.0,
                    disk_bytes(&a.dir)? / 1000
                );
            }
        }
        clock.advance(Duration::from_secs(300));
    }
    let ingest = began.elapsed();
    let replayed = if a.settle_minutes > 0 {
        store.flush()?;
        let d = disk_bytes(&a.dir)?;
        settle(&a, &store, &writer, &clock, &config, sequence).await?;
        Some(d)
    } else {
        None
    };
    writer.stop().await;
    store.flush()?;
    let mut logical = 0u64;
    let mut per_tree = Vec::new();
    let dbs = [("", store.db()), ("archive/", store.archive_db())];
    for (label, name, tree) in dbs.iter().flat_map(|(label, db)| {
        db.tree_names()
            .into_iter()
            .filter_map(move |n| Some((*label, n.clone(), db.open_tree(&n).ok()?)))
    }) {
        let mut n = 0u64;
        let mut bytes = 0u64;
        for kv in tree.iter() {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        logical += bytes;
        per_tree.push(format!(
            "{label}{}={}/{}B",
            String::from_utf8_lossy(&name),
            n,
            bytes
        ));
    }
    // What the history tree holds, by stored form.
    let (mut fulls, mut full_b, mut beats, mut beat_b, mut key_b) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut blocks, mut block_b, mut members) = (0u64, 0u64, 0u64);
    let hot = store.db().open_tree("history")?;
    let archived = store.archive_db().open_tree("history")?;
    for kv in hot.iter().chain(archived.iter()) {
        let (k, v) = kv?;
        key_b += k.len() as u64;
        if vigia_collector::block::is_block(&v) {
            blocks += 1;
            block_b += v.len() as u64;
            members += vigia_collector::block::decode(&v)?.len() as u64;
        } else if v.first() == Some(&0) {
            beats += 1;
            beat_b += v.len() as u64;
        } else {
            fulls += 1;
            full_b += v.len() as u64;
        }
    }
    let site_days = (a.sites as f64) * (a.days as f64);
    // The same records copied into a fresh sled folder: what sled takes for the live data alone,
    // without the space of removed records it has not reclaimed yet.
    let copy_dir = a.dir.with_extension("copy");
    let _ = std::fs::remove_dir_all(&copy_dir);
    let copy = sled::Config::new()
        .path(&copy_dir)
        .use_compression(a.compression)
        .open()?;
    copy.import(store.db().export());
    copy.flush()?;
    drop(copy);
    let copy = sled::Config::new()
        .path(vigia_collector::archive::dir(&copy_dir))
        .use_compression(true)
        .open()?;
    copy.import(store.archive_db().export());
    copy.flush()?;
    drop(copy);
    let copied = disk_bytes(&copy_dir)?;
    let _ = std::fs::remove_dir_all(&copy_dir);
    drop(store);
    let disk = disk_bytes(&a.dir)?;
    println!(
        "mode={} compression={} sites={} days={} cameras={} statuses={} ingest_s={:.1} compact_s={:.1} thinned={} gc_idle_s={:.1} gc_idle_capped={}",
        if a.thin { "thin" } else { "beats" },
        if a.compression { "on" } else { "off" },
        a.sites,
        a.days,
        a.cameras,
        statuses,
        ingest.as_secs_f64(),
        compact_time.as_secs_f64(),
        thinned,
        idle_time.as_secs_f64(),
        capped
    );
    if !passes_by_day.is_empty() {
        let last = passes_by_day.len() - 1;
        let days: Vec<String> = [1, 7, 10, 15, 20, 25, last]
            .iter()
            .filter(|d| **d <= last)
            .map(|d| {
                let mut ms: Vec<f64> = passes_by_day[*d]
                    .iter()
                    .map(|(t, _)| t.as_secs_f64() * 1000.0)
                    .collect();
                ms.sort_by(f64::total_cmp);
                let read: usize = passes_by_day[*d].iter().map(|(_, n)| n).sum();
                let n = passes_by_day[*d].len().max(1);
                format!(
                    "day {d}: {:.1} ms, {} read",
                    ms.get(ms.len() / 2).copied().unwrap_or(0.0),
                    read / n
                )
            })
            .collect();
        println!(
            "  a pass (median of the day's passes; statuses the thinning step read, mean): {}",
            days.join("; ")
        );
    }
    println!(
        "  per site-day: disk {:.1} KB (the live records copied to a fresh sled folder: {:.1} KB), logical {:.1} KB; every status in full (layout 1) logical {:.1} KB",
        disk as f64 / site_days / 1000.0,
        copied as f64 / site_days / 1000.0,
        logical as f64 / site_days / 1000.0,
        full_bytes as f64 / site_days / 1000.0
    );
    if let Some(d) = replayed {
        println!(
            "  on disk right after the replay {:.1} KB per site-day; after {} minutes at the real rate (above) {:.1} KB",
            d as f64 / site_days / 1000.0,
            a.settle_minutes,
            disk as f64 / site_days / 1000.0
        );
    }
    println!("  trees: {}", per_tree.join(" "));
    println!(
        "  history per site-day: {:.1} full statuses ({:.1} KB), {:.1} heartbeats ({:.1} KB), {:.1} blocks of {:.1} heartbeats ({:.1} KB), keys {:.1} KB",
        fulls as f64 / site_days,
        full_b as f64 / site_days / 1000.0,
        beats as f64 / site_days,
        beat_b as f64 / site_days / 1000.0,
        blocks as f64 / site_days,
        members as f64 / blocks.max(1) as f64,
        block_b as f64 / site_days / 1000.0,
        key_b as f64 / site_days / 1000.0
    );
    Ok(())
}

/// `--settle-minutes`: the collector after the replay at the real rate (each site every five
/// minutes, the prune pass every hour), printing its size on disk each minute: how much of the
/// replay's figure is sled not having had the time to give space back.
async fn settle(
    a: &Args,
    store: &Store,
    writer: &Writer,
    clock: &Clock,
    config: &CollectorConfig,
    mut sequence: u64,
) -> anyhow::Result<()> {
    let gap = Duration::from_secs(300) / u32::try_from(a.sites.max(1))?;
    let began = Instant::now();
    let mut next_print = Duration::ZERO;
    let mut i = 0usize;
    while began.elapsed() < Duration::from_secs(60 * a.settle_minutes) {
        if began.elapsed() >= next_print {
            store.flush()?;
            eprintln!(
                "settle {:>3} min: du {:.1} KB per site-day",
                next_print.as_secs() / 60,
                disk_bytes(&a.dir)? as f64 / (a.sites as f64 * a.days as f64) / 1000.0
            );
            next_print += Duration::from_secs(60);
        }
        tokio::time::sleep(gap).await;
        let before = clock.now();
        clock.advance(gap);
        if i == 0 {
            sequence += 1;
        }
        writer
            .submit(scan(i, a.cameras, clock.now(), sequence))
            .await?
            .await?
            .map_err(anyhow::Error::msg)?;
        i = (i + 1) % a.sites;
        if clock.now().timestamp() / 3600 != before.timestamp() / 3600 {
            vigia_collector::thin::compact(store, config, clock.now(), None)?;
        }
    }
    Ok(())
}

/// CPU time (ns) of sled's flusher thread ("log flusher"), which is also where sled 0.34 cleans
/// segments: for at most half of each second, after its flush.
fn flusher_cpu_ns() -> anyhow::Result<u64> {
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?.path();
        if std::fs::read_to_string(task.join("comm"))?.trim() == "log flusher" {
            let stat = std::fs::read_to_string(task.join("schedstat"))?;
            return Ok(stat.split_whitespace().next().unwrap_or("0").parse()?);
        }
    }
    anyhow::bail!("no sled flusher thread")
}

/// `--gc-idle on`: waits until sled's cleaner has nothing left to do (its thread idle for a
/// whole flush cycle), or 60 s; false when it was still busy then. Between two real hourly passes sled has an hour; the replay
/// gives it a fraction of a second, so without this wait the file grows with removed records
/// sled would have reclaimed in time (it reuses freed segments, but never shrinks the file
/// except from its end).
fn cleaner_idle() -> anyhow::Result<bool> {
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(60) {
        let before = flusher_cpu_ns()?;
        std::thread::sleep(Duration::from_millis(1050));
        if flusher_cpu_ns()?.saturating_sub(before) < 20_000_000 {
            return Ok(true);
        }
    }
    Ok(false)
}
