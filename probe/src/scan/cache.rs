//! The scan cache file: per-folder aggregates persisted between runs, so a probe restarted by
//! a reboot does not pay a full scan of a busy recording disk.
//!
//! A small binary format (a JSON file of 200,000 name hashes would take longer to parse than the
//! rescan it saves): a magic string, a format version, the payload's length and checksum, then
//! the payload. Anything that does not check out is refused, never trusted: the caller discards
//! it with a warning and scans in full. The long name-hash lists of busy folders live in block
//! files in a folder beside it (`FILE.blocks`, see `hashes.rs`), read only when needed.

use super::agg::{Agg, DaySet, FileTime};
use super::hashes::{self, Base, NameHashes};
use super::walk::{CacheKey, DirCache, HotFile, RecorderCache};
use super::Technology;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// First bytes of every cache file.
pub const MAGIC: &[u8; 16] = b"VIGIA-SCANCACHE\0";
/// Bumped whenever the payload's layout or meaning changes; other versions are discarded.
/// Version 3 added each aggregate's newest non-empty file time.
pub const VERSION: u32 = 3;
const HEADER_LEN: usize = 16 + 4 + 8 + 8;

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

/// Reads a cache file: `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<HashMap<String, RecorderCache>>, CacheError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CacheError::Io {
                path: shown,
                source,
            })
        }
    };
    let blocks = Arc::new(hashes::blocks_dir(path));
    decode(&bytes, &blocks).map(Some).map_err(|e| match e {
        Decode::Foreign => CacheError::Foreign(shown),
        Decode::Version(found) => CacheError::Version { path: shown, found },
        Decode::Corrupt(why) => CacheError::Corrupt { path: shown, why },
    })
}

/// Writes a cache file atomically (a temporary file beside it, renamed over it), after the hash
/// blocks it references and before removing those it no longer does. Not synced: after a power
/// cut the file may be stale or torn, which the checksum and the per-folder mtimes catch; an
/// fsync would cost more than the incremental rescan it protects.
pub fn save(path: &Path, caches: &HashMap<String, RecorderCache>) -> std::io::Result<()> {
    let blocks = hashes::blocks_dir(path);
    let keep = hashes::write_blocks(
        &blocks,
        caches
            .values()
            .flat_map(|c| c.dirs.values())
            .filter_map(|d| d.cold_hashes.as_ref()),
    )?;
    replace_file(path, &encode(caches))?;
    hashes::remove_unreferenced(&blocks, &keep);
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path` (creating the folder), then renames it over
/// `path`, so `path` is never seen half written. Not synced (see [`save`]).
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&dir)?;
    let mut tmp_name = path.file_name().map(OsString::from).unwrap_or_default();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Encodes caches into the file format (header included).
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
            w.os(rel.as_os_str());
            w.u64(d.id.0);
            w.u64(d.id.1);
            w.time(d.mtime);
            w.time(d.ctime);
            w.i64(d.listed_at);
            w.u32(d.subdirs.len() as u32);
            for s in &d.subdirs {
                w.os(s);
            }
            w.agg(&d.cold);
            match &d.cold_hashes {
                Some(h) => {
                    w.u8(1);
                    match &h.base {
                        Some(Base::Mem { id, list }) => {
                            w.u64(*id);
                            w.u64(list.len() as u64);
                        }
                        Some(Base::Disk { id, count, .. }) => {
                            w.u64(*id);
                            w.u64(*count);
                        }
                        None => {
                            w.u64(0);
                            w.u64(0);
                        }
                    }
                    w.u64(h.extra.len() as u64);
                    w.0.reserve(h.extra.len() * 8);
                    for x in &h.extra {
                        w.0.extend_from_slice(&x.to_le_bytes());
                    }
                }
                None => w.u8(0),
            }
            w.u32(d.hot.len() as u32);
            for f in &d.hot {
                w.os(&f.name);
                w.time(f.mtime);
                w.u64(f.size);
            }
        }
    }
    let mut out = w.0;
    let len = (out.len() - HEADER_LEN) as u64;
    let sum = checksum(&out[HEADER_LEN..]);
    out[20..28].copy_from_slice(&len.to_le_bytes());
    out[28..36].copy_from_slice(&sum.to_le_bytes());
    out
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

/// Decodes the file format; `blocks` is the folder its hash blocks are in.
pub fn decode(
    bytes: &[u8],
    blocks: &Arc<PathBuf>,
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
        let mut dirs = HashMap::with_capacity(ndirs);
        for _ in 0..ndirs {
            let rel = PathBuf::from(r.os()?);
            let id = (r.u64()?, r.u64()?);
            let mtime = r.time()?;
            let ctime = r.time()?;
            let listed_at = r.i64()?;
            let nsub = r.count(4)?;
            let mut subdirs = Vec::with_capacity(nsub);
            for _ in 0..nsub {
                subdirs.push(r.os()?);
            }
            let cold = r.agg()?;
            let cold_hashes = match r.u8()? {
                0 => None,
                1 => {
                    let id = r.u64()?;
                    let count = r.u64()?;
                    let base = match (id, count) {
                        (0, 0) => None,
                        (0, _) => return Err(Decode::Corrupt("hash block without id".into())),
                        (id, count) => Some(Base::Disk {
                            id,
                            count,
                            dir: blocks.clone(),
                        }),
                    };
                    let nh = r.count64(8)?;
                    let extra: Vec<u64> = r
                        .take(nh * 8)?
                        .chunks_exact(8)
                        .map(|c| {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(c);
                            u64::from_le_bytes(a)
                        })
                        .collect();
                    if !extra.windows(2).all(|w| w[0] <= w[1]) {
                        return Err(Decode::Corrupt("name hashes out of order".into()));
                    }
                    Some(NameHashes { base, extra })
                }
                x => return Err(Decode::Corrupt(format!("bad flag {x}"))),
            };
            let nhot = r.count(20)?;
            let mut hot = Vec::with_capacity(nhot);
            for _ in 0..nhot {
                hot.push(HotFile {
                    name: r.os()?,
                    mtime: r.time()?,
                    size: r.u64()?,
                });
            }
            dirs.insert(
                rel,
                DirCache {
                    id,
                    mtime,
                    ctime,
                    listed_at,
                    subdirs,
                    cold,
                    cold_hashes,
                    hot,
                },
            );
        }
        out.insert(id, RecorderCache { key, dirs });
    }
    if !r.b.is_empty() {
        return Err(Decode::Corrupt("trailing bytes".into()));
    }
    Ok(out)
}

struct Writer(Vec<u8>);

impl Writer {
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
