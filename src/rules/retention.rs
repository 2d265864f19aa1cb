//! SHORT_RETENTION: fewer days with recordings than `min_retention_days` — the disk keeps less
//! than the contract promises. Per recorder and per camera (a camera keeping 5 days hides behind
//! others keeping 35); camera findings only when the recorder's own does not fire. Days after the
//! scan's day do not count.

use super::view::RecorderView;
use crate::pb::verdict::Facts;
use crate::pb::ShortRetentionFacts;

fn facts(camera: &str, days: u32, required: u32) -> Facts {
    Facts::ShortRetention(ShortRetentionFacts {
        camera: camera.to_string(),
        days,
        required,
    })
}

/// The recorder-wide finding.
pub fn check_recorder(r: &RecorderView<'_>) -> Option<Facts> {
    let required = r.rules.min_retention_days;
    let days = r.days_recorded();
    (r.has_files() && days < required).then(|| facts("", days, required))
}

/// One finding per camera below the minimum.
pub fn check_cameras(r: &RecorderView<'_>) -> Vec<Facts> {
    let required = r.rules.min_retention_days;
    r.cameras
        .iter()
        .filter(|c| c.status.file_count > 0 && c.days_recorded() < required)
        .map(|c| facts(&c.status.camera, c.days_recorded(), required))
        .collect()
}
