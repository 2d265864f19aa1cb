//! NOT_WRITING: files keep appearing but hold no video — the newest non-empty file is older than
//! `late_after` (or every file is empty) while the newest file is recent. LATE keeps meaning "no
//! new files at all". Per recorder, and per camera for the cameras the recorder-wide finding
//! does not already cover. Probes that do not track non-empty files are never judged by it
//! (their status has bytes but no newest non-empty time).

use super::view::RecorderView;
use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::NotWritingFacts;
use chrono::{DateTime, Utc};

fn judge(
    r: &RecorderView<'_>,
    camera: &str,
    files: u64,
    bytes: u64,
    newest: Option<DateTime<Utc>>,
    newest_nonempty: Option<DateTime<Utc>>,
) -> Option<Facts> {
    let newest = newest.filter(|_| files > 0)?;
    let stale = match newest_nonempty {
        Some(t) => r.clock.age(t) > r.rules.late_after,
        // Every file empty; with bytes counted, an older probe that does not track it.
        None => bytes == 0,
    };
    stale.then(|| {
        Facts::NotWriting(NotWritingFacts {
            camera: camera.to_string(),
            newest_nonempty: newest_nonempty.map(to_timestamp),
            newest_file: Some(to_timestamp(newest)),
        })
    })
}

/// The recorder-wide finding.
pub fn check_recorder(r: &RecorderView<'_>) -> Option<Facts> {
    let s = r.status;
    let nonempty = s
        .newest_nonempty_recording
        .as_ref()
        .and_then(crate::days::from_timestamp);
    judge(r, "", s.file_count, s.total_bytes, r.newest, nonempty)
}

/// One finding per camera whose files are empty while the camera still writes files; cameras
/// in `skip` (already stopped) are left out.
pub fn check_cameras(r: &RecorderView<'_>, skip: &[String]) -> Vec<Facts> {
    r.cameras
        .iter()
        .filter(|c| !skip.contains(&c.status.camera))
        .filter_map(|c| {
            judge(
                r,
                &c.status.camera,
                c.status.file_count,
                c.status.total_bytes,
                c.newest,
                c.newest_nonempty,
            )
        })
        .collect()
}
