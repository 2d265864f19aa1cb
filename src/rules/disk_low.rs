//! DISK_LOW: the recording volume has less free space than `disk_min_free` (bytes, or a share of
//! the volume). Clears when space is freed.

use super::view::RecorderView;
use crate::pb::verdict::Facts;
use crate::pb::DiskLowFacts;
use crate::units::{human_bytes, ByteSize};

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
            // Worded like the measured figures beside it ("500.0 MiB free of 2.0 TiB (minimum
            // 1.0 GiB)"), not in the exact form check-config prints a configured size.
            min_free: match r.rules.disk_min_free {
                ByteSize::Bytes(b) => human_bytes(b),
                percent => percent.to_string(),
            },
        })
    })
}
