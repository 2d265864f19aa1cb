//! The portable lister: std's `read_dir`, or walkdir when links are followed. The only lister
//! off Linux, and Linux's when links are followed.

use super::super::agg::FileTime;
use super::super::hashes::Resolved;
use super::gathered::{FileMeta, Gathered};
use super::meta::{reason, walk_reason};
use super::{Acc, Ctx, Task};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Lists a folder with std's `read_dir`, or walkdir when links are followed. `None` when the
/// folder itself cannot be read.
pub(crate) fn gather_portable(
    ctx: &Ctx<'_>,
    task: &Task,
    abs: &Path,
    old: Option<&Resolved>,
    acc: &mut Acc,
) -> Option<Gathered> {
    let depth = task.depth;
    let files_here = ctx.layout.counts_files_at(depth + 1);
    let mut g = Gathered::default();
    // Two ways to list: std's read_dir when links are not followed (its metadata() is an
    // fstatat relative to the open folder, cheaper than walkdir's lstat of the full path, which
    // makes the kernel resolve every component again), walkdir when they are (it resolves link
    // targets and reports a link back to the folder being listed as a loop).
    let mut items: Box<dyn Iterator<Item = Result<Listed, ListError>>> = if ctx.layout.follow {
        Box::new(
            walkdir::WalkDir::new(abs)
                .min_depth(1)
                .max_depth(1)
                .follow_links(true)
                .into_iter()
                .map(|r| r.map(Listed::Walk).map_err(ListError::Walk)),
        )
    } else {
        match std::fs::read_dir(abs) {
            Ok(rd) => Box::new(rd.map(|r| r.map(Listed::Std).map_err(ListError::Entry))),
            Err(e) => Box::new(std::iter::once(Err(ListError::Open(e)))),
        }
    };
    for item in &mut items {
        let e = match item {
            Ok(e) => e,
            Err(err) => {
                if err.is_folder_itself() {
                    if task.depth == 0 {
                        acc.root_unreadable = Some(err.reason());
                    } else {
                        acc.error(abs, err.reason());
                    }
                    return None;
                }
                if err.is_not_found() {
                    continue;
                }
                let path = err.path().unwrap_or(abs).to_path_buf();
                acc.error(&path, err.reason());
                continue;
            }
        };
        let Some(ft) = e.file_type() else { continue };
        let name = e.file_name();
        let name = name.as_os_str();
        if ft.is_dir() {
            g.subdir(ctx, depth, name, || e.path(), acc);
            continue;
        }
        if !ft.is_file() || !files_here || !ctx.layout.name_matches(name) {
            // FIFOs, sockets, devices, links not followed, files at other depths: never opened.
            continue;
        }
        let stat = || {
            e.metadata().map(|m| FileMeta {
                is_file: m.is_file(),
                mtime: FileTime::of(&m),
                len: m.len(),
            })
        };
        g.file(ctx, name, old, stat, || e.path(), acc);
    }
    Some(g)
}

/// One entry of a listing, from either lister.
// One entry lives at a time, on the stack of the loop: the variants' sizes (which differ by
// platform: std's entry is 600 bytes on Windows) do not matter.
#[allow(clippy::large_enum_variant)]
enum Listed {
    Walk(walkdir::DirEntry),
    Std(std::fs::DirEntry),
}

impl Listed {
    fn file_name(&self) -> OsString {
        match self {
            Listed::Walk(e) => e.file_name().to_os_string(),
            Listed::Std(e) => e.file_name(),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Listed::Walk(e) => e.path().to_path_buf(),
            Listed::Std(e) => e.path(),
        }
    }

    /// Free from the listing on Linux and Windows (d_type); None when the entry vanished.
    fn file_type(&self) -> Option<std::fs::FileType> {
        match self {
            Listed::Walk(e) => Some(e.file_type()),
            Listed::Std(e) => e.file_type().ok(),
        }
    }

    /// One stat: relative to the open folder for std, of the (followed) path for walkdir.
    fn metadata(&self) -> io::Result<std::fs::Metadata> {
        match self {
            Listed::Walk(e) => e.metadata().map_err(|err| {
                err.into_io_error()
                    .unwrap_or_else(|| io::Error::other("symbolic link loop"))
            }),
            Listed::Std(e) => e.metadata(),
        }
    }
}

/// A listing error, from either lister.
enum ListError {
    Open(io::Error),
    Entry(io::Error),
    Walk(walkdir::Error),
}

impl ListError {
    fn is_folder_itself(&self) -> bool {
        match self {
            ListError::Open(_) => true,
            ListError::Entry(_) => false,
            ListError::Walk(e) => e.depth() == 0,
        }
    }

    fn is_not_found(&self) -> bool {
        let kind = match self {
            ListError::Open(e) | ListError::Entry(e) => Some(e.kind()),
            ListError::Walk(e) => e.io_error().map(io::Error::kind),
        };
        kind == Some(io::ErrorKind::NotFound)
    }

    fn path(&self) -> Option<&Path> {
        match self {
            ListError::Walk(e) => e.path(),
            _ => None,
        }
    }

    fn reason(&self) -> String {
        match self {
            ListError::Open(e) | ListError::Entry(e) => reason(e),
            ListError::Walk(e) => walk_reason(e),
        }
    }
}
