//! Folding a site's heartbeats into blocks (`crate::block`) in the archive (`crate::archive`),
//! part of the hourly compaction pass: each hour that ended at least [`LAG`] ago becomes one
//! record, and each day entirely before the thinning watermark (thinned already:
//! `crate::thin`) one record. The ack path writes one record per status in the store's own
//! `history` tree as before; this pass moves them to the archive, each window's as one block.
//!
//! Left as records of their own: full statuses (the bases heartbeats name, read by key; moved
//! to the archive as they are) and what a `latest` pointer names (read by key, and left in the
//! store's own tree with its base; a pointer only ever moves to a newer status, so a status is
//! never named again once moved). A window is written to the archive in one sled batch; what it moved is
//! removed from the store's own tree only once the archive is flushed ([`Moved::settle`]). A
//! pass stopped anywhere leaves every status at least once (readers show a status in both
//! trees once, `crate::history_scan`), and the next pass moves and folds the rest. In the
//! archive a pass reads only the windows it moved into and the days newly before the
//! watermark (a record per site in the `thinned` tree says how far the last finished pass
//! folded), so its cost follows what arrived, not the history kept.

use crate::history_scan::{key_at, key_time, DAY_US, HOUR_US};
use crate::store::{prefix, Store, StoreError};

/// How long after an hour ends it is folded: statuses arrive at the collector's clock, so
/// nothing is written into an hour once it is past (a clock set back by more is still read
/// right: an hour holding a block and records is folded again).
pub const LAG: std::time::Duration = std::time::Duration::from_secs(3600);

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

/// What a record of a window is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A block.
    Block,
    /// A heartbeat not named by `latest`.
    Beat,
    /// A full status not named by `latest` (moved, never folded).
    Full,
}

/// A record of a window that moves or folds.
struct Record {
    key: Vec<u8>,
    value: sled::IVec,
    kind: Kind,
}

/// Keys moved to the archive and still to be removed from the store's own `history` tree, once
/// the archive is flushed: kept across sites, so that a pass flushes the archive once.
#[derive(Default)]
pub struct Moved {
    keys: Vec<Vec<u8>>,
}

/// Moved keys a pass holds before it flushes the archive and removes them (memory: a few MB;
/// the first pass over an older store moves its whole history).
const SETTLE_AT: usize = 50_000;

impl Moved {
    /// Flushes the archive, then removes the moved keys from the store's own tree.
    pub fn settle(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        store.flush_archive()?;
        // Small batches: sled 0.34 holds the tree's write lock for a batch, and acks wait
        // behind it (a window's worth, as a fold's batch was before the archive).
        for chunk in self.keys.chunks(64) {
            let mut batch = sled::Batch::default();
            for k in chunk {
                batch.remove(k.as_slice());
            }
            store.history.apply_batch(batch).map_err(|e| store.err(e))?;
        }
        self.keys.clear();
        Ok(())
    }
}

/// Moves `site`'s windows that ended before `before` (µs) to the archive and folds the
/// archive's (hours, days before `days_before`), leaving the records `named` by `latest`
/// (`Store::named_by_latest`) and their bases where they are. Returns how many records were
/// moved or folded away; the keys moved go into `moved`, removed at its next
/// [`Moved::settle`]. `budget` bounds them (a test stops a pass mid-way with it; `None` in
/// production): no window is moved or folded once it is spent.
pub fn fold(
    store: &Store,
    site: &str,
    (before, days_before): (u64, u64),
    named: &std::collections::HashSet<Vec<u8>>,
    moved: &mut Moved,
    budget: &mut Option<usize>,
) -> Result<usize, StoreError> {
    let pre = prefix(site);
    let span = (before, days_before);
    // The latest statuses' bases stay too: the fleet view (`ListSites`, the digest) then reads
    // the store's own tree alone.
    let stay = store.with_bases(site, named)?;
    let mut moved_from = u64::MAX;
    let mut n = windows(
        store,
        &store.history,
        &pre,
        0,
        span,
        &stay,
        budget,
        |w, r| {
            moved_from = moved_from.min(w.0);
            move_window(store, &pre, w, r, moved)
        },
    )?;
    if moved.keys.len() >= SETTLE_AT {
        moved.settle(store)?;
    }
    // The archive's windows that can hold two records: those this pass moved into, and the
    // days that came to lie before `days_before` since the site's last finished fold (before
    // them every window is one record already, and nothing else writes there). Reading all of
    // a site's archive every hour cost a pass time in proportion to the history kept.
    let spans = match crate::thin_ranges::folded_to(store, site)? {
        Some(done) => {
            // Whole windows only: a window read in part would be folded into a block
            // holding only that part, over the block already at its start.
            let from = done.min(days_before);
            let days = (from - from % DAY_US, days_before - days_before % DAY_US);
            let moved_span = (moved_from, before);
            let mut spans = vec![days];
            if moved_span.0 < moved_span.1 {
                spans.push(moved_span);
            }
            spans.sort_unstable();
            spans
        }
        None => vec![(0, before)],
    };
    let mut last_end = 0;
    for (lo, hi) in spans {
        let lo = lo.max(last_end);
        if lo >= hi {
            continue;
        }
        last_end = hi;
        n += windows(
            store,
            &store.archive,
            &pre,
            lo,
            (hi, days_before),
            named,
            budget,
            |w, r| fold_window(store, &pre, w, r),
        )?;
    }
    if *budget != Some(0) {
        crate::thin_ranges::set_folded_to(store, site, days_before)?;
    }
    Ok(n)
}

/// Calls `each` with every window of the site's (`pre`) records in `tree` from `from` on that
/// ended before `before`, and the window's records that move or fold; `each` says how many records it took
/// away, which `budget` is charged.
#[allow(clippy::too_many_arguments)]
fn windows(
    store: &Store,
    tree: &sled::Tree,
    pre: &[u8],
    from: u64,
    (before, days_before): (u64, u64),
    named: &std::collections::HashSet<Vec<u8>>,
    budget: &mut Option<usize>,
    mut each: impl FnMut((u64, u64), &[Record]) -> Result<usize, StoreError>,
) -> Result<usize, StoreError> {
    let hi = key_at(pre, before);
    let mut done = 0;
    let mut current: Option<(u64, u64)> = None;
    let mut records: Vec<Record> = Vec::new();
    let mut run = |w: (u64, u64), records: &[Record], budget: &mut Option<usize>| {
        // Only whole windows past `before`: a later status could still land in another.
        if w.0.saturating_add(w.1) > before || records.is_empty() {
            return Ok(0);
        }
        let n = each(w, records)?;
        if let Some(b) = budget.as_mut() {
            *b = b.saturating_sub(n);
        }
        Ok::<usize, StoreError>(n)
    };
    for kv in tree.range(key_at(pre, from)..hi) {
        let (k, v) = kv.map_err(|e| store.err(e))?;
        let t = key_time(pre.len(), &k);
        let w = window(t, days_before);
        if current != Some(w) {
            if let Some(w) = current {
                if *budget == Some(0) {
                    return Ok(done);
                }
                done += run(w, &records, budget)?;
            }
            records.clear();
            current = Some(w);
        }
        let kind = if crate::block::is_block(&v) {
            Kind::Block
        } else if named.contains(&*k) {
            continue;
        } else if v.first() == Some(&crate::beat::BEAT_TAG) {
            Kind::Beat
        } else {
            Kind::Full
        };
        records.push(Record {
            key: k.to_vec(),
            value: v,
            kind,
        });
    }
    if let Some(w) = current.filter(|_| *budget != Some(0)) {
        done += run(w, &records, budget)?;
    }
    Ok(done)
}

/// The members of a window's blocks and heartbeats, sorted by key, each once.
fn members_of(
    store: &Store,
    pre: &[u8],
    records: impl IntoIterator<Item = (Vec<u8>, sled::IVec, Kind)>,
) -> Result<Vec<crate::block::Member>, StoreError> {
    let mut members: Vec<crate::block::Member> = Vec::new();
    for (key, value, kind) in records {
        match kind {
            Kind::Block => members.extend(
                crate::block::decode(&value)
                    .map_err(|e| crate::history_scan::corrupt(store.dir(), e))?,
            ),
            Kind::Beat => members.push((key[pre.len()..].to_vec(), value.to_vec())),
            Kind::Full => {}
        }
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|later, first| later.0 == first.0);
    Ok(members)
}

/// Writes a window's records of the store's own tree to the archive: its heartbeats and blocks
/// as one block at its start (with the archive's block there, if a pass met the window
/// before), a lone heartbeat and full statuses as records of their own. Their keys go into
/// `moved`. Returns how many records left the store's own tree.
fn move_window(
    store: &Store,
    pre: &[u8],
    (start, _): (u64, u64),
    records: &[Record],
    moved: &mut Moved,
) -> Result<usize, StoreError> {
    let key = block_key(pre, start);
    let existing = store.archive.get(&key).map_err(|e| store.err(e))?;
    let mut batch = sled::Batch::default();
    let beats: Vec<&Record> = records.iter().filter(|r| r.kind != Kind::Full).collect();
    match (beats.as_slice(), &existing) {
        ([], _) => {}
        ([one], None) if one.kind == Kind::Beat => {
            batch.insert(one.key.as_slice(), one.value.clone());
        }
        _ => {
            let old = existing.map(|v| (key.clone(), v, Kind::Block));
            let mine = beats
                .iter()
                .map(|r| (r.key.clone(), r.value.clone(), r.kind));
            let members = members_of(store, pre, old.into_iter().chain(mine))?;
            batch.insert(key, crate::block::encode(&members));
        }
    }
    for r in records.iter().filter(|r| r.kind == Kind::Full) {
        batch.insert(r.key.as_slice(), r.value.clone());
    }
    store.archive.apply_batch(batch).map_err(|e| store.err(e))?;
    moved.keys.extend(records.iter().map(|r| r.key.clone()));
    Ok(records.len())
}

/// Replaces a window's blocks and heartbeats in the archive by one block at its start, when
/// there are two or more. Returns how many records were folded away.
fn fold_window(
    store: &Store,
    pre: &[u8],
    (start, _): (u64, u64),
    records: &[Record],
) -> Result<usize, StoreError> {
    let foldable: Vec<&Record> = records.iter().filter(|r| r.kind != Kind::Full).collect();
    if foldable.len() < 2 {
        return Ok(0);
    }
    let key = block_key(pre, start);
    let mut batch = sled::Batch::default();
    for r in &foldable {
        if r.key != key {
            batch.remove(r.key.as_slice());
        }
    }
    let all = foldable
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.kind));
    batch.insert(key, crate::block::encode(&members_of(store, pre, all)?));
    store.archive.apply_batch(batch).map_err(|e| store.err(e))?;
    Ok(foldable.len() - 1)
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
