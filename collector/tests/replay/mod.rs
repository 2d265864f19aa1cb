//! The stream the history tests replay (thinning, blocks): site `loja`'s recorders scanned every
//! 5 minutes from a fixed start, with new recordings on every camera at every scan and a rolling
//! 30-day window, written through the collector's own `Writer` on a manual clock.

use chrono::{DateTime, Duration as Span, Utc};
use std::sync::Arc;
use vigia::pb::{RecordingStatus, Technology};
use vigia::status_builder::StatusBuilder;
use vigia_collector::store::Store;
use vigia_collector::writer::Writer;
use vigia_collector::Clock;

/// When the replayed stream starts.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Scans since the start: what the counts and the disk move by.
fn step(t: DateTime<Utc>) -> u64 {
    u64::try_from((t - start()).num_minutes() / 5).unwrap_or(0)
}

/// `recorder`'s scan at `t` before the test's own changes (a camera stopped, a day deleted...).
pub fn scan(recorder: &str, t: DateTime<Utc>, sequence: u64) -> StatusBuilder {
    let oldest = (t.date_naive() - chrono::Days::new(29))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let step = step(t);
    StatusBuilder::new(t)
        .site("loja")
        .recorder(recorder)
        .technology(Technology::Digifort)
        .sequence(sequence)
        .spool_id("spool")
        .zone("UTC")
        .oldest(oldest)
        .newest(t - Span::seconds(30))
        .cameras((1..=4).map(|i| format!("cam-{i}")))
        .files(40_000 + 4 * step, (40_000 + 4 * step) << 20)
        .disk((2 << 40) - (step << 20), 4 << 40)
}

/// The status of a scan at `t`, its duration moving too.
pub fn built(scan: StatusBuilder, t: DateTime<Utc>) -> RecordingStatus {
    RecordingStatus {
        scan_duration: Some(prost_types::Duration {
            seconds: 1,
            nanos: i32::try_from(step(t) % 1000).unwrap_or(0) * 1000,
        }),
        ..scan.build()
    }
}

/// The store in `dir` and its writer on `clock`.
pub fn open(dir: &std::path::Path, clock: &Clock) -> (Store, Writer) {
    let store = Store::open(dir, 16 << 20).expect("open");
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    (store, writer)
}
