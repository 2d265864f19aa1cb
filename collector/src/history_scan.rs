//! Reading and removing a site's statuses through history blocks (`crate::block`) and across
//! the two trees that hold them (`Trees`): every reader of history sees statuses by their own
//! keys, in key order, once each, whether each is a record of its own or a member of a block,
//! in the store's own `history` tree or in its archive's.
//!
//! A block holds statuses of one UTC day at most and is keyed by its window's start, so the
//! statuses of a key range are those of the records from the start of its first day: reading
//! goes a day at a time (each day's records, blocks opened, sorted by key), forwards or
//! backwards, and stops as soon as the caller does.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::{Bound, RangeBounds};

use std::path::Path;

use crate::store_error::StoreError;

/// Microseconds in a day: no block spans more, none crosses a UTC midnight.
pub(crate) const DAY_US: u64 = 86_400_000_000;
/// An hour in µs, the unit of history keys.
pub(crate) const HOUR_US: u64 = 3_600_000_000;

/// Where a store's statuses are: its own `history` tree, which the ack path writes (the last
/// hour or so, and what `latest` names), and its archive's (`crate::archive`), where the
/// hourly pass moves the rest. A status is in one of them, or in both for the moment between
/// the pass's two writes (the archive's copy is then the one read).
#[derive(Clone, Copy)]
pub(crate) struct Trees<'a> {
    /// The store's `history` tree.
    pub hot: &'a sled::Tree,
    /// The archive's `history` tree.
    pub archive: &'a sled::Tree,
    /// The store folder, for errors.
    pub dir: &'a Path,
}

impl Trees<'_> {
    /// The tree `archived` says.
    fn of(&self, archived: bool) -> &sled::Tree {
        if archived {
            self.archive
        } else {
            self.hot
        }
    }

    /// A status's stored value by its key, wherever it is.
    pub fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        for tree in [self.hot, self.archive] {
            if let Some(v) = tree.get(key).map_err(|e| sled_err(self.dir, e))? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The lowest key of either tree at or above `lo`.
    pub fn first_from(&self, lo: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        let mut first: Option<sled::IVec> = None;
        for tree in [self.hot, self.archive] {
            if let Some(kv) = tree.range(lo..).next() {
                let (k, _) = kv.map_err(|e| sled_err(self.dir, e))?;
                if first.as_ref().is_none_or(|f| k < *f) {
                    first = Some(k);
                }
            }
        }
        Ok(first)
    }
}

/// One stored status.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Its history key (`site\0` and the suffix).
    pub key: Vec<u8>,
    /// Its stored value (a full entry or a heartbeat).
    pub value: Vec<u8>,
    /// The key of the block holding it, if it is in one.
    pub block: Option<Vec<u8>>,
    /// Whether it is in the archive's tree (else in the store's own).
    pub archived: bool,
}

/// The arrival time (µs) in a history key of `site`, 0 when the key is too short.
pub(crate) fn key_time(pre_len: usize, key: &[u8]) -> u64 {
    key.get(pre_len..pre_len + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The first bytes of every key of `site` in the store's trees: the name and the `\0`
/// separator (names never hold it).
pub(crate) fn prefix(site: &str) -> Vec<u8> {
    [site.as_bytes(), &[0]].concat()
}

fn sled_err(dir: &Path, source: sled::Error) -> StoreError {
    StoreError::Sled {
        dir: dir.to_path_buf(),
        source,
    }
}

/// A block that does not decode, as the store reports damage.
pub(crate) fn corrupt(dir: &Path, e: crate::block::BlockError) -> StoreError {
    StoreError::Corrupt {
        dir: dir.to_path_buf(),
        tree: "history",
        reason: e.to_string(),
    }
}

/// The key of instant `us` in `site`'s history (before every status received at it).
pub(crate) fn key_at(pre: &[u8], us: u64) -> Vec<u8> {
    [pre, &us.to_be_bytes()].concat()
}

/// The statuses of `site` in `trees` with keys within `(lo, hi)` (each `Unbounded` meaning the
/// site's first or last), ascending, or descending when `rev`.
pub(crate) fn scan<'a>(
    trees: Trees<'a>,
    site: &str,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    rev: bool,
) -> Scan<'a> {
    let pre = prefix(site);
    // Records from the start of the first key's day: a block there may hold statuses in range.
    let sled_lo = match &lo {
        Bound::Included(k) | Bound::Excluded(k) if k.len() >= pre.len() + 8 => {
            let t = key_time(pre.len(), k);
            key_at(&pre, t - t % DAY_US)
        }
        _ => pre.clone(),
    };
    let sled_hi = match &hi {
        Bound::Unbounded => {
            let mut k = site.as_bytes().to_vec();
            k.push(1);
            Bound::Excluded(k)
        }
        b => b.clone(),
    };
    Scan {
        trees,
        pre,
        lo,
        hi,
        sled_lo,
        sled_hi,
        rev,
        buf: VecDeque::new(),
        done: false,
    }
}

/// The iterator [`scan`] returns.
pub(crate) struct Scan<'a> {
    trees: Trees<'a>,
    pre: Vec<u8>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    /// What is left to read of sled's records.
    sled_lo: Vec<u8>,
    sled_hi: Bound<Vec<u8>>,
    rev: bool,
    buf: VecDeque<Member>,
    done: bool,
}

impl Scan<'_> {
    /// Reads the next day (in the scan's direction) into `buf`; false when nothing is left.
    fn next_day(&mut self) -> Result<bool, StoreError> {
        let dir = self.trees.dir;
        let bounds = (Bound::Included(self.sled_lo.clone()), self.sled_hi.clone());
        // The next key in the scan's direction, of either tree.
        let mut edge: Option<sled::IVec> = None;
        for tree in [self.trees.hot, self.trees.archive] {
            let mut range = tree.range::<Vec<u8>, _>(bounds.clone());
            let next = if self.rev {
                range.next_back()
            } else {
                range.next()
            };
            if let Some(kv) = next {
                let (k, _) = kv.map_err(|e| sled_err(dir, e))?;
                let better = match &edge {
                    None => true,
                    Some(e) => (k > *e) == self.rev,
                };
                if better {
                    edge = Some(k);
                }
            }
        }
        let Some(k) = edge else {
            return Ok(false);
        };
        let t = key_time(self.pre.len(), &k);
        let day = t - t % DAY_US;
        let start = key_at(&self.pre, day).max(self.sled_lo.clone());
        let end = key_at(&self.pre, day.saturating_add(DAY_US));
        let day_hi = match &self.sled_hi {
            Bound::Excluded(h) if *h <= end => Bound::Excluded(h.clone()),
            Bound::Included(h) if *h < end => Bound::Included(h.clone()),
            _ => Bound::Excluded(end.clone()),
        };
        let mut members = Vec::new();
        let bounds = (self.lo.clone(), self.hi.clone());
        // The archive's first: of a status in both trees (a pass stopped between its two
        // writes), the archive's copy is the one kept below.
        for archived in [true, false] {
            let tree = self.trees.of(archived);
            let day_range = (Bound::Included(start.clone()), day_hi.clone());
            for kv in tree.range::<Vec<u8>, _>(day_range) {
                let (k, v) = kv.map_err(|e| sled_err(dir, e))?;
                if crate::block::is_block(&v) {
                    let inner = crate::block::decode(&v).map_err(|e| corrupt(dir, e))?;
                    for (suffix, value) in inner {
                        let key = [self.pre.as_slice(), &suffix].concat();
                        if bounds.contains(&key) {
                            members.push(Member {
                                key,
                                value,
                                block: Some(k.to_vec()),
                                archived,
                            });
                        }
                    }
                } else if bounds.contains(&k.to_vec()) {
                    members.push(Member {
                        key: k.to_vec(),
                        value: v.to_vec(),
                        block: None,
                        archived,
                    });
                }
            }
        }
        // Stable: of equal keys the archive's stays first, and is the one kept.
        members.sort_by(|a, b| a.key.cmp(&b.key));
        members.dedup_by(|later, first| later.key == first.key);
        if self.rev {
            members.reverse();
            self.sled_hi = Bound::Excluded(start);
        } else {
            self.sled_lo = end;
        }
        self.buf.extend(members);
        Ok(true)
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<Member, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buf.is_empty() && !self.done {
            match self.next_day() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

/// Statuses to remove from history, applied together: records of their own go, blocks are
/// rewritten without their members removed (or go when none is left).
#[derive(Default)]
pub(crate) struct Removals {
    /// Records of their own, by tree (`false`: the store's, `true`: the archive's).
    own: BTreeMap<bool, Vec<Vec<u8>>>,
    /// Blocks' members, by tree and block key.
    in_blocks: BTreeMap<(bool, Vec<u8>), HashSet<Vec<u8>>>,
    /// Archived statuses' keys, removed from the store's own tree too where a copy is left.
    shadows: Vec<Vec<u8>>,
    count: usize,
}

impl Removals {
    /// Marks `member` for removal.
    pub fn remove(&mut self, member: &Member) {
        match &member.block {
            None => self
                .own
                .entry(member.archived)
                .or_default()
                .push(member.key.clone()),
            Some(b) => {
                self.in_blocks
                    .entry((member.archived, b.clone()))
                    .or_default()
                    .insert(member.key.clone());
            }
        }
        if member.archived {
            // Its copy in the store's own tree, if a pass stopped before removing it (scans
            // show the archive's).
            self.shadows.push(member.key.clone());
        }
        self.count += 1;
    }

    /// Statuses marked.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Removes what is marked, of `site` in `trees`: one sled batch per tree (all or nothing),
    /// the store's own first (a heartbeat there may name a base in the archive, never the
    /// other way round: bases are older, and move first).
    pub fn apply(self, trees: Trees<'_>, site: &str) -> Result<(), StoreError> {
        // An empty batch still takes sled's global write lock, which acks wait behind.
        if self.count == 0 {
            return Ok(());
        }
        let pre = prefix(site);
        let mut batches: BTreeMap<bool, sled::Batch> = BTreeMap::new();
        for k in self.shadows {
            // Looked up first: a batch of nothing but absent keys still takes sled's lock.
            if trees
                .hot
                .contains_key(&k)
                .map_err(|e| sled_err(trees.dir, e))?
            {
                batches.entry(false).or_default().remove(k);
            }
        }
        for (archived, keys) in self.own {
            let batch = batches.entry(archived).or_default();
            for k in keys {
                batch.remove(k);
            }
        }
        for ((archived, block), gone) in self.in_blocks {
            let Some(v) = trees
                .of(archived)
                .get(&block)
                .map_err(|e| sled_err(trees.dir, e))?
            else {
                continue;
            };
            let members = crate::block::decode(&v).map_err(|e| corrupt(trees.dir, e))?;
            let left: Vec<crate::block::Member> = members
                .into_iter()
                .filter(|(suffix, _)| !gone.contains(&[pre.as_slice(), suffix].concat()))
                .collect();
            let batch = batches.entry(archived).or_default();
            if left.is_empty() {
                batch.remove(block);
            } else {
                batch.insert(block, crate::block::encode(&left));
            }
        }
        // `false` (the store's own tree) sorts first.
        for (archived, batch) in batches {
            trees
                .of(archived)
                .apply_batch(batch)
                .map_err(|e| sled_err(trees.dir, e))?;
        }
        Ok(())
    }
}
