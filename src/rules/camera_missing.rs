//! CAMERA_MISSING: a camera the collector has seen at this recorder is absent from its latest
//! scan (its folder gone, its files aged out — a camera that died weeks ago and was overwritten).
//! Read from the collector's inventory; stays until the camera returns or an operator retires it.
//! Not judged when the scan saw nothing at all (SCAN_ERROR says why).

use crate::pb::verdict::Facts;
use crate::pb::{CameraMissingFacts, InventoryEntry, RecordingStatus};

/// One finding per known, unretired camera of `status.recorder` that the status lacks.
pub fn check(status: &RecordingStatus, inventory: &[InventoryEntry]) -> Vec<Facts> {
    inventory
        .iter()
        .filter(|e| e.recorder == status.recorder && !e.camera.is_empty())
        .filter(|e| e.retired_at.is_none())
        // A folder left without recordings (its files aged out) is a camera gone.
        .filter(|e| {
            !status
                .cameras
                .iter()
                .any(|c| c.camera == e.camera && c.file_count > 0)
        })
        .map(|e| {
            Facts::CameraMissing(CameraMissingFacts {
                camera: e.camera.clone(),
                last_seen: e.last_seen,
            })
        })
        .collect()
}
