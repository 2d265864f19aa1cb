//! The scan cache on disk: per-folder aggregates persisted between runs, so a probe restarted by
//! a reboot does not pay a full scan of a busy recording disk, and kept so that what a rescan
//! reads and writes grows with the folders and the changes, not with the files.
//!
//! Four parts, all beside `FILE` and named after it:
//! - `FILE`, the base: a magic string, a format version, the payload's length and checksum,
//!   then every folder's entry (identity, times, subfolders, aggregate, recent files, and
//!   *where* its name hashes are, never the hashes themselves). Written whole only when the
//!   journal has grown as big as it, the configuration changed, or there was none.
//! - `FILE.journal`: what changed since the base, one checked frame per save (the changed
//!   folders' entries and the removed folders), appended; it names the base it applies to.
//! - `FILE.hashes`, the heap: short sorted lists of name hashes, appended, each referenced by
//!   offset, count and digest, read only when its folder has to be listed again; rewritten
//!   without its garbage once that outweighs what is live.
//! - `FILE.blocks/`: the long lists of big folders, one content-named file each (`hashes.rs`).
//!
//! A rescan that changes one folder appends that folder's entry to the journal and its new
//! names to the heap: bytes in proportion to the change. Anything that does not check out is
//! refused, never trusted: a bad base is discarded with a warning and the scan is full; a torn
//! journal frame ends the replay there (the cache is then that of an earlier save, which the
//! per-folder mtimes make safe); a piece or block that does not check out costs its folder a
//! full listing. Nothing is synced: an fsync would cost more than the rescan it protects.

use super::agg::{Agg, DaySet, FileTime};
use super::fs::replace_file;
use super::hashes::{self, Base, NameHashes, Piece};
use super::walk::{CacheKey, DirCache, DirMap, HotFile, RecorderCache, RelPath};
use super::Technology;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// First bytes of every cache file.
pub const MAGIC: &[u8; 16] = b"VIGIA-SCANCACHE\0";
/// First bytes of every journal.
const JOURNAL_MAGIC: &[u8; 16] = b"VIGIA-SCANJOURN\0";
/// Bumped whenever the payload's layout or meaning changes; other versions are discarded.
/// Version 3 added each aggregate's newest non-empty file time; version 4 moved every name
/// hash out of the base (into the heap or blocks) and added the journal.
pub const VERSION: u32 = 4;
const HEADER_LEN: usize = 16 + 4 + 8 + 8;
const JOURNAL_HEADER_LEN: u64 = 16 + 4 + 8;
/// The journal may grow to the base's size, and at least to this, before the base is
/// rewritten: a whole rewrite then costs about what the appends since did.
const JOURNAL_MIN: u64 = 8 * 1024;
/// Garbage the heap may hold beyond what is live before it is rewritten.
const HEAP_SLACK: u64 = 256 * 1024;

/// Why a cache file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The cache file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not a Vigia scan cache (another file, or an empty one).
    #[error("{0} is not a vigia scan cache")]
    Foreign(String),
    /// A cache written by another version of the format.
    #[error("{path} has cache format version {found}, this probe reads version {VERSION}")]
    Version {
        /// The cache file.
        path: String,
        /// Its version.
        found: u32,
    },
    /// Truncated, altered or inconsistent.
    #[error("{path} is corrupt: {why}")]
    Corrupt {
        /// The cache file.
        path: String,
        /// What did not check out.
        why: String,
    },
}

/// A 64-bit checksum of the payload, eight bytes at a time (it runs on every probe start and
/// every save).
fn checksum(bytes: &[u8]) -> u64 {
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder().iter().map(|&b| u64::from(b));
    let words = chunks.map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        u64::from_le_bytes(a)
    });
    hashes::digest(
        0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64,
        words.chain(tail),
    )
}

/// The journal's name for a cache file.
fn journal_file(cache_file: &Path) -> PathBuf {
    sibling(cache_file, ".journal")
}

/// The heap's name for a cache file.
fn heap_file(cache_file: &Path) -> PathBuf {
    sibling(cache_file, ".hashes")
}

fn sibling(cache_file: &Path, suffix: &str) -> PathBuf {
    let mut name = cache_file
        .file_name()
        .map(OsString::from)
        .unwrap_or_default();
    name.push(suffix);
    cache_file.with_file_name(name)
}

/// Reads a cache file (base and journal): `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<HashMap<String, RecorderCache>>, CacheError> {
    Store::open(path).1
}

/// A cache file as the probe last read or wrote it: what a save may leave where it is.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// The base's checksum, which the journal names; `None` when there is no usable base
    /// (the next save writes it whole).
    base_sum: Option<u64>,
    base_len: u64,
    /// Bytes of the journal, header included (0: none yet).
    journal_len: u64,
    /// Bytes of the heap file.
    heap_len: u64,
    /// Each recorder's key as saved: a recorder added, removed or reconfigured means a whole save.
    keys: HashMap<String, CacheKey>,
    /// The blocks the saved cache references.
    blocks: HashSet<String>,
}

impl Store {
    /// Opens a cache file: the store, and the caches it holds (`Ok(None)`: none yet; an error:
    /// refused, and the store's next save writes everything afresh).
    pub fn open(
        path: &Path,
    ) -> (
        Store,
        Result<Option<HashMap<String, RecorderCache>>, CacheError>,
    ) {
        let mut st = Store {
            path: path.to_path_buf(),
            base_sum: None,
            base_len: 0,
            journal_len: 0,
            heap_len: 0,
            keys: HashMap::new(),
            blocks: HashSet::new(),
        };
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (st, Ok(None)),
            Err(source) => {
                return (
                    st,
                    Err(CacheError::Io {
                        path: shown,
                        source,
                    }),
                )
            }
        };
        let blocks = Arc::new(hashes::blocks_dir(path));
        let heap = Arc::new(heap_file(path));
        let mut caches = match decode(&bytes, &blocks, &heap) {
            Ok(c) => c,
            Err(e) => {
                let e = match e {
                    Decode::Foreign => CacheError::Foreign(shown),
                    Decode::Version(found) => CacheError::Version { path: shown, found },
                    Decode::Corrupt(why) => CacheError::Corrupt { path: shown, why },
                };
                return (st, Err(e));
            }
        };
        // `decode` checked the payload against the header's checksum: the same value, without
        // a second pass over the base.
        let mut header_sum = [0u8; 8];
        header_sum.copy_from_slice(&bytes[28..HEADER_LEN]);
        let sum = u64::from_le_bytes(header_sum);
        st.base_len = bytes.len() as u64;
        st.heap_len = std::fs::metadata(heap.as_path()).map_or(0, |m| m.len());
        // A journal that does not belong to this base, or ends torn, is replayed as far as it
        // checks out; the next save then writes the base whole, which drops it.
        let journal_ok = match std::fs::read(journal_file(path)) {
            Ok(j) => match replay(&j, sum, &mut caches, &blocks, &heap) {
                Ok(()) => {
                    st.journal_len = j.len() as u64;
                    true
                }
                Err(why) => {
                    tracing::warn!(
                        path = %journal_file(path).display(),
                        %why,
                        "scan cache journal ends early; it is replayed as far as it checks out"
                    );
                    false
                }
            },
            Err(_) => true,
        };
        if journal_ok {
            st.base_sum = Some(sum);
        }
        st.keys = caches
            .iter()
            .map(|(id, c)| (id.clone(), c.key.clone()))
            .collect();
        st.blocks = referenced_blocks(&caches);
        (st, Ok(Some(caches)))
    }

    /// Writes what changed in `caches` since the last save or load: the changed folders'
    /// entries to the journal and their new name hashes to the heap, or everything afresh when
    /// that is due. Afterwards every entry counts as saved.
    pub fn save(&mut self, caches: &mut HashMap<String, RecorderCache>) -> std::io::Result<()> {
        let result = self.write(caches);
        match &result {
            Ok(()) => {
                for c in caches.values_mut() {
                    c.removed.clear();
                    for d in c.dirs.values_mut() {
                        d.dirty = false;
                    }
                }
            }
            // What is on disk is not known for sure any more: the next save writes it all.
            Err(_) => self.base_sum = None,
        }
        result
    }

    fn write(&mut self, caches: &mut HashMap<String, RecorderCache>) -> std::io::Result<()> {
        let heap = Arc::new(heap_file(&self.path));
        let blocks_dir = hashes::blocks_dir(&self.path);
        let same_keys = caches.len() == self.keys.len()
            && caches
                .iter()
                .all(|(id, c)| self.keys.get(id) == Some(&c.key));
        let live: u64 = caches
            .values()
            .flat_map(|c| c.dirs.values())
            .filter_map(|d| d.cold_hashes.as_ref())
            .flat_map(|h| &h.pieces)
            .map(|p| p.count() as u64 * 8)
            .sum();
        let compact_heap = self.heap_len > 2 * live + HEAP_SLACK;
        let whole = self.base_sum.is_none()
            || !same_keys
            || compact_heap
            || self.journal_len > self.base_len.max(JOURNAL_MIN);
        if let Some(dir) = heap.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if whole {
            let pieces = caches
                .values_mut()
                .flat_map(|c| c.dirs.values_mut())
                .filter_map(|d| d.cold_hashes.as_mut())
                .flat_map(|h| h.pieces.iter_mut());
            self.heap_len = if compact_heap {
                hashes::rewrite_heap(&heap, pieces.collect())?
            } else {
                hashes::append_pieces(
                    &heap,
                    pieces.filter(|p| matches!(p, Piece::Mem(_))).collect(),
                )?
            };
            let written = hashes::write_blocks(
                &blocks_dir,
                caches
                    .values()
                    .flat_map(|c| c.dirs.values())
                    .filter_map(|d| d.cold_hashes.as_ref()),
            )?;
            let bytes = encode(caches);
            replace_file(&self.path, &bytes)?;
            match std::fs::remove_file(journal_file(&self.path)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            hashes::remove_unreferenced(&blocks_dir, &written);
            self.base_sum = Some(checksum(&bytes[HEADER_LEN..]));
            self.base_len = bytes.len() as u64;
            self.journal_len = 0;
            self.keys = caches
                .iter()
                .map(|(id, c)| (id.clone(), c.key.clone()))
                .collect();
            self.blocks = written.wanted;
            return Ok(());
        }

        // Only the changed entries: their new pieces, their new blocks, one journal frame.
        let pieces: Vec<&mut Piece> = caches
            .values_mut()
            .flat_map(|c| c.dirs.values_mut())
            .filter(|d| d.dirty)
            .filter_map(|d| d.cold_hashes.as_mut())
            .flat_map(|h| h.pieces.iter_mut())
            .filter(|p| matches!(p, Piece::Mem(_)))
            .collect();
        if !pieces.is_empty() {
            self.heap_len = hashes::append_pieces(&heap, pieces)?;
        }
        let mut changed_blocks = false;
        for d in caches
            .values()
            .flat_map(|c| c.dirs.values())
            .filter(|d| d.dirty)
        {
            let Some(base) = d.cold_hashes.as_ref().and_then(|h| h.base.as_ref()) else {
                continue;
            };
            let name = hashes::block_name(base.id(), base.count());
            if !self.blocks.contains(&name) {
                std::fs::create_dir_all(&blocks_dir)?;
                hashes::write_block(&blocks_dir, base)?;
                self.blocks.insert(name);
                changed_blocks = true;
            }
        }
        let Some(frame) = encode_frame(caches) else {
            // Nothing changed: nothing written.
            return Ok(());
        };
        self.append_frame(&frame)?;
        let dropped = caches.values().any(|c| {
            !c.removed.is_empty()
                || c.dirs
                    .values()
                    .any(|d| d.dirty && d.cold_hashes.as_ref().is_none_or(|h| h.base.is_none()))
        });
        if changed_blocks || (dropped && !self.blocks.is_empty()) {
            let wanted = referenced_blocks(caches);
            for name in self.blocks.difference(&wanted) {
                let _ = std::fs::remove_file(blocks_dir.join(name));
            }
            if wanted.is_empty() {
                let _ = std::fs::remove_dir(&blocks_dir);
            }
            self.blocks = wanted;
        }
        Ok(())
    }

    /// Appends one frame to the journal (after its header, when it is new).
    fn append_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let path = journal_file(&self.path);
        let mut bytes = Vec::with_capacity(frame.len() + JOURNAL_HEADER_LEN as usize);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let len = f.metadata()?.len();
        if len != self.journal_len {
            // Not the journal this store wrote (another process, a torn append): start afresh.
            f.set_len(0)?;
            self.journal_len = 0;
        }
        if self.journal_len == 0 {
            bytes.extend_from_slice(JOURNAL_MAGIC);
            bytes.extend_from_slice(&VERSION.to_le_bytes());
            bytes.extend_from_slice(&self.base_sum.unwrap_or(0).to_le_bytes());
        }
        bytes.extend_from_slice(frame);
        f.write_all(&bytes)?;
        self.journal_len += bytes.len() as u64;
        Ok(())
    }
}

/// The names of the block files `caches` reference.
fn referenced_blocks(caches: &HashMap<String, RecorderCache>) -> HashSet<String> {
    caches
        .values()
        .flat_map(|c| c.dirs.values())
        .filter_map(|d| d.cold_hashes.as_ref())
        .filter_map(hashes::block_of)
        .collect()
}

/// Encodes caches into the base format (header included). Pieces not yet in the heap are
/// written as references that will not check out (their folders are then listed in full).
pub fn encode(caches: &HashMap<String, RecorderCache>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(1 << 16));
    // The header's length and checksum are filled in at the end.
    w.0.extend_from_slice(MAGIC);
    w.0.extend_from_slice(&VERSION.to_le_bytes());
    w.0.extend_from_slice(&[0u8; 16]);
    let mut ids: Vec<&String> = caches.keys().collect();
    ids.sort();
    w.u32(ids.len() as u32);
    for id in ids {
        let c = &caches[id];
        w.bytes(id.as_bytes());
        w.key(&c.key);
        w.u64(c.dirs.len() as u64);
        for (rel, d) in &c.dirs {
            w.dir(rel, d);
        }
    }
    let mut out = w.0;
    let len = (out.len() - HEADER_LEN) as u64;
    let sum = checksum(&out[HEADER_LEN..]);
    out[20..28].copy_from_slice(&len.to_le_bytes());
    out[28..36].copy_from_slice(&sum.to_le_bytes());
    out
}

/// One journal frame (length, checksum, payload) of what changed in `caches`; `None` when
/// nothing did.
fn encode_frame(caches: &HashMap<String, RecorderCache>) -> Option<Vec<u8>> {
    let mut w = Writer(vec![0u8; 16]);
    let mut ids: Vec<&String> = caches.keys().collect();
    ids.sort();
    let mut any = false;
    let count_at = w.0.len();
    w.u32(0);
    let mut n = 0u32;
    for id in ids {
        let c = &caches[id];
        let dirty: Vec<(&RelPath, &DirCache)> = c
            .dirs
            .iter()
            .filter(|(_, d)| d.dirty)
            .map(|(k, d)| (k, &**d))
            .collect();
        if dirty.is_empty() && c.removed.is_empty() {
            continue;
        }
        any = true;
        n += 1;
        w.bytes(id.as_bytes());
        w.u64(c.removed.len() as u64);
        for rel in &c.removed {
            w.os(rel.as_os_str());
        }
        w.u64(dirty.len() as u64);
        for (rel, d) in dirty {
            w.dir(rel, d);
        }
    }
    if !any {
        return None;
    }
    w.0[count_at..count_at + 4].copy_from_slice(&n.to_le_bytes());
    let mut out = w.0;
    let len = (out.len() - 16) as u64;
    let sum = checksum(&out[16..]);
    out[0..8].copy_from_slice(&len.to_le_bytes());
    out[8..16].copy_from_slice(&sum.to_le_bytes());
    Some(out)
}

/// Applies a journal's frames to the caches of the base whose checksum is `base_sum`. An error
/// says where it stopped; the frames before were applied.
fn replay(
    journal: &[u8],
    base_sum: u64,
    caches: &mut HashMap<String, RecorderCache>,
    blocks: &Arc<PathBuf>,
    heap: &Arc<PathBuf>,
) -> Result<(), String> {
    let hl = JOURNAL_HEADER_LEN as usize;
    if journal.len() < hl || &journal[..16] != JOURNAL_MAGIC {
        return Err("not a journal".into());
    }
    let mut h = Reader {
        b: &journal[16..hl],
    };
    let (version, sum) = (h.u32(), h.u64());
    if version.ok() != Some(VERSION) || sum.ok() != Some(base_sum) {
        return Err("written for another base".into());
    }
    let mut r = Reader { b: &journal[hl..] };
    let mut frame_no = 0;
    while !r.b.is_empty() {
        frame_no += 1;
        let bad = |why: &str| format!("frame {frame_no}: {why}");
        let (len, sum) = match (r.u64(), r.u64()) {
            (Ok(l), Ok(s)) => (l, s),
            _ => return Err(bad("truncated header")),
        };
        let payload = usize::try_from(len)
            .ok()
            .and_then(|l| r.take(l).ok())
            .ok_or_else(|| bad("truncated"))?;
        if checksum(payload) != sum {
            return Err(bad("checksum mismatch"));
        }
        // Decoded whole before anything is applied, so a frame applies entirely or not at all.
        let frame = decode_frame(payload, blocks, heap).map_err(|e| match e {
            Decode::Corrupt(why) => bad(&why),
            _ => bad("undecodable"),
        })?;
        for (id, removed, upserts) in frame {
            let Some(c) = caches.get_mut(&id) else {
                continue;
            };
            for rel in removed {
                c.dirs.remove(rel.as_os_str().as_encoded_bytes());
            }
            c.dirs.extend(upserts);
        }
    }
    Ok(())
}

type Frame = Vec<(String, Vec<PathBuf>, Vec<(RelPath, Box<DirCache>)>)>;

fn decode_frame(
    payload: &[u8],
    blocks: &Arc<PathBuf>,
    heap: &Arc<PathBuf>,
) -> Result<Frame, Decode> {
    let mut r = Reader { b: payload };
    let n = r.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = String::from_utf8(r.bytes()?.to_vec())
            .map_err(|_| Decode::Corrupt("recorder id is not UTF-8".into()))?;
        let nrm = r.count64(4)?;
        let mut removed = Vec::with_capacity(nrm);
        for _ in 0..nrm {
            removed.push(PathBuf::from(r.os()?));
        }
        let nup = r.count64(52)?;
        let mut upserts = Vec::with_capacity(nup);
        for _ in 0..nup {
            upserts.push(r.dir(blocks, heap)?);
        }
        out.push((id, removed, upserts));
    }
    if !r.b.is_empty() {
        return Err(Decode::Corrupt("trailing bytes".into()));
    }
    Ok(out)
}

/// Why bytes did not decode.
#[derive(Debug)]
pub enum Decode {
    /// Wrong magic.
    Foreign,
    /// Another format version.
    Version(u32),
    /// Anything else.
    Corrupt(String),
}

/// Decodes the base format; `blocks` is the folder its hash blocks are in, `heap` its heap.
pub fn decode(
    bytes: &[u8],
    blocks: &Arc<PathBuf>,
    heap: &Arc<PathBuf>,
) -> Result<HashMap<String, RecorderCache>, Decode> {
    if bytes.len() < 16 || &bytes[..16] != MAGIC {
        return Err(Decode::Foreign);
    }
    if bytes.len() < HEADER_LEN {
        return Err(Decode::Corrupt("truncated header".into()));
    }
    let mut h = Reader {
        b: &bytes[16..HEADER_LEN],
    };
    let version = h.u32()?;
    if version != VERSION {
        return Err(Decode::Version(version));
    }
    let len = h.u64()?;
    let sum = h.u64()?;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(Decode::Corrupt(format!(
            "payload is {} bytes, header says {len}",
            payload.len()
        )));
    }
    if checksum(payload) != sum {
        return Err(Decode::Corrupt("checksum mismatch".into()));
    }
    let mut r = Reader { b: payload };
    let n = r.count(4)?;
    let mut out = HashMap::with_capacity(n);
    for _ in 0..n {
        let id = String::from_utf8(r.bytes()?.to_vec())
            .map_err(|_| Decode::Corrupt("recorder id is not UTF-8".into()))?;
        let key = r.key()?;
        let ndirs = r.count64(52)?;
        let mut dirs = DirMap::with_capacity_and_hasher(ndirs, Default::default());
        for _ in 0..ndirs {
            let (rel, d) = r.dir(blocks, heap)?;
            dirs.insert(rel, d);
        }
        out.insert(
            id,
            RecorderCache {
                key,
                dirs,
                removed: Vec::new(),
            },
        );
    }
    if !r.b.is_empty() {
        return Err(Decode::Corrupt("trailing bytes".into()));
    }
    Ok(out)
}

struct Writer(Vec<u8>);

impl Writer {
    /// One folder's entry: where its name hashes are, not the hashes.
    fn dir(&mut self, rel: &Path, d: &DirCache) {
        self.os(rel.as_os_str());
        self.u64(d.id.0);
        self.u64(d.id.1);
        self.time(d.mtime);
        self.time(d.ctime);
        self.i64(d.listed_at);
        self.u32(d.subdirs.len() as u32);
        for s in &d.subdirs {
            self.os(s);
        }
        self.agg(&d.cold);
        match &d.cold_hashes {
            Some(h) => {
                self.u8(1);
                match &h.base {
                    Some(b) => {
                        self.u64(b.id());
                        self.u64(b.count());
                    }
                    None => {
                        self.u64(0);
                        self.u64(0);
                    }
                }
                self.u32(h.pieces.len() as u32);
                for p in &h.pieces {
                    match p {
                        Piece::Heap { off, count, id, .. } => {
                            self.u64(*off);
                            self.u32(*count);
                            self.u64(*id);
                        }
                        // Not saved (cannot happen after a save's appends): a reference that
                        // never checks out (no digest is 0), so the folder is listed in full.
                        Piece::Mem(l) => {
                            self.u64(0);
                            self.u32(l.len() as u32);
                            self.u64(0);
                        }
                    }
                }
            }
            None => self.u8(0),
        }
        self.u32(d.hot.len() as u32);
        for f in &d.hot {
            self.os(&f.name);
            self.time(f.mtime);
            self.u64(f.size);
        }
    }
    fn u8(&mut self, x: u8) {
        self.0.push(x);
    }
    fn u32(&mut self, x: u32) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn i64(&mut self, x: i64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn os(&mut self, s: &std::ffi::OsStr) {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            self.bytes(s.as_bytes());
        }
        #[cfg(windows)]
        {
            use std::os::windows::ffi::OsStrExt;
            let wide: Vec<u8> = s.encode_wide().flat_map(u16::to_le_bytes).collect();
            self.bytes(&wide);
        }
    }
    fn time(&mut self, t: FileTime) {
        self.i64(t.secs);
        self.u32(t.nanos);
    }
    fn opt_time(&mut self, t: Option<FileTime>) {
        match t {
            Some(t) => {
                self.u8(1);
                self.time(t);
            }
            None => self.u8(0),
        }
    }
    fn agg(&mut self, a: &Agg) {
        self.u64(a.files);
        self.u64(a.bytes);
        self.opt_time(a.oldest);
        self.opt_time(a.newest);
        self.opt_time(a.newest_nonempty);
        let days = a.days.numbers();
        self.u32(days.len() as u32);
        for d in days {
            self.0.extend_from_slice(&d.to_le_bytes());
        }
    }
    fn key(&mut self, k: &CacheKey) {
        self.u8(match k.technology {
            Technology::Intelbras => 1,
            Technology::Digifort => 2,
            Technology::Ivms => 3,
            Technology::Generic => 4,
        });
        self.os(k.root.as_os_str());
        match &k.extensions {
            Some(list) => {
                self.u8(1);
                self.u32(list.len() as u32);
                for e in list {
                    self.bytes(e.as_bytes());
                }
            }
            None => self.u8(0),
        }
        match k.camera_depth {
            Some(d) => {
                self.u8(1);
                self.u32(d);
            }
            None => self.u8(0),
        }
        self.u8(u8::from(k.follow_links));
        self.bytes(k.tz.as_bytes());
        self.u64(k.hot_window_secs);
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    /// One folder's entry, as [`Writer::dir`] wrote it.
    fn dir(
        &mut self,
        blocks: &Arc<PathBuf>,
        heap: &Arc<PathBuf>,
    ) -> Result<(RelPath, Box<DirCache>), Decode> {
        let rel = RelPath(PathBuf::from(self.os()?));
        let id = (self.u64()?, self.u64()?);
        let mtime = self.time()?;
        let ctime = self.time()?;
        let listed_at = self.i64()?;
        let nsub = self.count(4)?;
        let mut subdirs = Vec::with_capacity(nsub);
        for _ in 0..nsub {
            subdirs.push(self.os()?);
        }
        let cold = self.agg()?;
        let cold_hashes = match self.u8()? {
            0 => None,
            1 => {
                let id = self.u64()?;
                let count = self.u64()?;
                let base = match (id, count) {
                    (0, 0) => None,
                    (0, _) => return Err(Decode::Corrupt("hash block without id".into())),
                    (id, count) => Some(Base::Disk {
                        id,
                        count,
                        dir: blocks.clone(),
                    }),
                };
                let np = self.count(20)?;
                let mut pieces = Vec::with_capacity(np);
                for _ in 0..np {
                    pieces.push(Piece::Heap {
                        off: self.u64()?,
                        count: self.u32()?,
                        id: self.u64()?,
                        file: heap.clone(),
                    });
                }
                Some(NameHashes { base, pieces })
            }
            x => return Err(Decode::Corrupt(format!("bad flag {x}"))),
        };
        let nhot = self.count(20)?;
        let mut hot = Vec::with_capacity(nhot);
        for _ in 0..nhot {
            hot.push(HotFile {
                name: self.os()?,
                mtime: self.time()?,
                size: self.u64()?,
            });
        }
        Ok((
            rel,
            Box::new(DirCache {
                id,
                mtime,
                ctime,
                listed_at,
                subdirs,
                cold,
                cold_hashes,
                hot,
                dirty: false,
            }),
        ))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Decode> {
        if self.b.len() < n {
            return Err(Decode::Corrupt("truncated".into()));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Decode> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Decode> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, Decode> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, Decode> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(a))
    }
    /// A count (u32) of items of at least `min_size` bytes each, checked against what is left
    /// so a corrupt count cannot make a huge allocation.
    fn count(&mut self, min_size: usize) -> Result<usize, Decode> {
        let n = self.u32()? as usize;
        self.check_count(n, min_size)
    }
    /// The same with a u64 count (folders, name hashes).
    fn count64(&mut self, min_size: usize) -> Result<usize, Decode> {
        let n = usize::try_from(self.u64()?)
            .map_err(|_| Decode::Corrupt("count out of range".into()))?;
        self.check_count(n, min_size)
    }
    fn check_count(&self, n: usize, min_size: usize) -> Result<usize, Decode> {
        if n.saturating_mul(min_size.max(1)) > self.b.len() {
            return Err(Decode::Corrupt("count larger than the file".into()));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], Decode> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn os(&mut self) -> Result<OsString, Decode> {
        let b = self.bytes()?;
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            Ok(std::ffi::OsStr::from_bytes(b).to_os_string())
        }
        #[cfg(windows)]
        {
            use std::os::windows::ffi::OsStringExt;
            if b.len() % 2 != 0 {
                return Err(Decode::Corrupt("odd-length wide string".into()));
            }
            let wide: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            Ok(OsString::from_wide(&wide))
        }
    }
    fn time(&mut self) -> Result<FileTime, Decode> {
        let secs = self.i64()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(Decode::Corrupt("nanoseconds out of range".into()));
        }
        Ok(FileTime { secs, nanos })
    }
    fn opt_time(&mut self) -> Result<Option<FileTime>, Decode> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.time().map(Some),
            x => Err(Decode::Corrupt(format!("bad flag {x}"))),
        }
    }
    fn agg(&mut self) -> Result<Agg, Decode> {
        let files = self.u64()?;
        let bytes = self.u64()?;
        let oldest = self.opt_time()?;
        let newest = self.opt_time()?;
        let newest_nonempty = self.opt_time()?;
        let n = self.count(4)?;
        let mut days = Vec::with_capacity(n);
        for _ in 0..n {
            let mut a = [0u8; 4];
            a.copy_from_slice(self.take(4)?);
            days.push(i32::from_le_bytes(a));
        }
        let days =
            DaySet::from_sorted(days).ok_or_else(|| Decode::Corrupt("days out of order".into()))?;
        if newest_nonempty.is_some_and(|n| newest.is_none_or(|m| n > m)) {
            return Err(Decode::Corrupt(
                "newest non-empty file after the newest".into(),
            ));
        }
        Ok(Agg {
            files,
            bytes,
            oldest,
            newest,
            newest_nonempty,
            days,
        })
    }
    fn key(&mut self) -> Result<CacheKey, Decode> {
        let technology = match self.u8()? {
            1 => Technology::Intelbras,
            2 => Technology::Digifort,
            3 => Technology::Ivms,
            4 => Technology::Generic,
            x => return Err(Decode::Corrupt(format!("unknown technology {x}"))),
        };
        let root = PathBuf::from(self.os()?);
        let extensions = match self.u8()? {
            0 => None,
            1 => {
                let n = self.count(4)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(
                        String::from_utf8(self.bytes()?.to_vec())
                            .map_err(|_| Decode::Corrupt("extension is not UTF-8".into()))?,
                    );
                }
                Some(v)
            }
            x => return Err(Decode::Corrupt(format!("bad flag {x}"))),
        };
        let camera_depth = match self.u8()? {
            0 => None,
            1 => Some(self.u32()?),
            x => return Err(Decode::Corrupt(format!("bad flag {x}"))),
        };
        let follow_links = self.u8()? != 0;
        let tz = String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| Decode::Corrupt("time zone is not UTF-8".into()))?;
        let hot_window_secs = self.u64()?;
        Ok(CacheKey {
            technology,
            root,
            extensions,
            camera_depth,
            follow_links,
            tz,
            hot_window_secs,
        })
    }
}
