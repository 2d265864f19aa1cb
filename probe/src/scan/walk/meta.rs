//! What a folder's metadata says about its identity, per platform, and how an I/O error is
//! worded in a scan's error list.

use super::super::agg::FileTime;
use std::ffi::OsStr;
use std::io;
use std::path::Path;

pub(crate) use imp::{change_time, identity};
#[cfg(target_os = "linux")]
pub(crate) use linux::Handle;
#[cfg(not(target_os = "linux"))]
pub(crate) use portable::Handle;

/// What the walk needs of a folder's own metadata, from whichever stat the platform makes.
pub(crate) struct DirMeta {
    /// Whether it is a folder (after following a link when asked to).
    pub(crate) is_dir: bool,
    /// See [`identity`].
    pub(crate) id: (u64, u64),
    /// Its mtime (`None` where the platform has none).
    pub(crate) mtime: Option<FileTime>,
    /// See [`change_time`].
    pub(crate) ctime: FileTime,
    /// Its size: bytes of directory data (decides whether a big folder is read by two threads).
    pub(crate) len: u64,
}

impl DirMeta {
    fn of(meta: &std::fs::Metadata) -> DirMeta {
        DirMeta {
            is_dir: meta.is_dir(),
            id: identity(meta),
            mtime: FileTime::of(meta),
            ctime: change_time(meta),
            len: meta.len(),
        }
    }
}

/// Stats a folder: relative to its parent's open handle when there is one and links are not
/// followed (one path component for the kernel to resolve instead of the whole path: on a tree
/// of thousands of small folders, a rescan is mostly these stats), else by its full path.
pub(crate) fn stat_dir<'p>(
    parent: Option<&Handle>,
    name: Option<&OsStr>,
    abs: impl FnOnce() -> &'p Path,
    follow: bool,
) -> io::Result<DirMeta> {
    if !follow {
        if let (Some(h), Some(n)) = (parent, name) {
            if let Some(m) = h.stat_child(n) {
                return m;
            }
        }
    }
    let abs = abs();
    let meta = if follow {
        std::fs::metadata(abs)
    } else {
        std::fs::symlink_metadata(abs)
    };
    meta.map(|m| DirMeta::of(&m))
}

/// Linux: folders held open with `O_PATH` (no read access needed, nothing listed through it),
/// their subfolders stat'ed with `fstatat` relative to them.
#[cfg(target_os = "linux")]
mod linux {
    use super::{DirMeta, FileTime};
    use rustix::fd::OwnedFd;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
    use std::ffi::OsStr;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// An open folder whose subfolders are stat'ed relative to it.
    pub(crate) struct Handle(OwnedFd);

    impl Handle {
        /// Opens the folder `name` of `parent` (or `abs` when there is no parent), not
        /// following a final link unless `follow`. `None` on any failure (out of descriptors,
        /// replaced meanwhile): the subfolders are then stat'ed by full path.
        pub(crate) fn open<'p>(
            parent: Option<&Handle>,
            name: Option<&OsStr>,
            abs: impl FnOnce() -> &'p Path,
            follow: bool,
        ) -> Option<Handle> {
            let mut flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            if !follow {
                flags |= OFlags::NOFOLLOW;
            }
            let fd = match (parent, name) {
                (Some(p), Some(n)) => rustix::fs::openat(&p.0, n.as_bytes(), flags, Mode::empty()),
                _ => rustix::fs::openat(CWD, abs(), flags, Mode::empty()),
            };
            fd.ok().map(Handle)
        }

        /// Stats the entry `name` of this folder without following a link; `None` when the
        /// name cannot be passed to the kernel (then the caller stats by full path).
        pub(crate) fn stat_child(&self, name: &OsStr) -> Option<io::Result<DirMeta>> {
            if name.as_bytes().contains(&0) {
                return None;
            }
            let st = match rustix::fs::statat(&self.0, name.as_bytes(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(e) => return Some(Err(e.into())),
            };
            let nanos = |n: i64| u32::try_from(n).unwrap_or(0).min(999_999_999);
            #[allow(clippy::unnecessary_cast)]
            Some(Ok(DirMeta {
                is_dir: FileType::from_raw_mode(st.st_mode as _) == FileType::Directory,
                // As std's `MetadataExt::dev` and `ino` give them, so a cache written by either
                // way of stat'ing matches.
                id: (st.st_dev as u64, st.st_ino as u64),
                mtime: Some(FileTime {
                    secs: st.st_mtime as i64,
                    nanos: nanos(st.st_mtime_nsec as i64),
                }),
                ctime: FileTime {
                    secs: st.st_ctime as i64,
                    nanos: nanos(st.st_ctime_nsec as i64),
                },
                len: u64::try_from(st.st_size).unwrap_or(0),
            }))
        }
    }
}

/// Elsewhere folders are stat'ed by full path: no handle is ever opened.
#[cfg(not(target_os = "linux"))]
mod portable {
    use super::DirMeta;
    use std::ffi::OsStr;
    use std::io;
    use std::path::Path;

    /// Never constructed off Linux.
    pub(crate) enum Handle {}

    impl Handle {
        /// Always `None`: folders are stat'ed by full path.
        pub(crate) fn open<'p>(
            _parent: Option<&Handle>,
            _name: Option<&OsStr>,
            _abs: impl FnOnce() -> &'p Path,
            _follow: bool,
        ) -> Option<Handle> {
            None
        }

        /// Unreachable: no handle exists.
        pub(crate) fn stat_child(&self, _name: &OsStr) -> Option<io::Result<DirMeta>> {
            match *self {}
        }
    }
}

#[cfg(unix)]
mod imp {
    use super::FileTime;
    use std::os::unix::fs::MetadataExt;

    /// Device and inode, so a folder replaced by another is not mistaken for it.
    pub(crate) fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
        (meta.dev(), meta.ino())
    }

    /// The folder's status-change time: moves on chmod and chown too, which leave the mtime
    /// alone, so a folder made unreadable is read (and reported) again.
    pub(crate) fn change_time(meta: &std::fs::Metadata) -> FileTime {
        FileTime {
            secs: meta.ctime(),
            nanos: u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::FileTime;

    /// The creation time stands in for an identity (std has no file index off Unix).
    pub(crate) fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
        meta.created()
            .ok()
            .map(FileTime::from_system)
            .map_or((0, 0), |t| (t.secs as u64, u64::from(t.nanos)))
    }

    /// Windows has no status-change time in std; the mtime alone decides there.
    pub(crate) fn change_time(_meta: &std::fs::Metadata) -> FileTime {
        FileTime { secs: 0, nanos: 0 }
    }
}

/// An I/O error as a scan error's reason: the common kinds in plain words.
pub(crate) fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::NotFound => "not found".to_string(),
        _ => e.to_string(),
    }
}

/// A walkdir error as a scan error's reason, naming a link loop's target.
pub(crate) fn walk_reason(e: &walkdir::Error) -> String {
    if let Some(anc) = e.loop_ancestor() {
        return format!("symbolic link loop back to {}", anc.display());
    }
    match e.io_error() {
        Some(io) => reason(io),
        None => e.to_string(),
    }
}
