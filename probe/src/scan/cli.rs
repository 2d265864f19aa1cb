//! The one-shot `scan` and `check-config` commands: what a site's IT person runs to see what the
//! probe sees, without any collector.

use super::{json, Scanner, Technology};
use crate::config::ProbeConfig;
use anyhow::Context;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use vigia::exit_codes::ExitCode as Exit;
use vigia::pb::{RecordingStatus, ScanOutcome};

/// `vigia-probe scan`: scans every recorder once and prints the statuses. `cache` (or the
/// config's `scan.cache`) makes the scan incremental and is updated afterwards.
pub fn scan_command(
    config: &ProbeConfig,
    json: bool,
    cache: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let cache = cache.or(config.scan.cache.as_deref());
    let mut scanner = match cache {
        Some(path) => Scanner::with_cache_file(config, path),
        None => Scanner::new(config),
    };
    let statuses = scanner.scan_all();
    // The figures are printed even when the cache cannot be written: they are right, only the
    // next scan will be a full one. The exit code still says something went wrong.
    let saved = match cache {
        Some(path) => scanner
            .save_cache()
            .with_context(|| format!("writing the scan cache {}", path.display())),
        None => Ok(()),
    };
    let out = if json {
        let mut s = serde_json::to_string_pretty(&json::statuses(&statuses))
            .context("encoding the statuses as JSON")?;
        s.push('\n');
        s
    } else {
        render_table(&statuses, scanner.tz())
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    saved?;
    // The process exits right after: freeing every folder's entry (thousands on a tree of
    // many small folders) would only delay that, by about a millisecond.
    std::mem::forget(statuses);
    std::mem::forget(scanner);
    Ok(Exit::Success.into())
}

fn local(t: &Option<prost_types::Timestamp>, tz: vigia::Tz) -> String {
    t.as_ref()
        .and_then(vigia::days::from_timestamp)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn outcome_word(o: i32) -> &'static str {
    match ScanOutcome::try_from(o) {
        Ok(ScanOutcome::Ok) => "ok",
        Ok(ScanOutcome::PathMissing) => "path-missing",
        Ok(ScanOutcome::PermissionDenied) => "permission-denied",
        Ok(ScanOutcome::Partial) => "partial",
        Ok(ScanOutcome::Empty) => "empty",
        _ => "unknown",
    }
}

fn technology_word(t: i32) -> &'static str {
    use vigia::pb::Technology as T;
    match T::try_from(t) {
        Ok(T::Intelbras) => Technology::Intelbras.name(),
        Ok(T::Digifort) => Technology::Digifort.name(),
        Ok(T::Ivms) => Technology::Ivms.name(),
        Ok(T::Generic) => Technology::Generic.name(),
        _ => "unknown",
    }
}

/// The table: one line per recorder like the old email row (site, technology, oldest, newest,
/// days), then one indented line per camera, then the errors; times in the probe's zone.
pub fn render_table(statuses: &[RecordingStatus], tz: vigia::Tz) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<12} {:<10} {:<19} {:<19} {:>5} {:>9} {:>10}  OUTCOME",
        "SITE", "RECORDER", "TECHNOLOGY", "OLDEST", "NEWEST", "DAYS", "FILES", "SIZE"
    );
    for s in statuses {
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<10} {:<19} {:<19} {:>5} {:>9} {:>10}  {}",
            s.site,
            s.recorder,
            technology_word(s.technology),
            local(&s.oldest_recording, tz),
            local(&s.newest_recording, tz),
            s.days_recorded,
            s.file_count,
            vigia::units::human_bytes(s.total_bytes),
            outcome_word(s.outcome),
        );
        for c in &s.cameras {
            let _ = writeln!(
                out,
                "{:<16} {:<12} {:<10} {:<19} {:<19} {:>5} {:>9} {:>10}",
                "",
                format!("  {}", c.camera),
                "camera",
                local(&c.oldest_recording, tz),
                local(&c.newest_recording, tz),
                c.days_recorded,
                c.file_count,
                vigia::units::human_bytes(c.total_bytes),
            );
        }
        for e in &s.errors {
            let _ = writeln!(out, "  error: {}: {}", e.path, e.reason);
        }
        if s.errors_omitted > 0 {
            let _ = writeln!(out, "  ... and {} more error(s)", s.errors_omitted);
        }
        if s.disk_total_bytes > 0 {
            let _ = writeln!(
                out,
                "  disk: {} free of {} | scanned in {} ms | zone {}",
                vigia::units::human_bytes(s.disk_free_bytes),
                vigia::units::human_bytes(s.disk_total_bytes),
                s.scan_duration
                    .as_ref()
                    .map_or(0, |d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000),
                s.time_zone
            );
        }
    }
    out
}

/// What `check-config` prints: the site, the zone, each recorder's layout and filters.
pub fn describe(config: &ProbeConfig) -> String {
    let mut out = String::new();
    let tz = config.tz();
    let _ = writeln!(out, "configuration loaded");
    let _ = writeln!(out, "site: {}", config.site);
    let _ = writeln!(
        out,
        "time zone: {}{}",
        tz.name(),
        if config.timezone.is_none() {
            " (the system's)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "recorders: {}", config.recorders.len());
    for r in &config.recorders {
        let exists = match std::fs::metadata(&r.path) {
            Ok(m) if m.is_dir() => "found",
            Ok(_) => "NOT A FOLDER",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "MISSING",
            Err(_) => "UNREADABLE",
        };
        let _ = writeln!(
            out,
            "  - {} ({}): {} [{}]",
            r.id,
            r.technology.name(),
            r.path.display(),
            exists
        );
        let _ = writeln!(out, "      layout: {}", r.technology.layout());
        let exts = r.effective_extensions().map_or_else(
            || "every file".to_string(),
            |e| format!(".{}", e.join(", .")),
        );
        let _ = writeln!(out, "      counts: {exts}");
        if let Some(d) = r.camera_depth {
            let _ = writeln!(out, "      camera: folder level {d}");
        }
        if r.follow_links {
            let _ = writeln!(out, "      follows symbolic links (loops are reported)");
        }
    }
    let _ = writeln!(
        out,
        "scan: {} thread(s), hot window {}, cache {}",
        config.scan.thread_count(),
        vigia::units::duration::format(&config.scan.hot_window),
        config
            .scan
            .cache
            .as_ref()
            .map_or_else(|| "none".to_string(), |p| p.display().to_string())
    );
    out
}
