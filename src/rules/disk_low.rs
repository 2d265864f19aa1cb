//! DISK_LOW: the recording volume has less free space than `disk_min_free` (bytes, or a share of
//! the volume). Clears when space is freed.

use super::view::RecorderView;
use crate::pb::verdict::Facts;
use crate::pb::DiskLowFacts;

/// The finding, if the volume is nearly full.
pub fn check(r: &RecorderView<'_>) -> Option<Facts> {
    let s = r.status;
    if s.disk_total_bytes == 0 {
        return None;
    }
    let min = r.rules.disk_min_free.of_total(s.disk_total_bytes);
    (s.disk_free_bytes < min).then(|| {
        Facts::DiskLow(DiskLowFacts {
            free_bytes: s.disk_free_bytes,
            total_bytes: s.disk_total_bytes,
            min_free_bytes: min,
            min_free: r.rules.disk_min_free.to_string(),
        })
    })
}
