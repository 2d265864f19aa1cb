//! CAMERA_LATE: one camera's newest file is older than `late_after` while the recorder records
//! (the dead camera hiding behind live ones). One finding per camera; none when the whole
//! recorder is LATE, which says it already.

use super::view::RecorderView;
use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::CameraLateFacts;

/// One finding per stopped camera.
pub fn check(r: &RecorderView<'_>) -> Vec<Facts> {
    r.cameras
        .iter()
        .filter_map(|c| {
            let newest = c.newest?;
            let age = r.clock.age(newest);
            (age > r.rules.late_after).then(|| {
                Facts::CameraLate(CameraLateFacts {
                    camera: c.status.camera.clone(),
                    newest_recording: Some(to_timestamp(newest)),
                    age: prost_types::Duration::try_from(age).ok(),
                })
            })
        })
        .collect()
}
