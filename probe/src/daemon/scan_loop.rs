//! The scanner task: on every tick of the schedule, walk the recorders on a blocking thread,
//! write each status to the spool, and wake the sender.

use super::{Shared, StatusSource};
use crate::schedule::Ticker;
use crate::spool::SpoolError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// What one recorder's scan gave, for the log line written once back on the async side (so it
/// goes wherever the daemon's other logs go).
pub(super) struct Spooled {
    recorder: String,
    outcome: &'static str,
    files: u64,
    days: u32,
    newest: String,
    elapsed: Duration,
    pub(super) result: Result<crate::spool::Pushed, SpoolError>,
}

/// Scans once and writes the statuses to the spool (blocking); returns the source and what
/// was spooled.
pub(super) fn scan_and_spool<S: StatusSource>(
    shared: &Shared,
    mut source: S,
    interval: Duration,
) -> (S, Vec<Spooled>) {
    let started = Instant::now();
    let statuses = source.scan();
    let mut out = Vec::with_capacity(statuses.len());
    for mut status in statuses {
        if status.site.is_empty() {
            status.site = shared.site.clone();
        }
        if status.probe_version.is_empty() {
            status.probe_version = env!("CARGO_PKG_VERSION").to_string();
        }
        if status.time_zone.is_empty() {
            status.time_zone = shared.tz_name.clone();
        }
        if status.observed_at.is_none() {
            status.observed_at = Some(vigia::days::to_timestamp(chrono::Utc::now()));
        }
        status.report_interval = prost_types::Duration::try_from(interval).ok();
        let elapsed = status
            .scan_duration
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or_else(|| started.elapsed());
        let newest = status
            .newest_recording
            .as_ref()
            .and_then(vigia::days::from_timestamp)
            .map_or_else(|| "none".to_string(), |t| t.to_rfc3339());
        let (recorder, outcome, files, days) = (
            status.recorder.clone(),
            status.outcome().as_str_name(),
            status.file_count,
            status.days_recorded,
        );
        let result = shared.spool().push(status);
        if matches!(result, Err(SpoolError::Invalid { .. })) {
            shared.stats.invalid.fetch_add(1, Ordering::Relaxed);
        }
        out.push(Spooled {
            recorder,
            outcome,
            files,
            days,
            newest,
            elapsed,
            result,
        });
    }
    source.after_scan();
    shared.stats.set_depth(&shared.spool());
    shared.stats.scans.fetch_add(1, Ordering::Relaxed);
    shared.spooled.notify_one();
    (source, out)
}

/// One INFO line per recorder scanned; returns the sequences spooled.
pub(super) fn log_scan(spooled: &[Spooled], depth: u64) -> Vec<u64> {
    let mut new = Vec::with_capacity(spooled.len());
    for s in spooled {
        match &s.result {
            Ok(p) => {
                info!(
                    recorder = %s.recorder,
                    outcome = %s.outcome,
                    files = s.files,
                    days = s.days,
                    newest = %s.newest,
                    elapsed_ms = s.elapsed.as_millis() as u64,
                    sequence = p.sequence,
                    spool_depth = depth,
                    "scan done"
                );
                if p.dropped > 0 {
                    warn!(
                        dropped = p.dropped,
                        "spool full: dropped the oldest statuses; the first status written when there is room again reports how many"
                    );
                }
                new.push(p.sequence);
            }
            Err(SpoolError::Invalid { reason, .. }) => error!(
                recorder = %s.recorder,
                field = reason.field.as_str(),
                reason = %reason,
                "status not spooled: the collector would refuse it on every reconnect; counted as dropped (the next status reports it)"
            ),
            Err(e) => error!(
                recorder = %s.recorder,
                error = %e,
                "status lost: cannot write it to the spool"
            ),
        }
    }
    new
}

pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the daemon object is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Scans at every slot until stopped; a scan in progress is never started twice. On stop, a
/// walk under way may finish within `grace` (its statuses are spooled); past that it is left
/// to finish on its own.
pub(super) async fn scan_loop<S: StatusSource>(
    shared: Arc<Shared>,
    source: S,
    mut ticker: Ticker,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut source = Some(source);
    loop {
        let interval = tokio::select! {
            i = ticker.tick() => i,
            _ = stopped(&mut stop) => return,
        };
        let Some(src) = source.take() else { return };
        let sh = shared.clone();
        let mut scan = tokio::task::spawn_blocking(move || scan_and_spool(&sh, src, interval));
        let (result, stopping) = tokio::select! {
            r = &mut scan => (Some(r), false),
            _ = stopped(&mut stop) => (tokio::time::timeout(grace, &mut scan).await.ok(), true),
        };
        match result {
            Some(Ok((src, spooled))) => {
                log_scan(&spooled, shared.stats.spool_depth());
                source = Some(src);
            }
            Some(Err(e)) => {
                error!(error = %e, "the scan crashed; scanning stops");
                return;
            }
            None => {
                warn!("stopping while a scan is still walking; its statuses are spooled only if it ends before the process does");
                return;
            }
        }
        if stopping {
            return;
        }
    }
}
