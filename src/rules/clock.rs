//! Which clock a recording's age is measured on. The probe's clock can be wrong; so can the
//! recorder's. An age is taken from the earlier of the scan (probe's clock) and the arrival
//! (collector's clock): a probe running ahead cannot make healthy recordings look LATE, and a
//! probe running behind delays LATE by its error at most (and shows as CLOCK_SKEW through the
//! recordings dated after the scan). Days after the scan's own day are evidence of a wrong
//! clock, never recorded days or gaps.

use crate::days::{from_timestamp, local_date};
use crate::pb::RecordingStatus;
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Duration;

/// The instants one status is judged against.
#[derive(Debug, Clone, Copy)]
pub struct ScanClock {
    /// When the probe says it scanned.
    pub observed: DateTime<Utc>,
    /// When the collector received it.
    pub received: DateTime<Utc>,
    /// The earlier of the two: "now" for the recordings of this scan.
    pub reference: DateTime<Utc>,
    tolerance: Duration,
}

impl ScanClock {
    /// The clock of one status; a status without `observed_at` is taken as observed on arrival.
    pub fn new(status: &RecordingStatus, received: DateTime<Utc>, tolerance: Duration) -> Self {
        let observed = status
            .observed_at
            .as_ref()
            .and_then(from_timestamp)
            .unwrap_or(received);
        ScanClock {
            observed,
            received,
            reference: observed.min(received),
            tolerance,
        }
    }

    /// How old a recording was at the scan, on the clock that cannot overstate it.
    pub fn age(&self, t: DateTime<Utc>) -> Duration {
        span(self.reference, t)
    }

    /// True when the age is the collector's because the probe's clock ran ahead.
    pub fn on_collector_clock(&self) -> bool {
        self.probe_ahead().is_some()
    }

    /// How far the probe's clock is ahead of the collector's, beyond the tolerance.
    pub fn probe_ahead(&self) -> Option<Duration> {
        let ahead = span(self.observed, self.received);
        (ahead > self.tolerance).then_some(ahead)
    }

    /// How far a recording is dated after the scan, beyond the tolerance.
    pub fn after_scan(&self, t: DateTime<Utc>) -> Option<Duration> {
        let ahead = span(t, self.observed);
        (ahead > self.tolerance).then_some(ahead)
    }

    /// The last local day that recordings of this scan can have (the scan's own day, with the
    /// tolerance so that a file written at 00:00:30 by a clock a minute ahead is no evidence).
    pub fn last_possible_day(&self, tz: crate::Tz) -> NaiveDate {
        let t = self.reference + chrono::Duration::from_std(self.tolerance).unwrap_or_default();
        local_date(t, tz)
    }
}

/// `later - earlier`, zero when negative.
pub fn span(later: DateTime<Utc>, earlier: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}
