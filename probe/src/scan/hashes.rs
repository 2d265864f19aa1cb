//! The name hashes of a recently-written folder's older files, which let a rescan of a changed
//! folder stat only its new names.
//!
//! A busy Digifort camera folder holds 25,000 files, so its list is 200 KB, and every camera's
//! folder is recently written. Most rescans change one or two of those folders, so the lists are
//! kept apart from the cache file: each in a block file of its own, named by its content, read
//! only when its folder has to be listed again and written only when it changed. Names that
//! turned older since (files leaving the hot window, new files in a re-listed folder) go to a
//! short `extra` list stored inline in the cache file, folded into a new block when it grows.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Entries of `extra` beyond which, at the next listing, they are folded into a new block.
const EXTRA_FOLD_MIN: usize = 1024;

/// The multiplier of [`fold_words`].
pub(crate) const WORD_K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds `bytes` into `h` eight bytes at a time (multiply-rotate), the last partial word
/// zero-padded and, with `tag_tail_len`, marked with its length. Shared by the persisted
/// [`name_hash`] (untagged: its values must never change) and the walk's in-memory path hasher.
pub(crate) fn fold_words(mut h: u64, bytes: &[u8], tag_tail_len: bool) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(a))
            .wrapping_mul(WORD_K)
            .rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        a[..rest.len()].copy_from_slice(rest);
        let tag = if tag_tail_len {
            (rest.len() as u64) << 59
        } else {
            0
        };
        h = (h ^ u64::from_le_bytes(a) ^ tag)
            .wrapping_mul(WORD_K)
            .rotate_left(31);
    }
    h
}

/// A stable 64-bit hash of a file name, persisted in the cache: eight bytes at a time, then
/// mixed (a byte-at-a-time hash cost a millisecond over a 25,000-name folder).
pub(crate) fn name_hash(name: &[u8]) -> u64 {
    let mut h = fold_words(
        0x6a09_e667_f3bc_c909 ^ (name.len() as u64).wrapping_mul(WORD_K),
        name,
        false,
    );
    // The finalizer of MurmurHash3: every input bit reaches every output bit, so the sorted
    // lists are evenly spread and a lookup lands in the right bucket of the index.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether a sorted list holds `h` (the short `extra` lists; a block goes through its index).
pub(crate) fn contains_hash(sorted: &[u64], h: u64) -> bool {
    sorted.binary_search(&h).is_ok()
}

/// Two sorted lists as one, in linear time.
pub(crate) fn merge_sorted(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// A 64-bit digest of a sequence of words: the cache file's checksum and a block's identity.
/// Catches torn writes and flipped bits, not tampering: these are the probe's own files.
pub(crate) fn digest(seed: u64, words: impl Iterator<Item = u64>) -> u64 {
    let mut h = seed;
    for x in words {
        h = (h ^ x).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    h ^ (h >> 32)
}

/// The identity of a block: a 64-bit digest of its hashes (never 0, which means "no block").
pub(crate) fn block_id(list: &[u64]) -> u64 {
    digest(
        0x243f_6a88_85a3_08d3 ^ list.len() as u64,
        list.iter().copied(),
    )
    .max(1)
}

/// The file name of a block.
pub(crate) fn block_name(id: u64, count: u64) -> String {
    format!("{id:016x}-{count}")
}

/// The folder that holds a cache file's blocks: beside it, named after it.
pub(crate) fn blocks_dir(cache_file: &Path) -> PathBuf {
    let mut name = cache_file
        .file_name()
        .map(std::ffi::OsString::from)
        .unwrap_or_default();
    name.push(".blocks");
    cache_file.with_file_name(name)
}

/// Where a block's hashes are.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// In memory.
    Mem {
        /// [`block_id`] of `list`.
        id: u64,
        /// Sorted hashes.
        list: Arc<Vec<u64>>,
    },
    /// In a block file not read yet.
    Disk {
        /// Its [`block_id`].
        id: u64,
        /// How many hashes it holds.
        count: u64,
        /// The blocks folder.
        dir: Arc<PathBuf>,
    },
}

impl Base {
    pub(crate) fn id(&self) -> u64 {
        match self {
            Base::Mem { id, .. } | Base::Disk { id, .. } => *id,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        match self {
            Base::Mem { list, .. } => list.len() as u64,
            Base::Disk { count, .. } => *count,
        }
    }
}

/// The sorted name hashes of a folder's older files: a block (big lists) plus small pieces
/// (short lists, and names that turned older since the block was written).
#[derive(Debug, Clone)]
pub(crate) struct NameHashes {
    /// The bulk of the hashes; `None` when there are none.
    pub(crate) base: Option<Base>,
    /// Each sorted, none in the block; together short next to it.
    pub(crate) pieces: Vec<Piece>,
}

/// A short sorted list of hashes: in the heap file once saved, in memory until then.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// Saved in the heap file beside the cache (see `cache.rs`).
    Heap {
        /// Byte offset in the heap file.
        off: u64,
        /// How many hashes.
        count: u32,
        /// [`block_id`] of the hashes, which checks them when read.
        id: u64,
        /// The heap file.
        file: Arc<PathBuf>,
    },
    /// Not saved yet.
    Mem(Arc<Vec<u64>>),
}

impl Piece {
    /// How many hashes it holds.
    pub(crate) fn count(&self) -> usize {
        match self {
            Piece::Heap { count, .. } => *count as usize,
            Piece::Mem(l) => l.len(),
        }
    }
}

impl PartialEq for Piece {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Piece::Heap { off, count, id, .. },
                Piece::Heap {
                    off: o2,
                    count: c2,
                    id: i2,
                    ..
                },
            ) => (off, count, id) == (o2, c2, i2),
            (Piece::Mem(a), Piece::Mem(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for NameHashes {
    fn eq(&self, other: &Self) -> bool {
        self.base.as_ref().map(|b| (b.id(), b.count()))
            == other.base.as_ref().map(|b| (b.id(), b.count()))
            && self.pieces == other.pieces
    }
}

/// A [`NameHashes`] read into memory (block and pieces), ready for lookups.
pub(crate) struct Resolved {
    base: Option<(u64, Arc<Vec<u64>>)>,
    /// Where each bucket of the block (by the top bits of the hash) starts: a lookup reads
    /// one or two hashes instead of searching 25,000 (it runs once per listed name).
    index: BucketIndex,
    /// The pieces as they were, each with its hashes (unchanged ones are kept, not rewritten).
    pieces: Vec<(Piece, Arc<Vec<u64>>)>,
    /// All pieces' hashes in one sorted list, for lookups.
    extra: Vec<u64>,
}

/// For a sorted list of evenly spread hashes, the position of the first hash of each bucket.
struct BucketIndex {
    shift: u32,
    starts: Vec<u32>,
}

impl BucketIndex {
    fn new(sorted: &[u64]) -> BucketIndex {
        if sorted.is_empty() || sorted.len() > u32::MAX as usize {
            return BucketIndex {
                shift: 64,
                starts: Vec::new(),
            };
        }
        // About four hashes per bucket: a small index (32 KB for 25,000 names), one cache line
        // of hashes read per lookup.
        let bits = (sorted.len().next_power_of_two().trailing_zeros())
            .saturating_sub(2)
            .max(1);
        let buckets = 1usize << bits;
        let shift = 64 - bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut pos = 0usize;
        for b in 0..buckets as u64 {
            while pos < sorted.len() && (sorted[pos] >> shift) < b {
                pos += 1;
            }
            starts.push(pos as u32);
        }
        starts.push(sorted.len() as u32);
        BucketIndex { shift, starts }
    }

    fn contains(&self, sorted: &[u64], h: u64) -> bool {
        if self.starts.is_empty() {
            return contains_hash(sorted, h);
        }
        let b = (h >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        sorted[lo..hi].contains(&h)
    }
}

/// How many hashes [`Resolved::contains_batch`] looks up at once.
#[cfg(target_os = "linux")]
pub(crate) const BATCH: usize = 64;

impl Resolved {
    /// For each of up to [`BATCH`] hashes, whether it is among these. Faster than one by one:
    /// a lookup is two reads at random places of a 200 KB list, usually cache misses; done in
    /// two passes over the batch, the misses of one pass overlap instead of following each other.
    #[cfg(target_os = "linux")]
    pub(crate) fn contains_batch(&self, hs: &[u64], found: &mut [bool; BATCH]) {
        let hs = &hs[..hs.len().min(BATCH)];
        match &self.base {
            Some((_, list)) if !self.index.starts.is_empty() => {
                let starts = &self.index.starts;
                let mut ranges = [(0u32, 0u32); BATCH];
                for (r, &h) in ranges.iter_mut().zip(hs) {
                    let b = (h >> self.index.shift) as usize;
                    *r = (starts[b], starts[b + 1]);
                }
                for ((f, &h), &(lo, hi)) in found.iter_mut().zip(hs).zip(&ranges) {
                    *f = list[lo as usize..hi as usize].contains(&h)
                        || contains_hash(&self.extra, h);
                }
            }
            _ => {
                for (f, &h) in found.iter_mut().zip(hs) {
                    *f = self.contains(h);
                }
            }
        }
    }

    /// Whether `h` is among the hashes.
    pub(crate) fn contains(&self, h: u64) -> bool {
        self.base
            .as_ref()
            .is_some_and(|(_, b)| self.index.contains(b, h))
            || contains_hash(&self.extra, h)
    }

    /// How many hashes there are.
    pub(crate) fn len(&self) -> usize {
        self.base.as_ref().map_or(0, |(_, b)| b.len()) + self.extra.len()
    }

    /// These hashes plus `added` (sorted, none of them already here). The block stays as it is
    /// until the pieces outgrow an eighth of it (then one new block holds everything); `added`
    /// becomes a new piece, and the newest pieces are merged while the one before is at most
    /// twice as big, so a folder keeps a few pieces and a hash is rewritten a few times at most.
    pub(crate) fn with(&self, added: &[u64]) -> NameHashes {
        let extra_len = self.extra.len() + added.len();
        let base_len = self.base.as_ref().map_or(0, |(_, b)| b.len());
        if extra_len >= EXTRA_FOLD_MIN && extra_len * 8 >= base_len {
            let extra = merge_sorted(&self.extra, added);
            let all = match &self.base {
                Some((_, b)) => merge_sorted(b, &extra),
                None => extra,
            };
            return NameHashes::from_sorted(all);
        }
        let mut pieces = self.pieces.clone();
        if !added.is_empty() {
            let list = Arc::new(added.to_vec());
            pieces.push((Piece::Mem(list.clone()), list));
        }
        while pieces.len() >= 2
            && pieces[pieces.len() - 2].1.len() <= 2 * pieces[pieces.len() - 1].1.len()
        {
            let (_, b) = pieces.pop().unwrap_or_else(|| unreachable!());
            let (_, a) = pieces.pop().unwrap_or_else(|| unreachable!());
            let list = Arc::new(merge_sorted(&a, &b));
            pieces.push((Piece::Mem(list.clone()), list));
        }
        NameHashes {
            base: self.base.as_ref().map(|(id, list)| Base::Mem {
                id: *id,
                list: list.clone(),
            }),
            pieces: pieces.into_iter().map(|(p, _)| p).collect(),
        }
    }
}

impl NameHashes {
    /// Hashes from a full listing (sorted).
    pub(crate) fn from_sorted(list: Vec<u64>) -> NameHashes {
        if list.len() < EXTRA_FOLD_MIN {
            let pieces = if list.is_empty() {
                Vec::new()
            } else {
                vec![Piece::Mem(Arc::new(list))]
            };
            return NameHashes { base: None, pieces };
        }
        NameHashes {
            base: Some(Base::Mem {
                id: block_id(&list),
                list: Arc::new(list),
            }),
            pieces: Vec::new(),
        }
    }

    /// How many hashes there are.
    pub(crate) fn len(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.count() as usize)
            + self.pieces.iter().map(Piece::count).sum::<usize>()
    }

    /// Adds hashes of names that turned older, as a new piece, without reading anything.
    pub(crate) fn add(&mut self, added: &mut [u64]) {
        added.sort_unstable();
        self.pieces.push(Piece::Mem(Arc::new(added.to_vec())));
    }

    /// The hashes ready for lookups; `None` when the block or a piece is missing or does not
    /// check out (the caller then lists the folder in full, as if nothing were cached).
    pub(crate) fn resolve(&self) -> Option<Resolved> {
        let resolved = self.read_all();
        if let Err(why) = &resolved {
            tracing::warn!(
                %why,
                "scan cache hashes discarded; their folder is read in full this time"
            );
        }
        resolved.ok()
    }

    fn read_all(&self) -> Result<Resolved, String> {
        let base = match &self.base {
            None => None,
            Some(Base::Mem { id, list }) => Some((*id, list.clone())),
            Some(Base::Disk { id, count, dir }) => {
                Some((*id, Arc::new(read_block(dir, *id, *count)?)))
            }
        };
        let mut heap = HeapReader::default();
        let mut pieces = Vec::with_capacity(self.pieces.len());
        let mut extra = Vec::new();
        for p in &self.pieces {
            let list = match p {
                Piece::Mem(l) => l.clone(),
                Piece::Heap {
                    off,
                    count,
                    id,
                    file,
                } => Arc::new(heap.read(file, *off, *count, *id)?),
            };
            extra = if extra.is_empty() {
                list.to_vec()
            } else {
                merge_sorted(&extra, &list)
            };
            pieces.push((p.clone(), list));
        }
        let index = BucketIndex::new(base.as_ref().map_or(&[][..], |(_, b)| b.as_slice()));
        Ok(Resolved {
            base,
            index,
            pieces,
            extra,
        })
    }
}

/// Reads pieces from the heap file, opened once for all the pieces of a folder.
#[derive(Default)]
pub(crate) struct HeapReader {
    open: Option<(Arc<PathBuf>, std::fs::File)>,
}

impl HeapReader {
    /// The `count` hashes at `off`, checked against `id`.
    pub(crate) fn read(
        &mut self,
        file: &Arc<PathBuf>,
        off: u64,
        count: u32,
        id: u64,
    ) -> Result<Vec<u64>, String> {
        use std::io::{Read, Seek, SeekFrom};
        let shown = |e: std::io::Error| format!("{}: {e}", file.display());
        if self.open.as_ref().is_none_or(|(p, _)| p != file) {
            let f = std::fs::File::open(file.as_path()).map_err(shown)?;
            self.open = Some((file.clone(), f));
        }
        let Some((_, f)) = self.open.as_mut() else {
            return Err(format!("{}: not open", file.display()));
        };
        let mut bytes = vec![0u8; count as usize * 8];
        f.seek(SeekFrom::Start(off)).map_err(shown)?;
        f.read_exact(&mut bytes).map_err(shown)?;
        let list: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        if block_id(&list) != id || !list.windows(2).all(|w| w[0] <= w[1]) {
            return Err(format!(
                "{}: the piece at {off} does not check out",
                file.display()
            ));
        }
        Ok(list)
    }
}

/// Reads and checks one block file (in pieces, straight into the list: it runs while a rescan
/// waits, and a 200 KB scratch buffer costs as much in page faults as the read itself).
fn read_block(dir: &Path, id: u64, count: u64) -> Result<Vec<u64>, String> {
    use std::io::Read;
    let path = dir.join(block_name(id, count));
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::File::open(&path).map_err(shown)?;
    let len = f.metadata().map_err(shown)?.len();
    if len != count.saturating_mul(8) {
        return Err(format!("{} has the wrong length", path.display()));
    }
    let mut list = Vec::with_capacity(count as usize);
    let mut buf = [0u8; 16 * 1024];
    let mut left = len as usize;
    while left > 0 {
        let want = left.min(buf.len());
        f.read_exact(&mut buf[..want]).map_err(shown)?;
        list.extend(buf[..want].chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        }));
        left -= want;
    }
    if block_id(&list) != id || !list.windows(2).all(|w| w[0] <= w[1]) {
        return Err(format!("{} does not match its name", path.display()));
    }
    Ok(list)
}

/// The block files a save found, and those the saved cache references.
pub(crate) struct Written {
    present: HashSet<String>,
    /// The names of the blocks the saved cache references.
    pub(crate) wanted: HashSet<String>,
}

/// The file name of the block a [`NameHashes`] references, if any.
pub(crate) fn block_of(h: &NameHashes) -> Option<String> {
    h.base.as_ref().map(|b| block_name(b.id(), b.count()))
}

/// Writes one block under its final name (see [`super::fs::replace_file`]); a block loaded
/// from another cache file's folder is copied over. `false` when it could not be read.
pub(crate) fn write_block(dir: &Path, base: &Base) -> std::io::Result<bool> {
    let list = match base {
        Base::Mem { list, .. } => list.clone(),
        Base::Disk {
            id,
            count,
            dir: from,
        } => match read_block(from, *id, *count) {
            Ok(l) => Arc::new(l),
            Err(_) => return Ok(false),
        },
    };
    let mut bytes = Vec::with_capacity(list.len() * 8);
    for x in list.iter() {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let path = dir.join(block_name(base.id(), base.count()));
    super::fs::replace_file(&path, &bytes).map_err(|e| named(&path, e))?;
    Ok(true)
}

/// Writes the blocks that `hashes` reference and `dir` lacks (each whole under its final name,
/// see [`super::fs::replace_file`]).
pub(crate) fn write_blocks<'a>(
    dir: &Path,
    hashes: impl Iterator<Item = &'a NameHashes>,
) -> std::io::Result<Written> {
    let present: HashSet<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(e) => return Err(named(dir, e)),
    };
    let mut wanted = HashSet::new();
    for h in hashes {
        let Some(base) = &h.base else { continue };
        let name = block_name(base.id(), base.count());
        if !wanted.insert(name.clone()) || present.contains(&name) {
            continue;
        }
        if !write_block(dir, base)? {
            wanted.remove(&name);
        }
    }
    Ok(Written { present, wanted })
}

/// The bytes of a list of hashes as stored (little-endian words).
fn hash_bytes(list: &[u64], out: &mut Vec<u8>) {
    out.reserve(list.len() * 8);
    for x in list {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Appends the pieces not saved yet to the heap file `file` (one write), and makes them refer
/// to it. Returns the heap file's length afterwards.
pub(crate) fn append_pieces(file: &Arc<PathBuf>, pieces: Vec<&mut Piece>) -> std::io::Result<u64> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file.as_path())
        .map_err(|e| named(file, e))?;
    let start = f.metadata().map_err(|e| named(file, e))?.len();
    let mut bytes = Vec::new();
    let mut placed = Vec::with_capacity(pieces.len());
    for p in pieces {
        let Piece::Mem(list) = &*p else { continue };
        let off = start + bytes.len() as u64;
        hash_bytes(list, &mut bytes);
        placed.push((p, off));
    }
    if bytes.is_empty() {
        return Ok(start);
    }
    f.write_all(&bytes).map_err(|e| named(file, e))?;
    for (p, off) in placed {
        if let Piece::Mem(list) = &*p {
            let (count, id) = (list.len() as u32, block_id(list));
            *p = Piece::Heap {
                off,
                count,
                id,
                file: file.clone(),
            };
        }
    }
    Ok(start + bytes.len() as u64)
}

/// Writes a new heap file holding exactly `pieces` (those that read back), renamed over the
/// old one, and makes them refer to it: the heap's garbage (pieces no folder uses any more)
/// goes. A piece that cannot be read keeps a reference that will not check out, so its folder
/// is read in full next time. Returns the new length.
pub(crate) fn rewrite_heap(
    file: &Arc<PathBuf>,
    mut pieces: Vec<&mut Piece>,
) -> std::io::Result<u64> {
    // In file order, so the old heap is read front to back.
    pieces.sort_by_key(|p| match &**p {
        Piece::Heap { off, .. } => *off,
        Piece::Mem(_) => u64::MAX,
    });
    let mut reader = HeapReader::default();
    let mut bytes = Vec::new();
    let mut placed = Vec::with_capacity(pieces.len());
    for p in pieces {
        let list = match &*p {
            Piece::Mem(l) => l.clone(),
            Piece::Heap {
                off,
                count,
                id,
                file: from,
            } => match reader.read(from, *off, *count, *id) {
                Ok(l) => Arc::new(l),
                Err(_) => continue,
            },
        };
        let off = bytes.len() as u64;
        hash_bytes(&list, &mut bytes);
        placed.push((p, off, list));
    }
    drop(reader);
    super::fs::replace_file(file, &bytes).map_err(|e| named(file, e))?;
    for (p, off, list) in placed {
        *p = Piece::Heap {
            off,
            count: list.len() as u32,
            id: block_id(&list),
            file: file.clone(),
        };
    }
    Ok(bytes.len() as u64)
}

/// An I/O error that says which block file or folder it is about.
fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Removes the block files found by [`write_blocks`] that the saved cache no longer
/// references, and the folder once none is wanted. Best effort: what is left behind (a file
/// another process holds open) goes next time.
pub(crate) fn remove_unreferenced(dir: &Path, written: &Written) {
    for name in written.present.difference(&written.wanted) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    if written.wanted.is_empty() {
        // Fails, harmlessly, if anything is still there.
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_search_finds_exactly_the_members() {
        let mut v: Vec<u64> = (0..30_000u64)
            .map(|i| name_hash(format!("cam01_{i:08}.dar").as_bytes()))
            .collect();
        v.sort_unstable();
        v.dedup();
        for (i, &h) in v.iter().enumerate() {
            assert!(contains_hash(&v, h), "member {i}");
            assert_eq!(
                contains_hash(&v, h.wrapping_add(1)),
                v.binary_search(&h.wrapping_add(1)).is_ok()
            );
        }
        assert!(!contains_hash(&[], 5));
        assert!(contains_hash(&[u64::MAX], u64::MAX));
        assert!(!contains_hash(&[0, u64::MAX], 7));
        // Badly spread lists are still searched right, only slower.
        let skewed: Vec<u64> = (0..5_000u64).collect();
        assert!(contains_hash(&skewed, 4_999));
        assert!(contains_hash(&skewed, 0));
        assert!(!contains_hash(&skewed, 5_000));
        assert!(!contains_hash(&skewed, u64::MAX));
    }

    #[test]
    fn the_bucket_index_finds_exactly_the_members() {
        for n in [1usize, 2, 3, 1_000, 25_000] {
            let mut v: Vec<u64> = (0..n as u64)
                .map(|i| name_hash(format!("{i:06}.dar").as_bytes()))
                .collect();
            v.push(0);
            v.push(u64::MAX);
            v.sort_unstable();
            let idx = BucketIndex::new(&v);
            for &h in &v {
                assert!(idx.contains(&v, h));
                let near = h.wrapping_add(1);
                assert_eq!(idx.contains(&v, near), v.binary_search(&near).is_ok());
            }
        }
        // Badly spread hashes land in few buckets: still exact.
        let skewed: Vec<u64> = (0..3_000u64).collect();
        let idx = BucketIndex::new(&skewed);
        assert!(idx.contains(&skewed, 2_999) && !idx.contains(&skewed, 3_000));
    }

    #[test]
    fn batched_lookups_agree_with_single_ones() {
        let base: Vec<u64> = (0..5_000u64)
            .map(|i| name_hash(format!("{i:06}.dar").as_bytes()))
            .collect();
        let mut sorted = base.clone();
        sorted.sort_unstable();
        let mut h = NameHashes::from_sorted(sorted);
        h.add(&mut [name_hash(b"extra.dar")]);
        let small = NameHashes::from_sorted(vec![1, 5, 9]);
        for hashes in [&h, &small] {
            let r = hashes.resolve().expect("in memory");
            let probe: Vec<u64> = (4_950..5_050u64)
                .map(|i| name_hash(format!("{i:06}.dar").as_bytes()))
                .chain([name_hash(b"extra.dar"), 1, 5, 6])
                .collect();
            for chunk in probe.chunks(BATCH) {
                let mut found = [false; BATCH];
                r.contains_batch(chunk, &mut found);
                for (i, &x) in chunk.iter().enumerate() {
                    assert_eq!(found[i], r.contains(x), "hash {x:x}");
                }
            }
        }
    }

    #[test]
    fn names_that_differ_anywhere_hash_apart() {
        let a = name_hash(b"20261128135900_00199903.dar");
        assert_ne!(a, name_hash(b"20261128135900_00199903.DAR"));
        assert_ne!(a, name_hash(b"20261128135900_00199903.da"));
        assert_ne!(name_hash(b""), name_hash(b"\0"));
        assert_ne!(name_hash(b"a\0"), name_hash(b"a"));
    }

    #[test]
    fn name_hashes_are_the_ones_persisted_in_caches() {
        // Caches on disk hold these values: a change here would make every rescan miss.
        assert_eq!(name_hash(b""), 0xc25a_bb1c_bd5e_0221);
        assert_eq!(name_hash(b"a"), 0x1e83_f9a5_5223_4a4d);
        assert_eq!(
            name_hash(b"20261128135900_00199903.dar"),
            0x3a1a_9db7_86dc_fc74
        );
        assert_eq!(name_hash(b"cam01_0001.mp4"), 0x0b5e_a86a_f9d1_1299);
    }

    #[test]
    fn merged_lists_stay_sorted() {
        assert_eq!(
            merge_sorted(&[1, 4, 9], &[2, 4, 10]),
            vec![1, 2, 4, 4, 9, 10]
        );
    }

    #[test]
    fn blocks_round_trip_and_refuse_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let list: Vec<u64> = (0..5_000u64).map(|i| i * 7919).collect();
        let h = NameHashes::from_sorted(list.clone());
        let written = write_blocks(dir.path(), std::iter::once(&h)).expect("write");
        assert_eq!(written.wanted.len(), 1);
        let id = block_id(&list);
        let on_disk = NameHashes {
            base: Some(Base::Disk {
                id,
                count: list.len() as u64,
                dir: Arc::new(dir.path().to_path_buf()),
            }),
            pieces: vec![Piece::Mem(Arc::new(vec![3]))],
        };
        let r = on_disk.resolve().expect("block reads back");
        assert_eq!(r.len(), 5_001);
        assert!(r.contains(7919 * 4_999) && r.contains(3) && !r.contains(4));
        let path = dir.path().join(block_name(id, list.len() as u64));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[8] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert!(on_disk.resolve().is_none(), "an altered block is refused");
        std::fs::remove_file(&path).expect("rm");
        assert!(on_disk.resolve().is_none(), "a missing block is refused");
        remove_unreferenced(
            dir.path(),
            &Written {
                present: HashSet::new(),
                wanted: HashSet::new(),
            },
        );
        assert!(!dir.path().exists(), "an empty blocks folder is removed");
    }
}
