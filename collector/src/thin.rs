//! Thinning old history: past `history.full_for` a site keeps one status per hour per recorder
//! (per day past `history.hourly_for`) and every status where its verdicts change, with the one
//! just before; its verdict timeline is computed from the whole stream first and stored
//! (`timeline` tree), so "when did each verdict start and end" stays exact after thinning.
//!
//! Two steps, part of the periodic prune ([`compact`]), the first before the prune itself (and
//! folding into blocks after them, `crate::fold`):
//! 1. *Timeline*: for each site, the verdict fragments of `[watermark, now - full_for)`, from
//!    the statuses kept before the old watermark (each recorder's latest, the latest report of
//!    lost statuses: what the state at the watermark is made of) and the whole stream after
//!    it, are written together with the new watermark in one sled transaction; then one flush
//!    for all sites. A pass killed before a site's transaction changed nothing of that site;
//!    after it, its fragments are never computed again. A site silent since its watermark
//!    keeps it (nothing written) until it reports again; the silence is then stored up to
//!    that report, which can be later than `now - full_for`.
//! 2. *Deletion*: every status received before the watermark that no rule below keeps is
//!    removed. Each rule picks statuses that stay picked when only unpicked ones are removed
//!    (the first of a bucket stays the first, the latest before an instant stays the latest),
//!    so a pass killed mid-way and run again deletes the rest of the same set. A pass reads
//!    only the spans where a status kept by the site's last finished pass can have become
//!    removable (the hours before the old watermark and after it, the days crossing the daily
//!    line; `crate::thin_ranges`), so its cost follows what arrived, not the history kept.
//!
//! Kept before the watermark: the first status of each recorder in each hour (day); around
//! every boundary of the stored timeline, each recorder's latest status at that instant and
//! the one just before it; each recorder's latest status before the watermark and the site's
//! latest that reported lost statuses (the next pass's state); what `latest` names; and the
//! base of every heartbeat kept (a heartbeat is never left without its base).
//!
//! A status kept is the one received, byte for byte; one removed was, by construction, between
//! two kept statuses of its recorder with the same verdicts. Dedup marks (`seen`), which an
//! older collector wrote for every status, go at `full_for`; re-sends are now recognised from
//! history itself (`crate::store`).

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::time::Duration;
use vigia::pb::HistoryEntry;
use vigia::rules::Rules;

use crate::config::CollectorConfig;
use crate::history_scan::{key_at, Member, Removals, DAY_US, HOUR_US};
use crate::store::{history_recorder, micros, prefix, Store, StoreError};
use crate::thin_ranges::ThinRanges;
use crate::timeline::{evaluate, instant, nanos, stitch, Fragment};

/// What one compaction pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Compaction {
    /// Statuses removed by pruning (older than `keep`).
    pub pruned: usize,
    /// Statuses removed by thinning.
    pub thinned: usize,
    /// Records moved to the archive or folded into history blocks there (`crate::fold`).
    pub folded: usize,
    /// Statuses the thinning step read to decide (what it costs: the hour or two since the
    /// site's last pass, `crate::thin_ranges`, not all its history).
    pub examined: usize,
    /// False when the pass stopped at its budget (a test's interruption).
    pub finished: bool,
}

/// The site's thinning watermark: history received before it is thinned.
pub fn watermark(store: &Store, site: &str) -> Result<Option<i64>, StoreError> {
    Ok(store
        .thinned
        .get(site.as_bytes())
        .map_err(|e| store.err(e))?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(i64::from_be_bytes))
}

/// The interval a site is judged by when its statuses announce none.
fn fallback_interval(store: &Store, site: &str) -> Result<Duration, StoreError> {
    Ok(store
        .site(site)?
        .and_then(|r| r.expected_interval)
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(crate::report::DEFAULT_REPORT_INTERVAL))
}

fn fragment_key(site: &str, f: &Fragment) -> Vec<u8> {
    let mut k = prefix(site);
    k.extend_from_slice(&f.start.to_be_bytes());
    k.extend_from_slice(&f.subject.0.to_be_bytes());
    k.extend_from_slice(f.subject.1.as_bytes());
    k.push(0);
    k.extend_from_slice(f.subject.2.as_bytes());
    k
}

fn fragment_of(site: &str, key: &[u8], value: &[u8]) -> Option<Fragment> {
    let rest = key.get(prefix(site).len()..)?;
    let start = i64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let kind = i32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
    let names = rest.get(12..)?;
    let sep = names.iter().position(|b| *b == 0)?;
    let recorder = String::from_utf8(names[..sep].to_vec()).ok()?;
    let camera = String::from_utf8(names[sep + 1..].to_vec()).ok()?;
    let end = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    Some(Fragment {
        start,
        subject: (kind, recorder, camera),
        end,
    })
}

/// The stored fragments of a site starting before `to` (all of them for `i64::MAX`).
fn stored_fragments(store: &Store, site: &str, to: i64) -> Result<Vec<Fragment>, StoreError> {
    let lo = prefix(site);
    let mut hi = prefix(site);
    hi.extend_from_slice(&to.to_be_bytes());
    let mut out = Vec::new();
    for kv in store.timeline.range(lo..hi) {
        let (k, v) = kv.map_err(|e| store.err(e))?;
        match fragment_of(site, &k, &v) {
            Some(f) => out.push(f),
            None => {
                return Err(StoreError::Corrupt {
                    dir: store.dir().to_path_buf(),
                    tree: "timeline",
                    reason: "a fragment that does not decode".into(),
                })
            }
        }
    }
    Ok(out)
}

/// The statuses that make a site's state just before `before` (ns): each recorder's latest,
/// and the latest that reported lost statuses within a day, read backwards from `before`.
fn state_before(store: &Store, site: &str, before: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    let pre = prefix(site);
    let mut recorders: HashSet<Vec<u8>> = HashSet::new();
    for kv in store.latest.scan_prefix(&pre).keys() {
        let k = kv.map_err(|e| store.err(e))?;
        recorders.insert(k[pre.len()..].to_vec());
    }
    let before_us = u64::try_from(before.max(0) / 1000).unwrap_or(0);
    let hi = key_at(&pre, before_us);
    let drop_horizon = before.saturating_sub(nanos_of(Duration::from_secs(86_400)));
    let mut found: HashSet<Vec<u8>> = HashSet::new();
    let mut drop_found = false;
    let mut out = Vec::new();
    let mut last_base = None;
    let mut drops_of_full: HashMap<Vec<u8>, bool> = HashMap::new();
    for m in store.scan(site, Bound::Unbounded, Bound::Excluded(hi), true) {
        let Member {
            key: k, value: v, ..
        } = m?;
        let Some(recorder) = history_recorder(&k[pre.len()..]) else {
            continue;
        };
        let new_recorder = !found.contains(recorder);
        let at_us = u64::from_be_bytes(k[pre.len()..pre.len() + 8].try_into().unwrap_or([0; 8]));
        let within_day = i64::try_from(at_us)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000)
            >= drop_horizon;
        if new_recorder || (within_day && !drop_found) {
            // Whether it reported lost statuses, from its base when a heartbeat (a drop count
            // is never volatile): rebuilding a day of heartbeats was most of this step's time.
            let drops = match crate::beat::base_of(&v) {
                Some(base) => drops_of_base(store, &pre, &base, &mut drops_of_full)?,
                None => drops_of_value(store, &v)?,
            };
            if new_recorder || drops {
                let e = store.entry(site, &v, &mut last_base)?;
                drop_found |= drops;
                found.insert(recorder.to_vec());
                out.push(e);
            }
        }
        if (drop_found || !within_day) && recorders.iter().all(|r| found.contains(r)) {
            break;
        }
    }
    Ok(out)
}

fn nanos_of(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Statuses of a site received in `[from, to)` (ns), oldest first.
fn entries_between(
    store: &Store,
    site: &str,
    from: i64,
    to: i64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let pre = prefix(site);
    let us = |t: i64| u64::try_from(t.max(0) / 1000).unwrap_or(0);
    let lo = key_at(&pre, us(from));
    // Keys carry microseconds: read the boundary microsecond and filter by the exact time.
    let hi = key_at(&pre, us(to).saturating_add(1));
    let mut out = Vec::new();
    let mut last_base = None;
    for m in store.scan(site, Bound::Included(lo), Bound::Excluded(hi), false) {
        let e = store.entry(site, &m?.value, &mut last_base)?;
        let at = crate::store::received_at(&e).map(nanos);
        if at.is_some_and(|t| t >= from && t < to) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A site's verdict timeline over `[from, to)` (ns): the stored fragments of thinned history
/// and the evaluation of the rest, joined.
pub fn timeline(
    store: &Store,
    rules: &Rules,
    site: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Fragment>, StoreError> {
    let mark = watermark(store, site)?;
    let mut fragments: Vec<Fragment> = match mark {
        Some(_) => stored_fragments(store, site, to)?
            .into_iter()
            .filter(|f| f.end > from)
            .collect(),
        None => Vec::new(),
    };
    let live_from = from.max(mark.unwrap_or(i64::MIN));
    if live_from < to {
        let mut entries = state_before(store, site, live_from)?;
        entries.extend(entries_between(store, site, live_from, to)?);
        fragments.extend(evaluate(
            &entries,
            instant(live_from),
            instant(to),
            rules,
            fallback_interval(store, site)?,
        ));
    }
    Ok(stitch(fragments, from, to))
}

/// One status before the watermark, as the deletion step sees it.
struct Old {
    member: Member,
    recorder: Vec<u8>,
    at_us: u64,
    /// Its base's key, for a heartbeat.
    base: Option<Vec<u8>>,
    drops: bool,
}

/// The periodic pass: stores each site's timeline up to `history.full_for` ago, prunes history
/// older than `history.keep`, then thins each site's history older than `history.full_for`
/// and folds it into blocks (`crate::fold`). `budget` bounds the thinning deletions and the records folded (a test stops a pass mid-way
/// with it; `None` in production).
pub fn compact(
    store: &Store,
    config: &CollectorConfig,
    now: DateTime<Utc>,
    mut budget: Option<usize>,
) -> Result<Compaction, StoreError> {
    let history = &config.history;
    let ago = |d: Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let mut done = Compaction {
        finished: true,
        ..Compaction::default()
    };
    let prune_before = ago(history.keep);
    let thinning = history.full_for < history.keep;
    let sites = store.sites()?;
    // The timeline first: a silence is evaluated from the statuses before it, which this
    // pass's prune may remove.
    let cut = nanos(ago(history.full_for));
    for (site, _) in sites.iter().filter(|_| thinning) {
        store_timeline(store, site, &config.rules_for(site), cut)?;
    }
    // Durable before anything is deleted: a deletion never outlives the timeline it needs.
    if thinning {
        store.flush()?;
    }
    done.pruned = store.prune(prune_before)?;
    prune_fragments(store, nanos(prune_before))?;
    prune_seen(store, micros(ago(history.full_for.min(history.keep))))?;
    let fold_before = micros(ago(crate::fold::LAG));
    let mut moved = crate::fold::Moved::default();
    for (site, _) in &sites {
        // Read once for both steps: a pointer only moves to a status newer than anything
        // either step touches.
        let named = store.named_by_latest(site)?;
        let mark = watermark(store, site)?.filter(|_| thinning);
        if let Some(mark) = mark {
            done.thinned += delete_unkept(
                store,
                site,
                (mark, micros(ago(history.hourly_for))),
                &named,
                &mut budget,
                &mut done.examined,
            )?;
        }
        if budget == Some(0) {
            done.finished = false;
            break;
        }
        // Thinned days fold whole: only what thinning keeps goes into their blocks.
        let days_before = mark.map_or(0, |m| u64::try_from(m.max(0) / 1000).unwrap_or(0));
        let span = (fold_before, days_before);
        done.folded += crate::fold::fold(store, site, span, &named, &mut moved, &mut budget)?;
        if budget == Some(0) {
            done.finished = false;
            break;
        }
    }
    moved.settle(store)?;
    Ok(done)
}

/// Removes fragments that ended before the prune cut-off.
fn prune_fragments(store: &Store, cutoff: i64) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    let mut n = 0usize;
    for kv in store.timeline.iter() {
        let (k, v) = kv.map_err(|e| store.err(e))?;
        let end = v
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(i64::from_be_bytes)
            .unwrap_or(i64::MIN);
        if end < cutoff {
            batch.remove(k);
            n += 1;
        }
    }
    // An empty batch still takes sled's global write lock, which acks wait behind.
    if n == 0 {
        return Ok(());
    }
    store.timeline.apply_batch(batch).map_err(|e| store.err(e))
}

/// Removes dedup marks older than `cutoff` (µs).
fn prune_seen(store: &Store, cutoff: u64) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    let mut n = 0usize;
    for kv in store.seen.iter() {
        let (k, v) = kv.map_err(|e| store.err(e))?;
        let at = <[u8; 8]>::try_from(v.as_ref())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        if at < cutoff {
            batch.remove(k);
            n += 1;
        }
    }
    if n == 0 {
        return Ok(());
    }
    store.seen.apply_batch(batch).map_err(|e| store.err(e))
}

/// Step 1 for one site: its timeline up to `cut` stored with the new watermark, at once.
fn store_timeline(store: &Store, site: &str, rules: &Rules, cut: i64) -> Result<(), StoreError> {
    let old = watermark(store, site)?;
    if old.is_none_or(|w| w < cut) {
        let from = match old {
            Some(w) => w,
            None => first_arrival(store, site)?.unwrap_or(cut).min(cut),
        };
        let between = entries_between(store, site, from, cut)?;
        let mut to = cut;
        if between.is_empty() {
            // Nothing received before the cut since the watermark: nothing to thin. A site
            // still silent keeps its watermark: the timeline past it is evaluated from the
            // statuses before it, which `latest` keeps from pruning, and a pass over a fleet
            // of quiet sites writes nothing (it wrote one transaction per site, every pass).
            // A site that has reported again since the cut: its silence is settled up to that
            // report and stored now, before this pass's prune may remove the statuses it is
            // evaluated from (no longer named by `latest`: a silence longer than `keep`).
            // A site with no watermark has received nothing before the cut: nothing to store.
            let back = match old {
                Some(_) => arrival_from(store, site, cut)?,
                None => None,
            };
            match back {
                None => return Ok(()),
                Some(back) => to = back.max(cut),
            }
        }
        let mut entries = state_before(store, site, from)?;
        entries.extend(between);
        let fragments = evaluate(
            &entries,
            instant(from),
            instant(to),
            rules,
            fallback_interval(store, site)?,
        );
        // A verdict going on across the old watermark extends the fragment stored for it (its
        // end rewritten): one record per verdict, not one per pass (hourly, 24 a day).
        let ending: HashMap<_, Vec<u8>> = match old {
            Some(w) => stored_fragments(store, site, w)?
                .into_iter()
                .filter(|f| f.end == w)
                .map(|f| (f.subject.clone(), fragment_key(site, &f)))
                .collect(),
            None => HashMap::new(),
        };
        let keys: Vec<(Vec<u8>, [u8; 8])> = fragments
            .iter()
            .map(|f| {
                let extended = (f.start == from)
                    .then(|| ending.get(&f.subject).cloned())
                    .flatten();
                let key = extended.unwrap_or_else(|| fragment_key(site, f));
                (key, f.end.to_be_bytes())
            })
            .collect();
        use sled::Transactional;
        (&store.timeline, &store.thinned)
            .transaction(|(timeline, thinned)| {
                for (k, v) in &keys {
                    timeline.insert(k.as_slice(), v.as_slice())?;
                }
                thinned.insert(site.as_bytes(), &to.to_be_bytes())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => store.err(e),
                sled::transaction::TransactionError::Abort(()) => store.err(
                    sled::Error::Unsupported("timeline transaction aborted".into()),
                ),
            })?;
    }
    Ok(())
}

/// When the first status of `site` received at or after `from` (ns) arrived, exactly.
fn arrival_from(store: &Store, site: &str, from: i64) -> Result<Option<i64>, StoreError> {
    let pre = prefix(site);
    let us = u64::try_from(from.max(0) / 1000).unwrap_or(0);
    let lo = key_at(&pre, us);
    let mut last_base = None;
    for m in store.scan(site, Bound::Included(lo), Bound::Unbounded, false) {
        let e = store.entry(site, &m?.value, &mut last_base)?;
        // Keys carry microseconds: an arrival in `from`'s own microsecond may precede it.
        if let Some(at) = crate::store::received_at(&e)
            .map(nanos)
            .filter(|t| *t >= from)
        {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

fn first_arrival(store: &Store, site: &str) -> Result<Option<i64>, StoreError> {
    let pre = prefix(site);
    let Some(m) = store
        .scan(site, Bound::Unbounded, Bound::Unbounded, false)
        .next()
    else {
        return Ok(None);
    };
    let k = m?.key;
    let us = u64::from_be_bytes(k[pre.len()..pre.len() + 8].try_into().unwrap_or([0; 8]));
    Ok(Some(
        i64::try_from(us).unwrap_or(i64::MAX).saturating_mul(1000),
    ))
}

/// Step 2: removes the statuses before `mark` that no rule keeps, reading only what can have
/// changed since the site's last finished pass (`crate::thin_ranges`).
fn delete_unkept(
    store: &Store,
    site: &str,
    (mark, daily_before_us): (i64, u64),
    named: &HashSet<Vec<u8>>,
    budget: &mut Option<usize>,
    examined: &mut usize,
) -> Result<usize, StoreError> {
    let pre = prefix(site);
    let mark_us = u64::try_from(mark.max(0) / 1000).unwrap_or(0);
    let ranges = ThinRanges::new(
        crate::thin_ranges::done(store, site)?,
        mark_us,
        daily_before_us,
    );
    let mut old: Vec<Old> = Vec::new();
    let mut drops_of_full: HashMap<Vec<u8>, bool> = HashMap::new();
    for (lo, hi) in &ranges.spans {
        let (lo, hi) = (key_at(&pre, *lo), key_at(&pre, *hi));
        for m in store.scan(site, Bound::Included(lo), Bound::Excluded(hi), false) {
            let m = m?;
            let (k, v) = (&m.key, &m.value);
            let suffix = &k[pre.len()..];
            let Some(recorder) = history_recorder(suffix) else {
                continue;
            };
            let at_us = u64::from_be_bytes(suffix[..8].try_into().unwrap_or([0; 8]));
            let stored = crate::beat::decode(v).map_err(|e| store.corrupt("history", e))?;
            let (base, drops) = match stored {
                crate::beat::Stored::Full(e) => {
                    let drops = reports_drops(&e);
                    drops_of_full.insert(suffix.to_vec(), drops);
                    (None, drops)
                }
                crate::beat::Stored::Beat(b) => {
                    let drops = drops_of_base(store, &pre, &b.base, &mut drops_of_full)?;
                    (Some(b.base), drops)
                }
            };
            let recorder = recorder.to_vec();
            old.push(Old {
                member: m,
                recorder,
                at_us,
                base,
                drops,
            });
        }
    }
    *examined += old.len();
    let mut keep: HashSet<usize> = HashSet::new();
    // Each recorder's statuses, in time order (indexes into `old`).
    let mut by_recorder: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for (i, o) in old.iter().enumerate() {
        by_recorder
            .entry(o.recorder.as_slice())
            .or_default()
            .push(i);
    }
    // The first of each recorder in each hour, or day when older than `daily_before_us`.
    let mut buckets: HashSet<(&[u8], u64, bool)> = HashSet::new();
    for (i, o) in old.iter().enumerate() {
        let daily = o.at_us < daily_before_us;
        let bucket = o.at_us / if daily { DAY_US } else { HOUR_US };
        if buckets.insert((o.recorder.as_slice(), bucket, daily)) {
            keep.insert(i);
        }
    }
    // Around each boundary of the stored timeline (not the cuts between passes, which the
    // stitching joins again; not the open end at the watermark).
    let stitched = stitch(stored_fragments(store, site, i64::MAX)?, i64::MIN, i64::MAX);
    let mut boundaries: Vec<u64> = stitched
        .iter()
        .flat_map(|f| [f.start, f.end])
        .filter(|b| *b < mark)
        .map(|b| u64::try_from(b.max(0) / 1000).unwrap_or(0))
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    // The state the next pass starts from: each recorder's latest before the watermark.
    boundaries.push(mark_us.saturating_sub(1));
    for list in by_recorder.values() {
        for b in &boundaries {
            let n = list.partition_point(|i| old[*i].at_us <= *b);
            if n > 0 {
                keep.insert(list[n - 1]);
                if n > 1 {
                    keep.insert(list[n - 2]);
                }
            }
        }
    }
    if let Some(i) = (0..old.len()).rev().find(|i| old[*i].drops) {
        keep.insert(i);
    }
    for (i, o) in old.iter().enumerate() {
        if named.contains(&o.member.key) {
            keep.insert(i);
        }
    }
    let mut bases: HashSet<Vec<u8>> = keep
        .iter()
        .filter_map(|i| old[*i].base.as_ref())
        .map(|b| [pre.as_slice(), b].concat())
        .collect();
    // Heartbeats after the watermark (never thinned), or between two spans (kept by an earlier
    // pass), may name a base up to REBASE before them: they are read only where a full status
    // no rule keeps could be named (most passes have none, and reading a day of history for
    // each site was most of a pass's time).
    let rebase_us = crate::store::REBASE_US;
    let unkept_fulls: HashMap<&[u8], u64> = old
        .iter()
        .enumerate()
        .filter(|(i, o)| o.base.is_none() && !keep.contains(i) && !bases.contains(&o.member.key))
        .map(|(_, o)| (o.member.key.as_slice(), o.at_us))
        .collect();
    let after = (mark_us, mark_us.saturating_add(rebase_us).saturating_add(1));
    for (lo, hi) in ranges.base_guards(rebase_us).into_iter().chain([after]) {
        let reachable = |at: &u64| at.saturating_add(rebase_us) >= lo && *at < hi;
        if !unkept_fulls.values().any(reachable) {
            continue;
        }
        let (lo, hi) = (key_at(&pre, lo), key_at(&pre, hi));
        for m in store.scan(site, Bound::Included(lo), Bound::Excluded(hi), false) {
            if let Some(base) = crate::beat::base_of(&m?.value) {
                let key = [pre.as_slice(), &base].concat();
                if unkept_fulls.contains_key(key.as_slice()) {
                    bases.insert(key);
                }
            }
        }
    }
    let mut removed = 0;
    let mut stopped = false;
    let mut batch = Removals::default();
    for (i, o) in old.iter().enumerate() {
        if keep.contains(&i) || bases.contains(&o.member.key) {
            continue;
        }
        if budget.is_some_and(|b| b == 0) {
            stopped = true;
            break;
        }
        batch.remove(&o.member);
        removed += 1;
        if let Some(b) = budget.as_mut() {
            *b -= 1;
        }
        if batch.len() == 512 {
            std::mem::take(&mut batch).apply(store.trees(), site)?;
        }
    }
    batch.apply(store.trees(), site)?;
    if !stopped {
        crate::thin_ranges::set_done(store, site, mark_us, daily_before_us)?;
    }
    Ok(removed)
}

/// Whether the full status at `base` (a key suffix) reported lost statuses: from those read
/// already, or read by key (a heartbeat repeats its base's drop count).
fn drops_of_base(
    store: &Store,
    pre: &[u8],
    base: &[u8],
    known: &mut HashMap<Vec<u8>, bool>,
) -> Result<bool, StoreError> {
    if let Some(d) = known.get(base) {
        return Ok(*d);
    }
    let v = store
        .trees()
        .get(&[pre, base].concat())?
        .ok_or_else(|| store.corrupt_because("a heartbeat's base status is missing"))?;
    if crate::beat::base_of(&v).is_some() {
        return Err(store.corrupt_because("a heartbeat's base is a heartbeat"));
    }
    let drops = drops_of_value(store, &v)?;
    known.insert(base.to_vec(), drops);
    Ok(drops)
}

/// Whether a stored full status reported lost statuses.
fn drops_of_value(store: &Store, v: &[u8]) -> Result<bool, StoreError> {
    Ok(
        match crate::beat::decode(v).map_err(|e| store.corrupt("history", e))? {
            crate::beat::Stored::Full(e) => reports_drops(&e),
            crate::beat::Stored::Beat(_) => false,
        },
    )
}

/// Whether a status reported statuses its probe lost.
fn reports_drops(e: &HistoryEntry) -> bool {
    e.status.as_ref().is_some_and(|s| s.dropped_statuses > 0)
}
