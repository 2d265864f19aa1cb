//! The walk of one recorder's tree: layout rules, the thread pool, and the per-folder cache.
//!
//! Every folder is a task. A task stats its folder (one `lstat`; on Linux relative to its
//! parent's handle, held open while the subfolders wait), then either reuses its cached
//! listing or reads it (on Linux straight from `getdents64`, see `rawdir.rs`, a very big
//! ext4 folder by two threads; elsewhere std's `read_dir`, whose per-entry stat is relative to
//! the open folder; walkdir when links are followed, for its link resolution and loop errors),
//! stats the files that count, and queues the subfolders the layout descends into. Workers keep their own
//! aggregates (per camera), merged at the end, so nothing is shared while walking but the queue.
//!
//! ## Incremental rescans
//!
//! A folder's listing (its subfolders and files) changes only when its own mtime changes, so a
//! folder whose identity, mtime and ctime are those cached (ctime moves on chmod too, so a
//! folder made unreadable is read and reported again), and whose mtime was already in the past
//! when the listing was read (not "racy", as git says), is not read again: its cached aggregate
//! stands. File contents, though, change without touching the folder: the file being recorded
//! grows and its mtime moves. So files modified within `hot_window` of the scan are kept by name
//! in the cache and re-stat'ed on every scan; once older, they join the folder's aggregate.
//!
//! When a recently-written folder's mtime changes (a new file, a deleted one), its listing is
//! read again but only new names are stat'ed: the cache keeps a hash of each older file's name
//! for such folders (see `hashes.rs`). A missing name means a deletion, and the folder is read
//! in full. Folders not written recently keep aggregates only, so memory stays flat on a deep
//! archive.
//!
//! The assumptions: a file not modified for `hot_window` is not modified again in place, and a
//! name already counted is not deleted and written anew between two scans (recorders append to
//! the current file and name files by time or sequence; they delete old files, they do not
//! rewrite them). Under them a rescan equals a full scan, which a property test checks.
//!
//! The parts: [`layout`] (which folders are walked and which files count), [`model`] (what the
//! cache remembers of a folder), [`pool`] (the worker threads), [`folder`] (the per-folder
//! algorithm: reuse or list), and one lister per platform (`list_linux`, `list_std`).

pub mod folder;
mod gathered;
pub mod layout;
#[cfg(target_os = "linux")]
mod list_linux;
mod list_std;
mod meta;
pub mod model;
mod pool;

use super::agg::{Agg, DayCalc, FileTime};
use super::{RecorderConfig, MAX_ERRORS};
use folder::Ancestors;
use layout::Layout;
use meta::reason;
pub use model::{CacheKey, RecorderCache};
pub(crate) use model::{DirCache, DirMap, HotFile, RelPath};
use pool::run_pool;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use vigia::pb::ScanOutcome;

/// Deepest folder level walked under a generic root (kept with the `camera_depth` check).
pub use crate::recorder_config::MAX_DEPTH;

/// One problem met during a walk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalkError {
    /// The path (lossy UTF-8).
    pub path: String,
    /// Why it failed.
    pub reason: String,
}

/// What a walk cost: lets tests (and logs) tell a full scan from an incremental one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Folders whose listing was read.
    pub dirs_listed: u64,
    /// Folders whose cached listing was reused.
    pub dirs_reused: u64,
    /// Files stat'ed.
    pub files_stated: u64,
    /// Folders read by two threads at once (big ext4 folders, Linux).
    pub dirs_split: u64,
}

/// The result of scanning one recorder.
#[derive(Debug, Clone)]
pub struct RecorderScan {
    /// How the walk went.
    pub outcome: ScanOutcome,
    /// All counted files.
    pub total: Agg,
    /// Per camera, sorted by name (empty for layouts without cameras).
    pub cameras: Vec<(String, Agg)>,
    /// The first errors by path (at most 20).
    pub errors: Vec<WalkError>,
    /// How many errors beyond those.
    pub errors_omitted: u64,
    /// What the walk cost.
    pub stats: WalkStats,
    /// The cache to hand to the next scan.
    pub cache: RecorderCache,
}

pub(crate) struct Task {
    rel: PathBuf,
    depth: u32,
    camera: Option<Arc<str>>,
    ancestors: Option<Arc<Ancestors>>,
    /// The parent folder, held open (Linux) so this one is stat'ed relative to it.
    parent: Option<Arc<meta::Handle>>,
}

/// One worker's share of the result.
pub(crate) struct Acc {
    calc: DayCalc,
    loose: Agg,
    /// Per camera: looked up once or twice per folder, so by the walk's fast path hash.
    cameras: HashMap<Arc<str>, Agg, model::PathHash>,
    errors: Vec<WalkError>,
    error_count: u64,
    root_unreadable: Option<String>,
    dirs: Vec<(model::RelPath, Box<DirCache>)>,
    /// How many of `dirs` the old cache had too.
    carried: usize,
    /// Folders whose old entry stands unchanged (left in the old cache, which becomes the new).
    kept: Vec<PathBuf>,
    stats: WalkStats,
    /// The listing buffer, reused from folder to folder.
    #[cfg(target_os = "linux")]
    buf: Vec<std::mem::MaybeUninit<u8>>,
}

impl Acc {
    fn new(tz: vigia::Tz) -> Acc {
        Acc {
            calc: DayCalc::new(tz),
            loose: Agg::default(),
            cameras: HashMap::default(),
            errors: Vec::new(),
            error_count: 0,
            root_unreadable: None,
            dirs: Vec::new(),
            carried: 0,
            kept: Vec::new(),
            stats: WalkStats::default(),
            #[cfg(target_os = "linux")]
            buf: Vec::new(),
        }
    }

    /// Takes the errors and costs of a helper that read part of a folder.
    #[cfg(target_os = "linux")]
    fn absorb(&mut self, other: Acc) {
        // The helper may have dropped errors beyond the first ones; they still count.
        self.error_count += other.error_count.saturating_sub(other.errors.len() as u64);
        for e in other.errors {
            self.error(Path::new(&e.path), e.reason);
        }
        self.stats.files_stated += other.stats.files_stated;
    }

    fn error(&mut self, path: &Path, reason: String) {
        self.error_count += 1;
        self.errors.push(WalkError {
            path: path.to_string_lossy().into_owned(),
            reason,
        });
        // Keep the first errors by path, so the list does not depend on thread timing.
        if self.errors.len() > 4 * MAX_ERRORS {
            self.errors.sort();
            self.errors.truncate(MAX_ERRORS);
        }
    }
}

/// Everything a worker reads but never changes.
pub(crate) struct Ctx<'a> {
    root: &'a Path,
    /// For a helper reading half of a big folder (Linux).
    #[cfg(target_os = "linux")]
    tz: vigia::Tz,
    #[cfg(target_os = "linux")]
    threads: usize,
    layout: Layout,
    old: Option<&'a RecorderCache>,
    cutoff: FileTime,
    now_secs: i64,
}

/// Scans one recorder. `old` is the previous scan's cache (same [`CacheKey`]), if any; `now` is
/// the scan's start, which decides which files are "recent". Works on a copy of `old`; the
/// probe's own loop hands its cache over by value instead.
pub fn scan_recorder(
    rec: &RecorderConfig,
    tz: vigia::Tz,
    hot_window: Duration,
    threads: usize,
    now: SystemTime,
    old: Option<&RecorderCache>,
) -> RecorderScan {
    let key = CacheKey::new(rec, tz, hot_window);
    let old = old.filter(|c| c.key == key).cloned();
    scan_recorder_owned(rec, tz, hot_window, threads, now, old)
}

/// As [`scan_recorder`], taking the previous cache by value: the entries of unchanged folders
/// stay where they are in it, and it becomes the new cache (on a tree of thousands of small
/// folders, copying every entry was most of a rescan's memory and allocations).
pub(crate) fn scan_recorder_owned(
    rec: &RecorderConfig,
    tz: vigia::Tz,
    hot_window: Duration,
    threads: usize,
    now: SystemTime,
    old: Option<RecorderCache>,
) -> RecorderScan {
    let key = CacheKey::new(rec, tz, hot_window);
    let old_owned = old.filter(|c| c.key == key);
    let old = old_owned.as_ref();
    let now_ft = FileTime::from_system(now);
    let cutoff = FileTime::from_system(now.checked_sub(hot_window).unwrap_or(now));
    // Built only when the root cannot be walked: it lists every old folder as removed.
    let empty_cache = || RecorderCache {
        key: key.clone(),
        dirs: DirMap::default(),
        removed: removed_since(old, &DirMap::default(), 0),
    };
    let fail = |outcome: ScanOutcome, why: String, cache: RecorderCache| RecorderScan {
        outcome,
        total: Agg::default(),
        cameras: Vec::new(),
        errors: vec![WalkError {
            path: rec.path.to_string_lossy().into_owned(),
            reason: why,
        }],
        errors_omitted: 0,
        stats: WalkStats::default(),
        cache,
    };
    match std::fs::metadata(&rec.path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return fail(
                ScanOutcome::PathMissing,
                "not a folder".to_string(),
                empty_cache(),
            )
        }
        Err(e) => {
            let outcome = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ScanOutcome::PathMissing,
                _ => ScanOutcome::PermissionDenied,
            };
            return fail(outcome, reason(&e), empty_cache());
        }
    }

    let ctx = Ctx {
        root: &rec.path,
        #[cfg(target_os = "linux")]
        tz,
        #[cfg(target_os = "linux")]
        threads,
        layout: Layout::new(rec),
        old,
        cutoff,
        now_secs: now_ft.secs,
    };
    let accs = run_pool(&ctx, threads.max(1), tz);

    let mut total = Agg::default();
    let mut cameras: HashMap<Arc<str>, Agg> = HashMap::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut root_unreadable = None;
    let mut updates = Vec::with_capacity(accs.iter().map(|a| a.dirs.len()).sum());
    let mut kept = Vec::with_capacity(accs.len());
    let mut stats = WalkStats::default();
    let mut carried = 0;
    for acc in accs {
        carried += acc.carried;
        total.merge(&acc.loose);
        for (cam, a) in acc.cameras {
            total.merge(&a);
            cameras.entry(cam).or_default().merge(&a);
        }
        errors.extend(acc.errors);
        error_count += acc.error_count;
        root_unreadable = root_unreadable.or(acc.root_unreadable);
        updates.extend(acc.dirs);
        kept.push(acc.kept);
        stats.dirs_listed += acc.stats.dirs_listed;
        stats.dirs_reused += acc.stats.dirs_reused;
        stats.files_stated += acc.stats.files_stated;
        stats.dirs_split += acc.stats.dirs_split;
    }
    let cache = next_cache(
        CacheKey::new(rec, tz, hot_window),
        old_owned,
        kept,
        updates,
        carried,
    );
    if let Some(why) = root_unreadable {
        return fail(ScanOutcome::PermissionDenied, why, cache);
    }
    errors.sort();
    errors.truncate(MAX_ERRORS);
    let mut cameras: Vec<(String, Agg)> = cameras
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    cameras.sort_by(|a, b| a.0.cmp(&b.0));
    let outcome = if error_count > 0 {
        ScanOutcome::Partial
    } else if total.files == 0 {
        ScanOutcome::Empty
    } else {
        ScanOutcome::Ok
    };
    RecorderScan {
        outcome,
        total,
        cameras,
        errors_omitted: error_count.saturating_sub(errors.len() as u64),
        errors,
        stats,
        cache,
    }
}

/// The folders of `old` not in `dirs` (of which `carried` were in `old`), with those `old` had
/// already dropped without a save since: what the next save removes from the cache file.
fn removed_since(old: Option<&RecorderCache>, dirs: &DirMap, carried: usize) -> Vec<PathBuf> {
    let Some(old) = old else {
        return Vec::new();
    };
    let mut removed: Vec<PathBuf> = old
        .removed
        .iter()
        .filter(|p| !dirs.contains_key(model::key_bytes(p)))
        .cloned()
        .collect();
    // Counting first spares a lookup per folder in the usual case, where nothing went.
    if carried < old.dirs.len() {
        removed.extend(
            old.dirs
                .keys()
                .filter(|p| !dirs.contains_key(model::key_bytes(p)))
                .map(|p| p.0.clone()),
        );
    }
    removed
}

/// The new cache from the old one: the entries of `kept` folders stay as they are, `updates`
/// (of which `carried` replace old entries) go in, and old folders seen in neither go.
fn next_cache(
    key: CacheKey,
    old: Option<RecorderCache>,
    kept: Vec<Vec<PathBuf>>,
    updates: Vec<(RelPath, Box<DirCache>)>,
    carried: usize,
) -> RecorderCache {
    let Some(RecorderCache {
        dirs: mut old_dirs,
        removed: old_removed,
        ..
    }) = old
    else {
        let mut dirs = DirMap::with_capacity_and_hasher(updates.len(), Default::default());
        dirs.extend(updates);
        return RecorderCache {
            key,
            dirs,
            removed: Vec::new(),
        };
    };
    let seen_again = carried + kept.iter().map(Vec::len).sum::<usize>();
    let mut removed = Vec::new();
    // Counting first spares a set of every folder in the usual case, where none went.
    if seen_again < old_dirs.len() {
        let seen: HashSet<&[u8], model::PathHash> = kept
            .iter()
            .flatten()
            .map(|p| model::key_bytes(p))
            .chain(updates.iter().map(|(k, _)| model::key_bytes(k)))
            .collect();
        old_dirs.retain(|k, _| {
            let stays = seen.contains(model::key_bytes(k));
            if !stays {
                removed.push(k.0.clone());
            }
            stays
        });
    }
    old_dirs.extend(updates);
    // Folders dropped before the last save and not back since are still to be removed there.
    removed.extend(
        old_removed
            .into_iter()
            .filter(|p| !old_dirs.contains_key(model::key_bytes(p))),
    );
    RecorderCache {
        key,
        dirs: old_dirs,
        removed,
    }
}
