//! SCAN_ERROR: the folder could not be read fully (missing, unreadable, empty, partly read).
//! Names the root and the first error; clears when a scan reads the whole tree.

use super::view::RecorderView;
use crate::pb::verdict::Facts;
use crate::pb::{ScanErrorFacts, ScanOutcome};

/// The finding, if the walk did not go well.
pub fn check(r: &RecorderView<'_>) -> Option<Facts> {
    let s = r.status;
    match s.outcome() {
        ScanOutcome::Ok | ScanOutcome::Unspecified => None,
        outcome => Some(Facts::ScanError(ScanErrorFacts {
            outcome: outcome as i32,
            root_path: s.root_path.clone(),
            first_error: s.errors.first().cloned(),
            error_count: s.errors.len() as u64 + s.errors_omitted,
        })),
    }
}

/// True for outcomes where nothing below the root was seen, so absent cameras say nothing.
pub fn nothing_seen(status: &crate::pb::RecordingStatus) -> bool {
    matches!(
        status.outcome(),
        ScanOutcome::PathMissing | ScanOutcome::PermissionDenied | ScanOutcome::Empty
    )
}
