//! Folding a site's heartbeats into blocks (`crate::block`), part of the hourly compaction pass:
//! each hour that ended at least [`LAG`] ago becomes one record, and each day entirely before
//! the thinning watermark (thinned already: `crate::thin`) one record. The ack path writes
//! one record per status as before; only this pass rewrites them.
//!
//! Left as records of their own: full statuses (the bases heartbeats name, read by key) and
//! what a `latest` pointer names (read by key; a pointer only ever moves to a newer status, so a
//! status is never named again once folded). Each window is replaced in one sled batch, so a
//! pass stopped anywhere leaves every status exactly once, and the next pass folds the rest.

use crate::history_scan::{key_at, key_time, DAY_US};
use crate::store::{prefix, Store, StoreError};

/// How long after an hour ends it is folded: statuses arrive at the collector's clock, so
/// nothing is written into an hour once it is past (a clock set back by more is still read
/// right: an hour holding a block and records is folded again).
pub const LAG: std::time::Duration = std::time::Duration::from_secs(3600);

const HOUR_US: u64 = 3_600_000_000;

/// The key of the block of the window starting at `us`: an empty recorder, which no status
/// has (names are validated), so it never collides with a status's key.
pub(crate) fn block_key(pre: &[u8], us: u64) -> Vec<u8> {
    let mut k = key_at(pre, us);
    k.extend_from_slice(&0u64.to_be_bytes());
    k.push(0);
    k
}

/// The window a status received at `t` folds into: its day when the day ended before
/// `days_before`, else its hour.
fn window(t: u64, days_before: u64) -> (u64, u64) {
    let day = t - t % DAY_US;
    if day.saturating_add(DAY_US) <= days_before {
        (day, DAY_US)
    } else {
        (t - t % HOUR_US, HOUR_US)
    }
}

/// A record of a window: whether it is a block, or a heartbeat not named by `latest`.
struct Record {
    key: Vec<u8>,
    value: sled::IVec,
    block: bool,
}

/// Folds `site`'s windows that ended before `before` (µs): hours, days before `days_before`,
/// leaving the records `named` by `latest` (`Store::named_by_latest`) as they are.
/// Returns how many records were folded away. `budget` bounds them (a test stops a pass
/// mid-way with it; `None` in production): no window is folded once it is spent.
pub fn fold(
    store: &Store,
    site: &str,
    (before, days_before): (u64, u64),
    named: &std::collections::HashSet<Vec<u8>>,
    budget: &mut Option<usize>,
) -> Result<usize, StoreError> {
    let pre = prefix(site);
    let hi = key_at(&pre, before);
    let mut folded = 0;
    let mut current: Option<(u64, u64)> = None;
    let mut records: Vec<Record> = Vec::new();
    for kv in store.history.range(pre.clone()..hi) {
        let (k, v) = kv.map_err(|e| store.err(e))?;
        let t = key_time(pre.len(), &k);
        let w = window(t, days_before);
        if current != Some(w) {
            if let Some(done) = current {
                if *budget == Some(0) {
                    return Ok(folded);
                }
                let n = fold_window(store, &pre, done, before, &records)?;
                folded += n;
                if let Some(b) = budget.as_mut() {
                    *b = b.saturating_sub(n);
                }
            }
            records.clear();
            current = Some(w);
        }
        let block = crate::block::is_block(&v);
        let foldable = block || (v.first() == Some(&crate::beat::BEAT_TAG) && !named.contains(&*k));
        if foldable {
            records.push(Record {
                key: k.to_vec(),
                value: v,
                block,
            });
        }
    }
    if let Some(done) = current.filter(|_| *budget != Some(0)) {
        let n = fold_window(store, &pre, done, before, &records)?;
        folded += n;
        if let Some(b) = budget.as_mut() {
            *b = b.saturating_sub(n);
        }
    }
    Ok(folded)
}

/// Replaces a window's foldable records by one block at its start, when there are two or more
/// and the window ended before `before`.
fn fold_window(
    store: &Store,
    pre: &[u8],
    (start, len): (u64, u64),
    before: u64,
    records: &[Record],
) -> Result<usize, StoreError> {
    if records.len() < 2 || start.saturating_add(len) > before {
        return Ok(0);
    }
    let mut members: Vec<crate::block::Member> = Vec::new();
    let mut batch = sled::Batch::default();
    let key = block_key(pre, start);
    for r in records {
        if r.block {
            let inner = crate::block::decode(&r.value)
                .map_err(|e| crate::history_scan::corrupt(store.dir(), e))?;
            members.extend(inner);
        } else {
            members.push((r.key[pre.len()..].to_vec(), r.value.to_vec()));
        }
        if r.key != key {
            batch.remove(r.key.as_slice());
        }
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    batch.insert(key, crate::block::encode(&members));
    store.history.apply_batch(batch).map_err(|e| store.err(e))?;
    Ok(records.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_hours_then_whole_days_before_the_watermark() {
        let day = 20_000 * DAY_US;
        let t = day + 5 * HOUR_US + 7;
        assert_eq!(window(t, 0), (day + 5 * HOUR_US, HOUR_US));
        assert_eq!(window(t, day + DAY_US - 1), (day + 5 * HOUR_US, HOUR_US));
        assert_eq!(window(t, day + DAY_US), (day, DAY_US));
        let pre = prefix("s");
        assert!(block_key(&pre, day) > key_at(&pre, day));
        assert!(block_key(&pre, day) < key_at(&pre, day + 1));
    }
}
