//! What a folder's metadata says about its identity, per platform, and how an I/O error is
//! worded in a scan's error list.

use super::super::agg::FileTime;
use std::io;

pub(crate) use imp::{change_time, identity};

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
