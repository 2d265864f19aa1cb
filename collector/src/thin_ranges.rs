//! Which history a pass's deletion step (`crate::thin`) reads: only what can have changed since
//! the last pass that finished it, so an hourly pass costs an hour or two of each site's
//! history instead of everything before the watermark (at 10,000 sites and 90 days that was
//! minutes of decoding every hour, growing with the history kept, not with what arrived).
//!
//! After a finished pass every status before its watermark `M0` is thinned by the rules of
//! that pass, with daily buckets before its daily line `D0`. Under the next pass's `(M, D)` a
//! status kept then can only become removable if it is
//! - at most two hours before `M0` or after it (it may have been kept as one of its
//!   recorder's two latest before `M0`, or as the latest report of lost statuses, which newer
//!   ones now replace), or
//! - in the day of `D0` or after it and before `D` (hourly buckets becoming daily), or up to
//!   `REBASE` before that day (a base no longer named once that day is thinned).
//!
//! So the step reads those two spans, whole hours and days (a bucket is never cut). A status
//! between them is left as it is: what that can over-keep is a recorder's two statuses before
//! a silence that began over two hours before `M0` (or those of a recorder reporting less
//! often than hourly), or a superseded report of lost statuses older than that, until the
//! daily line reaches them; a few statuses, never one a full pass would remove. Heartbeats in the gap
//! between the spans may name bases in the older span; their bases are protected
//! ([`ThinRanges::base_guards`]). With no record (a store from before, a pass stopped by its
//! budget), or a watermark that went back, the step reads everything before the watermark.
//!
//! The record, beside the watermark in the `thinned` tree: key `site \0`, value `M0` then `D0`,
//! µs, 8 bytes each (big-endian), written once the site's deletions are applied. A pass killed
//! before writing it runs the same spans again (deletion is idempotent).
//!
//! Beside it, `site \0fold`: the watermark up to which the site's archive days were folded by
//! the last pass that finished folding (`crate::fold` reads only what came after, and the
//! windows it moved into). A record too short to read counts as none.

use crate::store::{prefix, Store, StoreError};

/// How far before the last watermark its "latest before" statuses are looked for: two reports
/// of a recorder reporting every hour or more often.
const BEFORE_MARK_US: u64 = 2 * HOUR_US;
use crate::history_scan::{DAY_US, HOUR_US};
use crate::store::REBASE_US;

/// The spans `[lo, hi)` (µs, arrival) one pass's deletion reads, oldest first, disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThinRanges {
    /// The spans.
    pub spans: Vec<(u64, u64)>,
}

impl ThinRanges {
    /// The spans for a pass at watermark `mark` and daily line `daily`, after the pass recorded
    /// as `done` (`None`: everything before `mark`).
    pub fn new(done: Option<(u64, u64)>, mark: u64, daily: u64) -> Self {
        let all = Self {
            spans: vec![(0, mark)],
        };
        let Some((m0, d0)) = done else { return all };
        if m0 > mark {
            return all;
        }
        let whole = |t: u64| {
            if t < daily {
                t - t % DAY_US
            } else {
                t - t % HOUR_US
            }
        };
        let recent = (whole(m0.saturating_sub(BEFORE_MARK_US)), mark);
        let daily_hi = daily.min(mark);
        // A day before too: thinning a day to one status frees bases up to REBASE before it.
        let crossing = (whole(d0.min(daily_hi).saturating_sub(REBASE_US)), daily_hi);
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for (lo, hi) in [crossing, recent] {
            if lo >= hi {
                continue;
            }
            match spans.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => spans.push((lo, hi)),
            }
        }
        Self { spans }
    }

    /// The gaps between spans whose heartbeats may name a base inside the span before them:
    /// `[hi, min(hi + rebase, next lo))` after each span but the last (after the last, the
    /// caller reads past the watermark itself).
    pub fn base_guards(&self, rebase_us: u64) -> Vec<(u64, u64)> {
        self.spans
            .windows(2)
            .map(|w| (w[0].1, w[0].1.saturating_add(rebase_us).min(w[1].0)))
            .filter(|(lo, hi)| lo < hi)
            .collect()
    }
}

/// The `(watermark, daily line)` (µs) of the site's last pass that finished its deletions.
pub(crate) fn done(store: &Store, site: &str) -> Result<Option<(u64, u64)>, StoreError> {
    Ok(read(store, &prefix(site))?.and_then(|v| Some((word(&v, 0)?, word(&v, 1)?))))
}

/// Records that the site's deletions up to `mark` with daily buckets before `daily` are applied.
pub(crate) fn set_done(store: &Store, site: &str, mark: u64, daily: u64) -> Result<(), StoreError> {
    write(store, &prefix(site), &[mark, daily])
}

/// The `days_before` (µs) of the site's last pass that finished folding its archive
/// (`crate::fold`): the archive's windows before that day are one record each.
pub(crate) fn folded_to(store: &Store, site: &str) -> Result<Option<u64>, StoreError> {
    Ok(read(store, &fold_key(site))?.and_then(|v| word(&v, 0)))
}

/// Records that the site's archive is folded for `days_before`.
pub(crate) fn set_folded_to(store: &Store, site: &str, days_before: u64) -> Result<(), StoreError> {
    write(store, &fold_key(site), &[days_before])
}

fn fold_key(site: &str) -> Vec<u8> {
    [prefix(site).as_slice(), b"fold"].concat()
}

fn read(store: &Store, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
    store.thinned.get(key).map_err(|e| store.err(e))
}

fn write(store: &Store, key: &[u8], words: &[u64]) -> Result<(), StoreError> {
    let v: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    store.thinned.insert(key, v).map_err(|e| store.err(e))?;
    Ok(())
}

/// The `i`-th big-endian u64 of a record; `None` when the record is too short (a damaged one
/// is then no record at all: the pass reads everything, as for a store from before).
fn word(v: &[u8], i: usize) -> Option<u64> {
    let b = v.get(i * 8..i * 8 + 8)?;
    <[u8; 8]>::try_from(b).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_790_000_000 * 1_000_000;

    #[test]
    fn without_a_record_everything_before_the_mark() {
        assert_eq!(
            ThinRanges::new(None, T, T - 23 * DAY_US).spans,
            vec![(0, T)]
        );
        // A watermark that went back (a clock set back): all again.
        let r = ThinRanges::new(Some((T + 1, T - 23 * DAY_US)), T, T - 23 * DAY_US);
        assert_eq!(r.spans, vec![(0, T)]);
    }

    #[test]
    fn an_hour_after_the_last_pass_reads_two_short_spans() {
        let (m0, d0) = (T - 30 * 60_000_000, T - 23 * DAY_US - 30 * 60_000_000);
        let (m, d) = (m0 + HOUR_US, d0 + HOUR_US);
        let r = ThinRanges::new(Some((m0, d0)), m, d);
        assert_eq!(r.spans.len(), 2);
        let (c, n) = (r.spans[0], r.spans[1]);
        // Whole days crossing the daily line, whole hours from the last mark's.
        let from = d0 - REBASE_US;
        assert_eq!(c, (from - from % DAY_US, d));
        let from = m0 - BEFORE_MARK_US;
        assert_eq!(n, (from - from % HOUR_US, m));
        let inside = |t: u64| r.spans.iter().any(|(lo, hi)| (*lo..*hi).contains(&t));
        assert!(inside(m0) && inside(d0) && inside(m0 - 2 * HOUR_US));
        assert!(!inside(m0 - 4 * HOUR_US) && !inside(d + HOUR_US));
        let guards = r.base_guards(REBASE_US);
        assert_eq!(guards, vec![(d, d + 24 * HOUR_US)]);
    }

    #[test]
    fn a_short_record_is_no_record() {
        let v: Vec<u8> = [7u64, 9].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!((word(&v, 0), word(&v, 1)), (Some(7), Some(9)));
        assert_eq!(word(&v[..12], 1), None);
        assert_eq!(word(&[], 0), None);
    }

    #[test]
    fn spans_that_meet_are_one() {
        let (m0, d0) = (T, T - HOUR_US);
        let r = ThinRanges::new(Some((m0, d0)), T + HOUR_US, T);
        let day_before = T - T % DAY_US - DAY_US;
        assert_eq!(r.spans, vec![(day_before, T + HOUR_US)]);
        assert!(r.base_guards(24 * HOUR_US).is_empty());
        // The daily line past the watermark (hourly_for below full_for): bounded by the mark.
        let r = ThinRanges::new(Some((m0, m0 + DAY_US)), m0 + HOUR_US, m0 + 2 * DAY_US);
        assert_eq!(r.spans, vec![(day_before, m0 + HOUR_US)]);
    }
}
