//! The walk of one recorder's tree: layout rules, the thread pool, and the per-folder cache.
//!
//! Every folder is a task. A task stats its folder (one `lstat`), then either reuses its cached
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

use super::agg::{Agg, DayCalc, FileTime};
#[cfg(target_os = "linux")]
use super::hashes::BATCH;
use super::hashes::{name_hash, NameHashes, Resolved};
use super::{RecorderConfig, Technology, MAX_ERRORS};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};
use vigia::pb::ScanOutcome;

/// Deepest folder level walked under a generic root (a guard against runaway trees).
pub const MAX_DEPTH: u32 = 64;

/// A folder whose mtime is this close to the moment its listing was read may have changed within
/// the same timestamp tick (FAT keeps 2 s); such a listing is read again next time.
const RACY_SECS: i64 = 5;

/// What makes a recorder's cache valid: anything that changes which files count or their days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub(crate) technology: Technology,
    pub(crate) root: PathBuf,
    pub(crate) extensions: Option<Vec<String>>,
    pub(crate) camera_depth: Option<u32>,
    pub(crate) follow_links: bool,
    pub(crate) tz: String,
    pub(crate) hot_window_secs: u64,
}

impl CacheKey {
    /// The key of a recorder's configuration in a zone with a hot window.
    pub fn new(rec: &RecorderConfig, tz: vigia::Tz, hot_window: Duration) -> CacheKey {
        CacheKey {
            technology: rec.technology,
            root: rec.path.clone(),
            extensions: rec.effective_extensions(),
            camera_depth: rec.camera_depth,
            follow_links: rec.follow_links,
            tz: tz.name().to_string(),
            hot_window_secs: hot_window.as_secs(),
        }
    }
}

/// The incremental state of one recorder: one entry per folder, keyed by its path under the root.
#[derive(Debug, Clone)]
pub struct RecorderCache {
    pub(crate) key: CacheKey,
    pub(crate) dirs: HashMap<PathBuf, DirCache>,
}

impl RecorderCache {
    /// Number of folders cached.
    pub fn folder_count(&self) -> usize {
        self.dirs.len()
    }

    /// Number of file names kept (hashes and recently-written files): what memory grows with.
    pub fn file_entries(&self) -> usize {
        self.dirs
            .values()
            .map(|d| d.hot.len() + d.cold_hashes.as_ref().map_or(0, |h| h.len()))
            .sum()
    }
}

/// What is remembered of one folder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DirCache {
    /// Device and inode (Unix), so a folder replaced by another is not mistaken for it.
    pub(crate) id: (u64, u64),
    /// The folder's own mtime when its listing was read.
    pub(crate) mtime: FileTime,
    /// Its status-change time then (Unix; zero elsewhere).
    pub(crate) ctime: FileTime,
    /// When the listing was read (seconds since 1970).
    pub(crate) listed_at: i64,
    /// Subfolders the layout descends into.
    pub(crate) subdirs: Vec<OsString>,
    /// Counted files older than the hot window, as one aggregate.
    pub(crate) cold: Agg,
    /// Name hashes of those files, kept for recently-written folders only.
    pub(crate) cold_hashes: Option<NameHashes>,
    /// Counted files within the hot window, by name.
    pub(crate) hot: Vec<HotFile>,
}

/// A recently-modified file, re-stat'ed on every scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HotFile {
    pub(crate) name: OsString,
    pub(crate) mtime: FileTime,
    pub(crate) size: u64,
}

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

/// Where files count and cameras sit, for one recorder.
struct Layout {
    technology: Technology,
    extensions: Option<Vec<String>>,
    camera_level: Option<u32>,
    follow: bool,
}

impl Layout {
    fn new(rec: &RecorderConfig) -> Layout {
        Layout {
            technology: rec.technology,
            extensions: rec.effective_extensions(),
            camera_level: match rec.technology {
                Technology::Intelbras => None,
                Technology::Digifort => Some(1),
                Technology::Ivms => Some(2),
                Technology::Generic => rec.camera_depth,
            },
            follow: rec.follow_links,
        }
    }

    /// Whether a subfolder at `depth` (root = 0) is walked.
    fn descends(&self, depth: u32, name: &OsStr) -> bool {
        match self.technology {
            Technology::Intelbras => depth <= 3,
            Technology::Digifort => {
                depth == 1 || (depth == 2 && name.as_encoded_bytes().eq_ignore_ascii_case(b"dados"))
            }
            Technology::Ivms => depth <= 2,
            Technology::Generic => true,
        }
    }

    /// Whether files at `depth` count.
    fn counts_files_at(&self, depth: u32) -> bool {
        match self.technology {
            Technology::Intelbras => depth == 4,
            Technology::Digifort | Technology::Ivms => depth == 3,
            Technology::Generic => depth >= 1,
        }
    }

    fn name_matches(&self, name: &OsStr) -> bool {
        let Some(exts) = &self.extensions else {
            return true;
        };
        let bytes = name.as_encoded_bytes();
        let Some(dot) = bytes.iter().rposition(|&b| b == b'.') else {
            return false;
        };
        let ext = &bytes[dot + 1..];
        exts.iter().any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
    }
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        meta.created()
            .ok()
            .map(FileTime::from_system)
            .map_or((0, 0), |t| (t.secs as u64, u64::from(t.nanos)))
    }
}

/// The folder's status-change time (Unix): moves on chmod and chown too, which leave the mtime
/// alone, so a folder made unreadable is read (and reported) again. Windows has no such time in
/// std; the mtime alone decides there.
fn change_time(meta: &std::fs::Metadata) -> FileTime {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileTime {
            secs: meta.ctime(),
            nanos: u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        FileTime { secs: 0, nanos: 0 }
    }
}

fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::NotFound => "not found".to_string(),
        _ => e.to_string(),
    }
}

fn walk_reason(e: &walkdir::Error) -> String {
    if let Some(anc) = e.loop_ancestor() {
        return format!("symbolic link loop back to {}", anc.display());
    }
    match e.io_error() {
        Some(io) => reason(io),
        None => e.to_string(),
    }
}

/// Chain of folder identities from the root, for loop detection when links are followed.
struct Ancestors {
    id: (u64, u64),
    parent: Option<Arc<Ancestors>>,
}

impl Ancestors {
    fn contains(self: &Arc<Self>, id: (u64, u64)) -> bool {
        let mut cur = Some(self);
        while let Some(a) = cur {
            if a.id == id {
                return true;
            }
            cur = a.parent.as_ref();
        }
        false
    }
}

struct Task {
    rel: PathBuf,
    depth: u32,
    camera: Option<Arc<str>>,
    ancestors: Option<Arc<Ancestors>>,
}

/// One worker's share of the result.
struct Acc {
    calc: DayCalc,
    loose: Agg,
    cameras: HashMap<Arc<str>, Agg>,
    errors: Vec<WalkError>,
    error_count: u64,
    root_unreadable: Option<String>,
    dirs: Vec<(PathBuf, DirCache)>,
    stats: WalkStats,
    /// The listing buffer, reused from folder to folder.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    buf: Vec<std::mem::MaybeUninit<u8>>,
}

impl Acc {
    fn new(tz: vigia::Tz) -> Acc {
        Acc {
            calc: DayCalc::new(tz),
            loose: Agg::default(),
            cameras: HashMap::new(),
            errors: Vec::new(),
            error_count: 0,
            root_unreadable: None,
            dirs: Vec::new(),
            stats: WalkStats::default(),
            buf: Vec::new(),
        }
    }

    /// Takes the errors and costs of a helper that read part of a folder.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
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
struct Ctx<'a> {
    root: &'a Path,
    /// For a helper reading half of a big folder (Linux).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    tz: vigia::Tz,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    threads: usize,
    layout: Layout,
    old: Option<&'a RecorderCache>,
    cutoff: FileTime,
    now_secs: i64,
}

/// Scans one recorder. `old` is the previous scan's cache (same [`CacheKey`]), if any; `now` is
/// the scan's start, which decides which files are "recent".
pub fn scan_recorder(
    rec: &RecorderConfig,
    tz: vigia::Tz,
    hot_window: Duration,
    threads: usize,
    now: SystemTime,
    old: Option<&RecorderCache>,
) -> RecorderScan {
    let key = CacheKey::new(rec, tz, hot_window);
    let old = old.filter(|c| c.key == key);
    let now_ft = FileTime::from_system(now);
    let cutoff = FileTime::from_system(now.checked_sub(hot_window).unwrap_or(now));
    let empty_cache = RecorderCache {
        key,
        dirs: HashMap::new(),
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
                empty_cache,
            )
        }
        Err(e) => {
            let outcome = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ScanOutcome::PathMissing,
                _ => ScanOutcome::PermissionDenied,
            };
            return fail(outcome, reason(&e), empty_cache);
        }
    }

    let ctx = Ctx {
        root: &rec.path,
        tz,
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
    let mut dirs = HashMap::new();
    let mut stats = WalkStats::default();
    for acc in accs {
        total.merge(&acc.loose);
        for (cam, a) in acc.cameras {
            total.merge(&a);
            cameras.entry(cam).or_default().merge(&a);
        }
        errors.extend(acc.errors);
        error_count += acc.error_count;
        root_unreadable = root_unreadable.or(acc.root_unreadable);
        dirs.extend(acc.dirs);
        stats.dirs_listed += acc.stats.dirs_listed;
        stats.dirs_reused += acc.stats.dirs_reused;
        stats.files_stated += acc.stats.files_stated;
        stats.dirs_split += acc.stats.dirs_split;
    }
    let cache = RecorderCache {
        key: CacheKey::new(rec, tz, hot_window),
        dirs,
    };
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

struct Queue {
    tasks: Vec<Task>,
    active: usize,
}

fn run_pool(ctx: &Ctx<'_>, threads: usize, tz: vigia::Tz) -> Vec<Acc> {
    let shared = (
        Mutex::new(Queue {
            tasks: vec![Task {
                rel: PathBuf::new(),
                depth: 0,
                camera: None,
                ancestors: None,
            }],
            active: 0,
        }),
        Condvar::new(),
    );
    let worker = || {
        let mut acc = Acc::new(tz);
        let (lock, cv) = &shared;
        loop {
            let task = {
                let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if let Some(t) = q.tasks.pop() {
                        q.active += 1;
                        break Some(t);
                    }
                    if q.active == 0 {
                        break None;
                    }
                    q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(task) = task else {
                cv.notify_all();
                break;
            };
            let children = scan_folder(ctx, &task, &mut acc);
            let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
            q.active -= 1;
            let woke = !children.is_empty() || q.active == 0;
            q.tasks.extend(children);
            drop(q);
            if woke {
                cv.notify_all();
            }
        }
        acc
    };
    if threads == 1 {
        return vec![worker()];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
        let mut accs = vec![worker()];
        for h in handles {
            match h.join() {
                Ok(a) => accs.push(a),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        accs
    })
}

/// Scans one folder: its counted files into `acc`, its cache entry, and its subfolders as tasks.
fn scan_folder(ctx: &Ctx<'_>, task: &Task, acc: &mut Acc) -> Vec<Task> {
    let abs = ctx.root.join(&task.rel);
    let follow = ctx.layout.follow || task.depth == 0;
    let meta = if follow {
        std::fs::metadata(&abs)
    } else {
        std::fs::symlink_metadata(&abs)
    };
    let meta = match meta {
        Ok(m) if m.is_dir() => m,
        // Replaced by something else, or gone since its parent was listed.
        Ok(_) => return Vec::new(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            if task.depth == 0 {
                acc.root_unreadable = Some(reason(&e));
            } else {
                acc.error(&abs, reason(&e));
            }
            return Vec::new();
        }
    };
    let id = identity(&meta);
    let ctime = change_time(&meta);
    let ancestors = if ctx.layout.follow {
        if let Some(a) = &task.ancestors {
            if id != (0, 0) && a.contains(id) {
                acc.error(
                    &abs,
                    "symbolic link loop: leads back to a folder above it".to_string(),
                );
                return Vec::new();
            }
        }
        Some(Arc::new(Ancestors {
            id,
            parent: task.ancestors.clone(),
        }))
    } else {
        None
    };
    let Some(mtime) = FileTime::of(&meta) else {
        acc.error(&abs, "no modification time".to_string());
        return Vec::new();
    };
    if let Some(cam) = &task.camera {
        if Some(task.depth) == ctx.layout.camera_level {
            acc.cameras.entry(cam.clone()).or_default();
        }
    }

    let old = ctx
        .old
        .and_then(|c| c.dirs.get(&task.rel))
        .filter(|d| d.id == id);
    let reusable = old
        .filter(|d| d.mtime == mtime && d.ctime == ctime && mtime.secs < d.listed_at - RACY_SECS);
    let errors_before = acc.error_count;
    let reused = reusable.and_then(|d| reuse_listing(ctx, &abs, d, acc));
    let entry = match reused {
        Some(d) => {
            acc.stats.dirs_reused += 1;
            Some(d)
        }
        None => {
            acc.stats.dirs_listed += 1;
            let mut e = read_listing(ctx, task, &abs, meta.len(), old, acc);
            if e.as_ref().is_some_and(|e| e.is_none()) {
                // A file known to the cache is gone: the aggregate cannot be corrected, read in full.
                e = read_listing(ctx, task, &abs, meta.len(), None, acc);
            }
            e.flatten()
        }
    };
    let Some(mut entry) = entry else {
        return Vec::new();
    };
    entry.id = id;
    entry.mtime = mtime;
    entry.ctime = ctime;

    let mut here = entry.cold.clone();
    for f in &entry.hot {
        here.add(f.mtime, f.size, &mut acc.calc);
    }
    match &task.camera {
        Some(cam) if here.files > 0 => acc.cameras.entry(cam.clone()).or_default().merge(&here),
        Some(_) => {}
        None => acc.loose.merge(&here),
    }

    // Only recently-written folders keep their files' name hashes.
    if entry.hot.is_empty() && mtime < ctx.cutoff && mtime.secs < entry.listed_at - RACY_SECS {
        entry.cold_hashes = None;
    }
    let children = entry
        .subdirs
        .iter()
        .map(|name| {
            let depth = task.depth + 1;
            let camera = if Some(depth) == ctx.layout.camera_level {
                Some(Arc::from(name.to_string_lossy().as_ref()))
            } else {
                task.camera.clone()
            };
            Task {
                rel: task.rel.join(name),
                depth,
                camera,
                ancestors: ancestors.clone(),
            }
        })
        .collect();
    // A folder with errors is not cached, so the next scan tries it afresh.
    if acc.error_count == errors_before {
        acc.dirs.push((task.rel.clone(), entry));
    }
    children
}

/// The folder is unchanged: its listing stands, only its recent files are stat'ed again.
/// `None` when the cache cannot be brought up to date this way (the caller reads the listing).
fn reuse_listing(ctx: &Ctx<'_>, abs: &Path, old: &DirCache, acc: &mut Acc) -> Option<DirCache> {
    let mut entry = DirCache {
        id: old.id,
        mtime: old.mtime,
        ctime: old.ctime,
        listed_at: old.listed_at,
        subdirs: old.subdirs.clone(),
        cold: old.cold.clone(),
        cold_hashes: old.cold_hashes.clone(),
        hot: Vec::new(),
    };
    let mut new_cold = Vec::new();
    for f in &old.hot {
        let path = abs.join(&f.name);
        acc.stats.files_stated += 1;
        let meta = if ctx.layout.follow {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        };
        match meta {
            Ok(m) if m.is_file() => {
                let Some(t) = FileTime::of(&m) else { continue };
                if t >= ctx.cutoff {
                    entry.hot.push(HotFile {
                        name: f.name.clone(),
                        mtime: t,
                        size: m.len(),
                    });
                } else {
                    entry.cold.add(t, m.len(), &mut acc.calc);
                    new_cold.push(name_hash(f.name.as_encoded_bytes()));
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => acc.error(&path, reason(&e)),
        }
    }
    if !new_cold.is_empty() {
        match &mut entry.cold_hashes {
            Some(h) => h.add(&mut new_cold),
            // Cannot happen (folders with recent files keep their hashes); read it again.
            None => return None,
        }
    }
    Some(entry)
}

/// What a listing gathers, before it becomes a cache entry (one per reader when a big folder
/// is read by two threads).
#[derive(Default)]
struct Gathered {
    /// Names found among the cached older files' hashes (not stat'ed again).
    seen_cold: usize,
    subdirs: Vec<OsString>,
    cold: Agg,
    hashes: Vec<u64>,
    hot: Vec<HotFile>,
}

/// A counted file's figures from its stat.
struct FileMeta {
    is_file: bool,
    mtime: Option<FileTime>,
    len: u64,
}

impl Gathered {
    /// A subfolder of the folder at `depth`.
    fn subdir(
        &mut self,
        ctx: &Ctx<'_>,
        depth: u32,
        name: &OsStr,
        path: impl FnOnce() -> PathBuf,
        acc: &mut Acc,
    ) {
        if depth + 1 > MAX_DEPTH {
            acc.error(
                &path(),
                format!("deeper than {MAX_DEPTH} levels; not walked"),
            );
        } else if ctx.layout.descends(depth + 1, name) {
            self.subdirs.push(name.to_os_string());
        }
    }

    /// A regular file whose name counts. `stat` is called only for names not already known.
    fn file(
        &mut self,
        ctx: &Ctx<'_>,
        name: &OsStr,
        old: Option<&Resolved<'_>>,
        stat: impl FnOnce() -> io::Result<FileMeta>,
        path: impl Fn() -> PathBuf,
        acc: &mut Acc,
    ) {
        let h = name_hash(name.as_encoded_bytes());
        if old.is_some_and(|oh| oh.contains(h)) {
            self.seen_cold += 1;
            return;
        }
        self.new_file(ctx, name, h, stat, path, acc);
    }

    /// A counted file not among the cached older ones (`h`: its name's hash): stat'ed.
    fn new_file(
        &mut self,
        ctx: &Ctx<'_>,
        name: &OsStr,
        h: u64,
        stat: impl FnOnce() -> io::Result<FileMeta>,
        path: impl Fn() -> PathBuf,
        acc: &mut Acc,
    ) {
        acc.stats.files_stated += 1;
        let meta = match stat() {
            Ok(m) => m,
            Err(err) => {
                if err.kind() != io::ErrorKind::NotFound {
                    acc.error(&path(), reason(&err));
                }
                return;
            }
        };
        if !meta.is_file {
            return;
        }
        let Some(t) = meta.mtime else {
            acc.error(&path(), "no modification time".to_string());
            return;
        };
        if t >= ctx.cutoff {
            self.hot.push(HotFile {
                name: name.to_os_string(),
                mtime: t,
                size: meta.len,
            });
        } else {
            self.cold.add(t, meta.len, &mut acc.calc);
            self.hashes.push(h);
        }
    }

    /// Adds what another reader of the same folder gathered.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn absorb(&mut self, other: Gathered) {
        self.seen_cold += other.seen_cold;
        self.subdirs.extend(other.subdirs);
        self.cold.merge(&other.cold);
        self.hashes.extend(other.hashes);
        self.hot.extend(other.hot);
    }
}

/// Reads a folder's listing. With `old` (same folder, changed), names whose hashes are cached as
/// older files are not stat'ed again. Returns `Some(None)` when such a file has disappeared (the
/// caller then reads in full), `None` when the folder could not be read.
fn read_listing(
    ctx: &Ctx<'_>,
    task: &Task,
    abs: &Path,
    dir_bytes: u64,
    old: Option<&DirCache>,
    acc: &mut Acc,
) -> Option<Option<DirCache>> {
    let listed_at = ctx.now_secs;
    // A block that cannot be read leaves `old_hashes` empty: the folder is then read in full.
    let old_hashes = old
        .and_then(|d| d.cold_hashes.as_ref())
        .and_then(NameHashes::resolve);

    #[cfg(target_os = "linux")]
    let g = if ctx.layout.follow {
        gather_portable(ctx, task, abs, old_hashes.as_ref(), acc)?
    } else {
        gather_linux(ctx, task, abs, dir_bytes, old_hashes.as_ref(), acc)?
    };
    #[cfg(not(target_os = "linux"))]
    let g = {
        let _ = dir_bytes;
        gather_portable(ctx, task, abs, old_hashes.as_ref(), acc)?
    };
    let Gathered {
        seen_cold,
        mut subdirs,
        mut cold,
        mut hashes,
        hot,
    } = g;
    hashes.sort_unstable();
    let cold_hashes = if let (Some(old), Some(oh)) = (old, &old_hashes) {
        if seen_cold != oh.len() {
            return Some(None);
        }
        cold.merge(&old.cold);
        oh.with(&hashes)
    } else {
        NameHashes::from_sorted(hashes)
    };
    subdirs.sort();
    Some(Some(DirCache {
        id: (0, 0),
        mtime: FileTime { secs: 0, nanos: 0 },
        ctime: FileTime { secs: 0, nanos: 0 },
        listed_at,
        subdirs,
        cold,
        cold_hashes: Some(cold_hashes),
        hot,
    }))
}

/// Lists a folder on Linux from `getdents64`, a big ext4 folder by two threads at once.
/// `None` when the folder itself cannot be read.
#[cfg(target_os = "linux")]
fn gather_linux(
    ctx: &Ctx<'_>,
    task: &Task,
    abs: &Path,
    dir_bytes: u64,
    old: Option<&Resolved<'_>>,
    acc: &mut Acc,
) -> Option<Gathered> {
    use super::rawdir::{self, Part};
    let fd = match rawdir::open(abs) {
        Ok(fd) => fd,
        Err(e) => {
            if task.depth == 0 {
                acc.root_unreadable = Some(reason(&e));
            } else {
                acc.error(abs, reason(&e));
            }
            return None;
        }
    };
    let upper = if ctx.threads > 1 && rawdir::splittable(&fd, dir_bytes) {
        rawdir::open_upper_half(&fd)
    } else {
        None
    };
    let read = |fd: &rustix::fd::OwnedFd, part: Part, acc: &mut Acc| {
        let mut g = Gathered::default();
        let files_here = ctx.layout.counts_files_at(task.depth + 1);
        let mut buf = std::mem::take(&mut acc.buf);
        let mut pending = Pending::default();
        let result = rawdir::for_each(fd, part, &mut buf, |cname, kind| {
            let name = cname_os(cname);
            let path = || abs.join(name);
            let mut kind = kind;
            let mut known = None;
            if kind == rawdir::Kind::Unknown {
                // The file system did not give the type: one stat tells, and serves below.
                match rawdir::stat_at(fd, cname) {
                    Ok(m) => {
                        kind = if m.is_dir {
                            rawdir::Kind::Dir
                        } else if m.is_file {
                            rawdir::Kind::File
                        } else {
                            rawdir::Kind::Other
                        };
                        known = Some(m);
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                    Err(e) => {
                        acc.error(&path(), reason(&e));
                        return;
                    }
                }
            }
            match kind {
                rawdir::Kind::Dir => g.subdir(ctx, task.depth, name, path, acc),
                rawdir::Kind::File if files_here && ctx.layout.name_matches(name) => {
                    pending.push(cname, known);
                    if pending.hashes.len() == BATCH {
                        pending.flush(ctx, abs, fd, old, &mut g, acc);
                    }
                }
                // FIFOs, sockets, devices, links not followed, files at other depths: never opened.
                _ => {}
            }
        });
        pending.flush(ctx, abs, fd, old, &mut g, acc);
        acc.buf = buf;
        if let Err(e) = result {
            acc.error(abs, reason(&e));
        }
        g
    };
    let Some(upper) = upper else {
        return Some(read(&fd, Part::Whole, acc));
    };
    acc.stats.dirs_split += 1;
    let (mut g, (g2, acc2)) = std::thread::scope(|s| {
        let helper = s.spawn(|| {
            let mut acc2 = Acc::new(ctx.tz);
            let g2 = read(&upper, Part::Upper, &mut acc2);
            (g2, acc2)
        });
        let g = read(&fd, Part::Lower, acc);
        match helper.join() {
            Ok(r) => (g, r),
            Err(p) => std::panic::resume_unwind(p),
        }
    });
    g.absorb(g2);
    acc.absorb(acc2);
    Some(g)
}

/// Counted files met in a listing, looked up among the cached names a batch at a time.
#[cfg(target_os = "linux")]
#[derive(Default)]
struct Pending {
    /// The names, each followed by its NUL.
    names: Vec<u8>,
    /// Where each name starts in `names`, and its length.
    spans: Vec<(usize, usize)>,
    hashes: Vec<u64>,
    /// A stat already made (when the listing did not give the file type).
    known: Vec<Option<super::rawdir::Meta>>,
}

#[cfg(target_os = "linux")]
impl Pending {
    fn push(&mut self, cname: &std::ffi::CStr, known: Option<super::rawdir::Meta>) {
        let bytes = cname.to_bytes_with_nul();
        self.spans.push((self.names.len(), bytes.len() - 1));
        self.names.extend_from_slice(bytes);
        self.hashes.push(name_hash(&bytes[..bytes.len() - 1]));
        self.known.push(known);
    }

    /// Looks the batch up and stats the names not found.
    fn flush(
        &mut self,
        ctx: &Ctx<'_>,
        abs: &Path,
        fd: &rustix::fd::OwnedFd,
        old: Option<&Resolved<'_>>,
        g: &mut Gathered,
        acc: &mut Acc,
    ) {
        use super::rawdir;
        let mut found = [false; BATCH];
        if let Some(oh) = old {
            oh.contains_batch(&self.hashes, &mut found);
        }
        for (i, &(start, len)) in self.spans.iter().enumerate() {
            if found[i] {
                g.seen_cold += 1;
                continue;
            }
            let with_nul = &self.names[start..=start + len];
            let Ok(cname) = std::ffi::CStr::from_bytes_with_nul(with_nul) else {
                continue;
            };
            let name = cname_os(cname);
            let known = self.known[i].take();
            let stat = || {
                let m = match known {
                    Some(m) => m,
                    None => rawdir::stat_at(fd, cname)?,
                };
                Ok(FileMeta {
                    is_file: m.is_file,
                    mtime: Some(m.mtime),
                    len: m.len,
                })
            };
            g.new_file(ctx, name, self.hashes[i], stat, || abs.join(name), acc);
        }
        self.names.clear();
        self.spans.clear();
        self.hashes.clear();
        self.known.clear();
    }
}

/// A name from the listing as an `OsStr` (Unix names are bytes).
#[cfg(target_os = "linux")]
fn cname_os(name: &std::ffi::CStr) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(name.to_bytes())
}

/// Lists a folder with std's `read_dir`, or walkdir when links are followed. `None` when the
/// folder itself cannot be read.
fn gather_portable(
    ctx: &Ctx<'_>,
    task: &Task,
    abs: &Path,
    old: Option<&Resolved<'_>>,
    acc: &mut Acc,
) -> Option<Gathered> {
    let depth = task.depth;
    let files_here = ctx.layout.counts_files_at(depth + 1);
    let mut g = Gathered::default();
    // Two ways to list: std's read_dir when links are not followed (its metadata() is an
    // fstatat relative to the open folder, cheaper than walkdir's lstat of the full path, which
    // makes the kernel resolve every component again), walkdir when they are (it resolves link
    // targets and reports a link back to the folder being listed as a loop).
    let mut items: Box<dyn Iterator<Item = Result<Listed, ListError>>> = if ctx.layout.follow {
        Box::new(
            walkdir::WalkDir::new(abs)
                .min_depth(1)
                .max_depth(1)
                .follow_links(true)
                .into_iter()
                .map(|r| r.map(Listed::Walk).map_err(ListError::Walk)),
        )
    } else {
        match std::fs::read_dir(abs) {
            Ok(rd) => Box::new(rd.map(|r| r.map(Listed::Std).map_err(ListError::Entry))),
            Err(e) => Box::new(std::iter::once(Err(ListError::Open(e)))),
        }
    };
    for item in &mut items {
        let e = match item {
            Ok(e) => e,
            Err(err) => {
                if err.is_folder_itself() {
                    if task.depth == 0 {
                        acc.root_unreadable = Some(err.reason());
                    } else {
                        acc.error(abs, err.reason());
                    }
                    return None;
                }
                if err.is_not_found() {
                    continue;
                }
                let path = err.path().unwrap_or(abs).to_path_buf();
                acc.error(&path, err.reason());
                continue;
            }
        };
        let Some(ft) = e.file_type() else { continue };
        let name = e.file_name();
        let name = name.as_os_str();
        if ft.is_dir() {
            g.subdir(ctx, depth, name, || e.path(), acc);
            continue;
        }
        if !ft.is_file() || !files_here || !ctx.layout.name_matches(name) {
            // FIFOs, sockets, devices, links not followed, files at other depths: never opened.
            continue;
        }
        let stat = || {
            e.metadata().map(|m| FileMeta {
                is_file: m.is_file(),
                mtime: FileTime::of(&m),
                len: m.len(),
            })
        };
        g.file(ctx, name, old, stat, || e.path(), acc);
    }
    Some(g)
}

/// One entry of a listing, from either lister.
// One entry lives at a time, on the stack of the loop: the variants' sizes (which differ by
// platform: std's entry is 600 bytes on Windows) do not matter.
#[allow(clippy::large_enum_variant)]
enum Listed {
    Walk(walkdir::DirEntry),
    Std(std::fs::DirEntry),
}

impl Listed {
    fn file_name(&self) -> OsString {
        match self {
            Listed::Walk(e) => e.file_name().to_os_string(),
            Listed::Std(e) => e.file_name(),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Listed::Walk(e) => e.path().to_path_buf(),
            Listed::Std(e) => e.path(),
        }
    }

    /// Free from the listing on Linux and Windows (d_type); None when the entry vanished.
    fn file_type(&self) -> Option<std::fs::FileType> {
        match self {
            Listed::Walk(e) => Some(e.file_type()),
            Listed::Std(e) => e.file_type().ok(),
        }
    }

    /// One stat: relative to the open folder for std, of the (followed) path for walkdir.
    fn metadata(&self) -> io::Result<std::fs::Metadata> {
        match self {
            Listed::Walk(e) => e.metadata().map_err(|err| {
                err.into_io_error()
                    .unwrap_or_else(|| io::Error::other("symbolic link loop"))
            }),
            Listed::Std(e) => e.metadata(),
        }
    }
}

/// A listing error, from either lister.
enum ListError {
    Open(io::Error),
    Entry(io::Error),
    Walk(walkdir::Error),
}

impl ListError {
    fn is_folder_itself(&self) -> bool {
        match self {
            ListError::Open(_) => true,
            ListError::Entry(_) => false,
            ListError::Walk(e) => e.depth() == 0,
        }
    }

    fn is_not_found(&self) -> bool {
        let kind = match self {
            ListError::Open(e) | ListError::Entry(e) => Some(e.kind()),
            ListError::Walk(e) => e.io_error().map(io::Error::kind),
        };
        kind == Some(io::ErrorKind::NotFound)
    }

    fn path(&self) -> Option<&Path> {
        match self {
            ListError::Walk(e) => e.path(),
            _ => None,
        }
    }

    fn reason(&self) -> String {
        match self {
            ListError::Open(e) | ListError::Entry(e) => reason(e),
            ListError::Walk(e) => walk_reason(e),
        }
    }
}
