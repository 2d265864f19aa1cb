//! DATA_DROPPED: the probe's spool overflowed while it could not deliver, and statuses were
//! lost (the history has a hole; the current state is still known). Site-wide, from the drops
//! the collector recorded; shown for a day after the report, then it clears by itself.

use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::DataDroppedFacts;
use chrono::{DateTime, Utc};

/// How long a report of lost statuses stays a finding.
pub const SHOWN_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The finding, if statuses were reported lost within the last day.
pub fn check(last_drop: Option<(u64, DateTime<Utc>, u64)>, now: DateTime<Utc>) -> Option<Facts> {
    let (count, at, total) = last_drop?;
    (count > 0 && now - at < SHOWN_FOR).then(|| {
        Facts::DataDropped(DataDroppedFacts {
            count,
            reported_at: Some(to_timestamp(at)),
            total,
        })
    })
}
