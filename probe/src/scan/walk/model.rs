//! The cache model: what a rescan remembers of a recorder and of each of its folders.

use super::super::agg::{Agg, FileTime};
use super::super::hashes::NameHashes;
use super::super::{RecorderConfig, Technology};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Folders dropped from `dirs` since the cache file was last written (gone, or not cached
    /// because of an error): the next save removes them there.
    pub(crate) removed: Vec<PathBuf>,
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
            .map(|d| d.hot.len() + d.cold_hashes.as_ref().map_or(0, NameHashes::len))
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
    /// Changed since the cache file was last written: the next save writes this entry (an
    /// unchanged one stays where it is on disk).
    pub(crate) dirty: bool,
}

/// A recently-modified file, re-stat'ed on every scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HotFile {
    pub(crate) name: OsString,
    pub(crate) mtime: FileTime,
    pub(crate) size: u64,
}
