//! GAPS: a day without recording between the oldest and the newest recorded day — a recorder or
//! camera that was down and came back. Per recorder (its recorded days) and per camera (its own
//! span, from its day bitmap), a camera naming only the days its recorder did not already
//! name. Never a day after the scan's day (those are CLOCK_SKEW's evidence).

use super::view::RecorderView;
use crate::days::{format_day, missing_days};
use crate::pb::verdict::Facts;
use crate::pb::GapsFacts;
use chrono::NaiveDate;

/// How many missing days a finding lists (the count says the rest).
pub const DAYS_LISTED: usize = 31;

/// Bound on the days walked in one span (a corrupt 1970..2099 span must stay cheap).
const WALK_LIMIT: usize = 10_000;

fn facts(camera: &str, missing: &[NaiveDate]) -> Facts {
    Facts::Gaps(GapsFacts {
        camera: camera.to_string(),
        missing_count: missing.len() as u32,
        missing_days: missing
            .iter()
            .take(DAYS_LISTED)
            .map(|d| format_day(*d))
            .collect(),
    })
}

/// The recorder's missing days.
pub fn recorder_missing(r: &RecorderView<'_>) -> Vec<NaiveDate> {
    if !r.has_files() {
        return Vec::new();
    }
    missing_days(&r.days, WALK_LIMIT)
}

/// The recorder-wide finding, from its missing days.
pub fn check_recorder(missing: &[NaiveDate]) -> Option<Facts> {
    (!missing.is_empty()).then(|| facts("", missing))
}

/// One finding per camera with missing days of its own (not among `recorder_missing`).
pub fn check_cameras(r: &RecorderView<'_>, recorder_missing: &[NaiveDate]) -> Vec<Facts> {
    r.cameras
        .iter()
        .filter_map(|c| {
            let days = c.days.as_ref()?;
            let own: Vec<NaiveDate> = missing_days(days, WALK_LIMIT)
                .into_iter()
                .filter(|d| recorder_missing.binary_search(d).is_err())
                .collect();
            (!own.is_empty()).then(|| facts(&c.status.camera, &own))
        })
        .collect()
}
