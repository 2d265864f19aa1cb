//! The cache model: what a rescan remembers of a recorder and of each of its folders.

use super::super::agg::{Agg, FileTime};
use super::super::hashes::{fold_words, NameHashes, WORD_K};
use super::super::{RecorderConfig, Technology};
use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The folders of a recorder's cache by path under the root. The entries are boxed: a table of
/// thousands of 300-byte entries inline was 2.5 MB of fresh pages to fault in on every load and
/// moved whole on every insert; boxed, each entry sits beside its path, allocated together as
/// the cache is read, and the table is a tenth of that.
pub(crate) type DirMap = HashMap<RelPath, Box<DirCache>, PathHash>;

/// A folder's path under the root as a map key: hashed and compared as raw bytes (std's
/// `Path` does both component by component, which a rescan of thousands of small folders
/// paid on every lookup). Looked up by those bytes (`Borrow<[u8]>`), so a `Path` needs no copy.
#[derive(Debug, Clone)]
pub(crate) struct RelPath(pub(crate) PathBuf);

impl RelPath {
    fn bytes(&self) -> &[u8] {
        self.0.as_os_str().as_encoded_bytes()
    }
}

/// The bytes a [`DirMap`] is looked up by.
pub(crate) fn key_bytes(rel: &std::path::Path) -> &[u8] {
    rel.as_os_str().as_encoded_bytes()
}

impl PartialEq for RelPath {
    fn eq(&self, other: &RelPath) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for RelPath {}

impl std::hash::Hash for RelPath {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // As `[u8]` hashes, which `Borrow<[u8]>` requires.
        self.bytes().hash(h);
    }
}

impl std::borrow::Borrow<[u8]> for RelPath {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl std::ops::Deref for RelPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

/// Hashes folder paths for [`DirMap`]: a rescan of a tree of thousands of small folders hashes
/// every path three times (load, lookup, the new cache), and SipHash fed component by component
/// was a tenth of its user time. Seeded once per process, so names crafted to collide cannot
/// be prepared in advance.
#[derive(Clone, Copy)]
pub(crate) struct PathHash(u64);

impl Default for PathHash {
    fn default() -> PathHash {
        static SEED: OnceLock<u64> = OnceLock::new();
        PathHash(*SEED.get_or_init(|| {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }))
    }
}

impl BuildHasher for PathHash {
    type Hasher = PathHasher;
    fn build_hasher(&self) -> PathHasher {
        PathHasher(self.0)
    }
}

/// The state of one [`PathHash`] hashing: 8 bytes at a time, multiply and rotate, with a
/// final mix so the table's bucket bits depend on every input bit.
pub(crate) struct PathHasher(u64);

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fold_words(self.0, bytes, true);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(WORD_K).rotate_left(31);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

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
    pub(crate) dirs: DirMap,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::path::Path;

    #[test]
    fn a_folder_is_found_by_its_path_bytes() {
        let key = RelPath(PathBuf::from("2026-11-28").join("cam01"));
        let hasher = PathHash::default();
        // `Borrow<[u8]>` requires the key and its bytes to hash alike.
        assert_eq!(
            hasher.hash_one(&key),
            hasher.hash_one(key_bytes(Path::new("2026-11-28/cam01")))
        );
        let mut set: HashMap<RelPath, u8, PathHash> = HashMap::default();
        set.insert(key, 1);
        set.insert(RelPath(PathBuf::from("2026-11-28/cam02")), 2);
        assert_eq!(set.get(key_bytes(Path::new("2026-11-28/cam01"))), Some(&1));
        assert_eq!(set.get(key_bytes(Path::new("2026-11-28/cam03"))), None);
        assert_eq!(set.get(key_bytes(Path::new(""))), None);
    }
}
