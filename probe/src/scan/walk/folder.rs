//! The per-folder algorithm: reuse a folder's cached listing, or list it again (stat'ing only
//! names not already known), and queue its subfolders.

use super::super::agg::{Agg, FileTime};
use super::super::hashes::{name_hash, NameHashes};
use super::gathered::Gathered;
use super::meta::{reason, stat_dir, Handle};
use super::model::{key_bytes, RelPath};
use super::{Acc, Ctx, DirCache, HotFile, Task};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A folder whose mtime is this close to the moment its listing was read may have changed within
/// the same timestamp tick (FAT keeps 2 s); such a listing is read again next time.
const RACY_SECS: i64 = 5;

/// Chain of folder identities from the root, for loop detection when links are followed.
pub(crate) struct Ancestors {
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

/// Scans one folder: its counted files into `acc`, its cache entry, and its subfolders as tasks.
pub(crate) fn scan_folder(ctx: &Ctx<'_>, task: &mut Task, acc: &mut Acc) -> Vec<Task> {
    // The full path is joined only when needed (a fallback stat, an error, a listing): an
    // unchanged folder stat'ed relative to its parent never needs it.
    let abs_cell = std::cell::OnceCell::new();
    let abs = || abs_cell.get_or_init(|| ctx.root.join(&task.rel)).as_path();
    let follow = ctx.layout.follow || task.depth == 0;
    let name = task.rel.file_name();
    let meta = match stat_dir(task.parent.as_deref(), name, abs, follow) {
        Ok(m) if m.is_dir => m,
        // Replaced by something else, or gone since its parent was listed.
        Ok(_) => return Vec::new(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            if task.depth == 0 {
                acc.root_unreadable = Some(reason(&e));
            } else {
                acc.error(abs(), reason(&e));
            }
            return Vec::new();
        }
    };
    let id = meta.id;
    let ctime = meta.ctime;
    let ancestors = if ctx.layout.follow {
        if let Some(a) = &task.ancestors {
            if id != (0, 0) && a.contains(id) {
                acc.error(
                    abs(),
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
    let Some(mtime) = meta.mtime else {
        acc.error(abs(), "no modification time".to_string());
        return Vec::new();
    };
    if let Some(cam) = &task.camera {
        if Some(task.depth) == ctx.layout.camera_level {
            // Looked up by the name: the common case (known already) clones no `Arc`.
            if !acc.cameras.contains_key(&**cam) {
                acc.cameras.insert(cam.clone(), Agg::default());
            }
        }
    }

    let prev = ctx
        .old
        .and_then(|c| c.dirs.get(key_bytes(&task.rel)))
        .map(|d| &**d);
    let old = prev.filter(|d| d.id == id);
    let reusable = old
        .filter(|d| d.mtime == mtime && d.ctime == ctime && mtime.secs < d.listed_at - RACY_SECS);
    // Held open while its subfolders wait, so each is stat'ed by one path component. Links are
    // followed through walkdir's resolution, by full path: no handle then.
    let open_handle = |subdirs: &[OsString]| {
        if subdirs.is_empty() || ctx.layout.follow {
            None
        } else {
            Handle::open(task.parent.as_deref(), name, abs, follow).map(Arc::new)
        }
    };
    if let Some(d) = reusable.filter(|d| d.hot.is_empty() && !drops_hashes(ctx, d, mtime)) {
        // Unchanged, nothing to stat again: the old entry stands as it is, and stays in the
        // old cache, which becomes the new one (no copy of it is made).
        acc.stats.dirs_reused += 1;
        count_here(task, &d.cold, &[], acc);
        let handle = open_handle(&d.subdirs);
        let children = child_tasks(ctx, task, &d.subdirs, &ancestors, &handle);
        acc.kept.push(std::mem::take(&mut task.rel));
        return children;
    }
    let errors_before = acc.error_count;
    let reused = reusable.and_then(|d| reuse_listing(ctx, abs(), d, acc));
    let entry = match reused {
        Some(d) => {
            acc.stats.dirs_reused += 1;
            Some(d)
        }
        None => {
            acc.stats.dirs_listed += 1;
            let mut e = read_listing(ctx, task, abs(), meta.len, old, acc);
            if e.as_ref().is_some_and(|e| e.is_none()) {
                // A file known to the cache is gone: the aggregate cannot be corrected, read in full.
                e = read_listing(ctx, task, abs(), meta.len, None, acc);
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
    count_here(task, &entry.cold, &entry.hot, acc);

    // Only recently-written folders keep their files' name hashes.
    if drops_hashes(ctx, &entry, mtime) {
        entry.cold_hashes = None;
        entry.dirty = true;
    }
    let handle = open_handle(&entry.subdirs);
    let children = child_tasks(ctx, task, &entry.subdirs, &ancestors, &handle);
    // A folder with errors is not cached, so the next scan tries it afresh.
    if acc.error_count == errors_before {
        acc.carried += usize::from(prev.is_some());
        acc.dirs
            .push((RelPath(std::mem::take(&mut task.rel)), Box::new(entry)));
    }
    children
}

/// Whether a folder's name hashes are dropped now: no recent files and not written recently
/// (only recently-written folders keep them).
fn drops_hashes(ctx: &Ctx<'_>, d: &DirCache, mtime: FileTime) -> bool {
    d.hot.is_empty()
        && mtime < ctx.cutoff
        && mtime.secs < d.listed_at - RACY_SECS
        && d.cold_hashes.is_some()
}

/// Adds a folder's files (its older ones as one aggregate, its recent ones) to its camera's
/// figures, or to the loose ones.
fn count_here(task: &Task, cold: &Agg, hot: &[HotFile], acc: &mut Acc) {
    let merge = |into: &mut Agg, calc: &mut super::super::agg::DayCalc| {
        into.merge(cold);
        for f in hot {
            into.add(f.mtime, f.size, calc);
        }
    };
    match &task.camera {
        Some(cam) if cold.files > 0 || !hot.is_empty() => {
            // Looked up by the name: the common case (known already) clones no `Arc`.
            if let Some(into) = acc.cameras.get_mut(&**cam) {
                merge(into, &mut acc.calc);
            } else {
                let mut into = Agg::default();
                merge(&mut into, &mut acc.calc);
                acc.cameras.insert(cam.clone(), into);
            }
        }
        Some(_) => {}
        None => merge(&mut acc.loose, &mut acc.calc),
    }
}

/// The tasks of a folder's subfolders.
fn child_tasks(
    ctx: &Ctx<'_>,
    task: &Task,
    subdirs: &[OsString],
    ancestors: &Option<Arc<Ancestors>>,
    handle: &Option<Arc<Handle>>,
) -> Vec<Task> {
    subdirs
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
                parent: handle.clone(),
            }
        })
        .collect()
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
        dirty: old.dirty,
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
    entry.dirty |= entry.hot != old.hot || !new_cold.is_empty();
    if !new_cold.is_empty() {
        match &mut entry.cold_hashes {
            Some(h) => h.add(&mut new_cold),
            // Cannot happen (folders with recent files keep their hashes); read it again.
            None => return None,
        }
    }
    Some(entry)
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
        super::list_std::gather_portable(ctx, task, abs, old_hashes.as_ref(), acc)?
    } else {
        super::list_linux::gather_linux(ctx, task, abs, dir_bytes, old_hashes.as_ref(), acc)?
    };
    #[cfg(not(target_os = "linux"))]
    let g = {
        let _ = dir_bytes;
        super::list_std::gather_portable(ctx, task, abs, old_hashes.as_ref(), acc)?
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
        dirty: true,
    }))
}
