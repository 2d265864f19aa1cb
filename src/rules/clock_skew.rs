//! CLOCK_SKEW: a clock is wrong — the probe's ahead of the collector's, a recording dated after
//! the scan, recordings before 2000 (a reset recorder clock), or recorded days after the scan's
//! own day. One finding per recorder carrying every piece of evidence.

use super::view::RecorderView;
use crate::days::{format_day, to_timestamp};
use crate::pb::verdict::Facts;
use crate::pb::ClockSkewFacts;

/// Recordings dated before this are taken as a reset recorder clock.
const EARLIEST_PLAUSIBLE_UNIX: i64 = 946_684_800; // 2000-01-01T00:00:00Z

/// The finding, if any clock evidence is found.
pub fn check(r: &RecorderView<'_>) -> Option<Facts> {
    let mut f = ClockSkewFacts {
        probe_ahead: r
            .clock
            .probe_ahead()
            .and_then(|d| prost_types::Duration::try_from(d).ok()),
        ..Default::default()
    };
    if let Some(newest) = r.newest {
        if let Some(ahead) = r.clock.after_scan(newest) {
            f.newest_recording = Some(to_timestamp(newest));
            f.newest_ahead = prost_types::Duration::try_from(ahead).ok();
        }
    }
    if let Some(oldest) = r.oldest {
        if oldest.timestamp() < EARLIEST_PLAUSIBLE_UNIX && r.has_files() {
            f.implausible_oldest = Some(to_timestamp(oldest));
        }
    }
    f.future_days = r.future_days.iter().map(|d| format_day(*d)).collect();
    let any = f.probe_ahead.is_some()
        || f.newest_recording.is_some()
        || f.implausible_oldest.is_some()
        || !f.future_days.is_empty();
    any.then_some(Facts::ClockSkew(f))
}
