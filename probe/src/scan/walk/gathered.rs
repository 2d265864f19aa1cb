//! What one listing of a folder gathers (its subfolders, the older files' figures and name
//! hashes, the recent files), filled by either lister ([`super::list_linux`], [`super::list_std`])
//! and turned into a cache entry by [`super::folder`]: its own module below all three, so the
//! listers need nothing from the folder algorithm that calls them.

use super::super::agg::{Agg, FileTime};
use super::super::hashes::{name_hash, Resolved};
use super::meta::reason;
use super::{Acc, Ctx, HotFile, MAX_DEPTH};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;

/// What a listing gathers, before it becomes a cache entry (one per reader when a big folder
/// is read by two threads).
#[derive(Default)]
pub(crate) struct Gathered {
    /// Names found among the cached older files' hashes (not stat'ed again).
    pub(crate) seen_cold: usize,
    pub(crate) subdirs: Vec<OsString>,
    pub(crate) cold: Agg,
    pub(crate) hashes: Vec<u64>,
    pub(crate) hot: Vec<HotFile>,
}

/// A counted file's figures from its stat.
pub(crate) struct FileMeta {
    pub(crate) is_file: bool,
    pub(crate) mtime: Option<FileTime>,
    pub(crate) len: u64,
}

impl Gathered {
    /// A subfolder of the folder at `depth`.
    pub(crate) fn subdir(
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
    pub(crate) fn file(
        &mut self,
        ctx: &Ctx<'_>,
        name: &OsStr,
        old: Option<&Resolved>,
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
    pub(crate) fn new_file(
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
    #[cfg(target_os = "linux")]
    pub(crate) fn absorb(&mut self, other: Gathered) {
        self.seen_cold += other.seen_cold;
        self.subdirs.extend(other.subdirs);
        self.cold.merge(&other.cold);
        self.hashes.extend(other.hashes);
        self.hot.extend(other.hot);
    }
}
