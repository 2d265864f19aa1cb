//! LATE: no new recording file for longer than `late_after` — the recorder stopped. Measured on
//! the clock that cannot overstate an age (see `clock`). Clears with a new file.

use super::view::RecorderView;
use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::LateFacts;

/// The finding, if the newest file is too old.
pub fn check(r: &RecorderView<'_>) -> Option<Facts> {
    let newest = r.newest.filter(|_| r.has_files())?;
    let age = r.clock.age(newest);
    (age > r.rules.late_after).then(|| {
        Facts::Late(LateFacts {
            newest_recording: Some(to_timestamp(newest)),
            age: prost_types::Duration::try_from(age).ok(),
            collector_clock: r.clock.on_collector_clock(),
        })
    })
}
