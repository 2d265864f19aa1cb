//! Folder listing on Linux straight from `getdents64` (through rustix): no allocation per
//! entry, file types from the listing, and stats relative to the open folder.
//!
//! A very large folder on ext4 can also be read by two threads at once. ext4 returns an indexed
//! folder's entries in the order of their name hashes, and an entry's seek position is its
//! hash: one thread reads the entries below the middle of the hash range, another seeks to the
//! middle and reads the rest. Each entry has one hash, so each is read exactly once. A busy
//! Digifort camera folder (25,000 recordings) must be listed again whenever a recording is
//! added, and its listing is most of a rescan's time.

use super::agg::FileTime;
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

/// Bytes of directory entries read per `getdents64` call.
pub(crate) const BUF_LEN: usize = 64 * 1024;

/// The seek position halfway through ext4's hash order (64-bit positions hold the major hash
/// shifted right by one in their upper half).
const EXT4_MIDDLE: u64 = 1 << 62;

/// `statfs` magic number shared by ext2, ext3 and ext4.
const EXT4_MAGIC: u64 = 0xEF53;

/// Folders smaller than this (in bytes of directory data, about 4,000 entries) are read by one
/// thread: a second one costs more than it saves.
pub(crate) const SPLIT_MIN_BYTES: u64 = 192 * 1024;

/// What one entry is, from the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A folder.
    Dir,
    /// A regular file.
    File,
    /// Anything else: links (not followed), FIFOs, sockets, devices.
    Other,
    /// The file system did not say; a stat will.
    Unknown,
}

/// A file's figures from one stat.
pub(crate) struct Meta {
    /// Whether it is a regular file (and not a folder, link...).
    pub(crate) is_file: bool,
    /// Whether it is a folder.
    pub(crate) is_dir: bool,
    /// Its modification time.
    pub(crate) mtime: FileTime,
    /// Its size.
    pub(crate) len: u64,
}

/// Opens a folder for listing (following a link, as std's `read_dir` does: the walk stat'ed
/// the folder just before).
pub(crate) fn open(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// Whether the folder can be read in two halves at once: ext4 (whose positions are name hashes)
/// and big enough to be worth a second thread.
pub(crate) fn splittable(fd: &OwnedFd, dir_bytes: u64) -> bool {
    dir_bytes >= SPLIT_MIN_BYTES
        && rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type as u64 == EXT4_MAGIC)
}

/// Opens the folder again, positioned at the middle of its hash order: the upper half's reader.
/// `None` when the position cannot be set (then one thread reads it all).
pub(crate) fn open_upper_half(fd: &OwnedFd) -> Option<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let upper = rustix::fs::openat(fd, c".", flags, Mode::empty()).ok()?;
    rustix::fs::seek(&upper, rustix::fs::SeekFrom::Start(EXT4_MIDDLE)).ok()?;
    Some(upper)
}

/// Which part of the folder a reader reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    /// All of it.
    Whole,
    /// The entries before the middle of the hash order.
    Lower,
    /// The entries from the middle on (the reader was opened with [`open_upper_half`]).
    Upper,
}

/// Reads the entries of `part` of the folder, calling `f` with each name (never "." or "..")
/// and its kind. Stops at the first error, which it returns.
pub(crate) fn for_each(
    fd: &OwnedFd,
    part: Part,
    buf: &mut Vec<MaybeUninit<u8>>,
    mut f: impl FnMut(&CStr, Kind),
) -> io::Result<()> {
    if buf.len() < BUF_LEN {
        buf.resize(BUF_LEN, MaybeUninit::uninit());
    }
    let mut dir = rustix::fs::RawDir::new(fd, buf.as_mut_slice());
    // An entry's own position is the previous entry's "next" cookie.
    let mut position: u64 = 0;
    while let Some(entry) = dir.next() {
        let entry = entry?;
        if matches!(part, Part::Lower) && position >= EXT4_MIDDLE {
            break;
        }
        position = entry.next_entry_cookie();
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        use rustix::fs::FileType as T;
        let kind = match entry.file_type() {
            T::Directory => Kind::Dir,
            T::RegularFile => Kind::File,
            T::Unknown => Kind::Unknown,
            _ => Kind::Other,
        };
        f(name, kind);
    }
    Ok(())
}

/// Stats an entry of the open folder without following links.
pub(crate) fn stat_at(fd: &OwnedFd, name: &CStr) -> io::Result<Meta> {
    let st = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let t = rustix::fs::FileType::from_raw_mode(st.st_mode as _);
    #[allow(clippy::unnecessary_cast)]
    let mtime = FileTime {
        secs: st.st_mtime as i64,
        nanos: u32::try_from(st.st_mtime_nsec)
            .unwrap_or(0)
            .min(999_999_999),
    };
    Ok(Meta {
        is_file: t == rustix::fs::FileType::RegularFile,
        is_dir: t == rustix::fs::FileType::Directory,
        mtime,
        len: u64::try_from(st.st_size).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(fd: &OwnedFd, part: Part) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for_each(fd, part, &mut buf, |n, _| out.push(n.to_bytes().to_vec())).expect("list");
        out
    }

    #[test]
    fn both_halves_together_are_exactly_the_listing() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..9_000 {
            std::fs::write(dir.path().join(format!("20261128{i:06}_0001.dar")), b"").expect("file");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("subdir");
        let want: BTreeSet<Vec<u8>> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().into_encoded_bytes())
            .collect();
        assert_eq!(want.len(), 9_001);

        let fd = open(dir.path()).expect("open");
        let whole = names(&fd, Part::Whole);
        assert_eq!(whole.iter().cloned().collect::<BTreeSet<_>>(), want);
        assert_eq!(whole.len(), want.len(), "no entry twice");

        let fd = open(dir.path()).expect("open");
        let on_ext4 = rustix::fs::fstatfs(&fd).is_ok_and(|s| s.f_type as u64 == EXT4_MAGIC);
        let Some(upper) = open_upper_half(&fd) else {
            // Other file systems may refuse the seek; the walk then reads with one thread.
            assert!(!on_ext4, "an indexed ext4 folder seeks to a hash");
            return;
        };
        let mut both = names(&fd, Part::Lower);
        let upper_names = names(&upper, Part::Upper);
        if on_ext4 {
            // Hashes are even: each half holds about half the names.
            assert!(
                upper_names.len() > 3_000 && both.len() > 3_000,
                "{} / {}",
                both.len(),
                upper_names.len()
            );
        }
        both.extend(upper_names);
        assert_eq!(both.len(), want.len(), "no entry twice, none lost");
        assert_eq!(both.into_iter().collect::<BTreeSet<_>>(), want);
    }

    #[test]
    fn stat_at_reads_files_folders_and_links_without_following() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.dar"), b"12345").expect("file");
        std::fs::create_dir(dir.path().join("d")).expect("dir");
        std::os::unix::fs::symlink("a.dar", dir.path().join("l")).expect("link");
        let fd = open(dir.path()).expect("open");
        let a = stat_at(&fd, c"a.dar").expect("stat");
        assert!(a.is_file && !a.is_dir && a.len == 5);
        let d = stat_at(&fd, c"d").expect("stat");
        assert!(d.is_dir && !d.is_file);
        let l = stat_at(&fd, c"l").expect("stat");
        assert!(!l.is_file && !l.is_dir, "the link itself");
        let err = stat_at(&fd, c"gone").err().expect("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
