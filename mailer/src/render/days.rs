//! The span of a coverage strip and the day keys (`YYYY-MM-DD` as a number) that both
//! [`super::rows`] (keeping only the days a strip can show) and [`super::strip`] (drawing them)
//! read: a module of its own below both, so neither imports the other in both directions.

/// Days in a coverage strip.
pub const STRIP_DAYS: u32 = 30;

/// `YYYY-MM-DD` as the number `YYYYMMDD` (same order), without a calendar: the recorded days of
/// 10,000 recorders are read every morning. `None` for anything else.
pub(super) fn day_key(s: &str) -> Option<u32> {
    day_key_bytes(s.as_bytes())
}

/// [`day_key`] of the day's bytes as the wire carries them.
pub(super) fn day_key_bytes(b: &[u8]) -> Option<u32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let mut n = 0u32;
    for &c in b[..4].iter().chain(&b[5..7]).chain(&b[8..10]) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}
