//! The Linux lister: a folder's entries straight from `getdents64` (see `rawdir.rs`), a very
//! big ext4 folder by two threads, the names looked up among the cached ones a batch at a time.

use super::super::hashes::{name_hash, Resolved, BATCH};
use super::gathered::{FileMeta, Gathered};
use super::meta::reason;
use super::{Acc, Ctx, Task};
use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// Lists a folder on Linux from `getdents64`, a big ext4 folder by two threads at once.
/// `None` when the folder itself cannot be read.
#[cfg(target_os = "linux")]
pub(crate) fn gather_linux(
    ctx: &Ctx<'_>,
    task: &Task,
    abs: &Path,
    dir_bytes: u64,
    old: Option<&Resolved>,
    acc: &mut Acc,
) -> Option<Gathered> {
    use super::super::rawdir::{self, Part};
    let fd = match rawdir::open(abs) {
        Ok(fd) => fd,
        Err(e) => {
            if task.depth == 0 {
                acc.root_unreadable = Some(reason(&e));
            } else {
                acc.error(abs, reason(&e));
            }
            return None;
        }
    };
    let upper = if ctx.threads > 1 && rawdir::splittable(&fd, dir_bytes) {
        rawdir::open_upper_half(&fd)
    } else {
        None
    };
    let read = |fd: &rustix::fd::OwnedFd, part: Part, acc: &mut Acc| {
        let mut g = Gathered::default();
        let files_here = ctx.layout.counts_files_at(task.depth + 1);
        let mut buf = std::mem::take(&mut acc.buf);
        let mut pending = Pending::default();
        let result = rawdir::for_each(fd, part, &mut buf, |cname, kind| {
            let name = cname_os(cname);
            let path = || abs.join(name);
            let mut kind = kind;
            let mut known = None;
            if kind == rawdir::Kind::Unknown {
                // The file system did not give the type: one stat tells, and serves below.
                match rawdir::stat_at(fd, cname) {
                    Ok(m) => {
                        kind = if m.is_dir {
                            rawdir::Kind::Dir
                        } else if m.is_file {
                            rawdir::Kind::File
                        } else {
                            rawdir::Kind::Other
                        };
                        known = Some(m);
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                    Err(e) => {
                        acc.error(&path(), reason(&e));
                        return;
                    }
                }
            }
            match kind {
                rawdir::Kind::Dir => g.subdir(ctx, task.depth, name, path, acc),
                rawdir::Kind::File if files_here && ctx.layout.name_matches(name) => {
                    pending.push(cname, known);
                    if pending.hashes.len() == BATCH {
                        pending.flush(ctx, abs, fd, old, &mut g, acc);
                    }
                }
                // FIFOs, sockets, devices, links not followed, files at other depths: never opened.
                _ => {}
            }
        });
        pending.flush(ctx, abs, fd, old, &mut g, acc);
        acc.buf = buf;
        if let Err(e) = result {
            acc.error(abs, reason(&e));
        }
        g
    };
    let Some(upper) = upper else {
        return Some(read(&fd, Part::Whole, acc));
    };
    acc.stats.dirs_split += 1;
    let (mut g, (g2, acc2)) = std::thread::scope(|s| {
        let helper = s.spawn(|| {
            let mut acc2 = Acc::new(ctx.tz);
            let g2 = read(&upper, Part::Upper, &mut acc2);
            (g2, acc2)
        });
        let g = read(&fd, Part::Lower, acc);
        match helper.join() {
            Ok(r) => (g, r),
            Err(p) => std::panic::resume_unwind(p),
        }
    });
    g.absorb(g2);
    acc.absorb(acc2);
    Some(g)
}

/// Counted files met in a listing, looked up among the cached names a batch at a time.
#[cfg(target_os = "linux")]
#[derive(Default)]
struct Pending {
    /// The names, each followed by its NUL.
    names: Vec<u8>,
    /// Where each name starts in `names`, and its length.
    spans: Vec<(usize, usize)>,
    hashes: Vec<u64>,
    /// A stat already made (when the listing did not give the file type).
    known: Vec<Option<super::super::rawdir::Meta>>,
}

#[cfg(target_os = "linux")]
impl Pending {
    fn push(&mut self, cname: &std::ffi::CStr, known: Option<super::super::rawdir::Meta>) {
        let bytes = cname.to_bytes_with_nul();
        self.spans.push((self.names.len(), bytes.len() - 1));
        self.names.extend_from_slice(bytes);
        self.hashes.push(name_hash(&bytes[..bytes.len() - 1]));
        self.known.push(known);
    }

    /// Looks the batch up and stats the names not found.
    fn flush(
        &mut self,
        ctx: &Ctx<'_>,
        abs: &Path,
        fd: &rustix::fd::OwnedFd,
        old: Option<&Resolved>,
        g: &mut Gathered,
        acc: &mut Acc,
    ) {
        use super::super::rawdir;
        let mut found = [false; BATCH];
        if let Some(oh) = old {
            oh.contains_batch(&self.hashes, &mut found);
        }
        for (i, &(start, len)) in self.spans.iter().enumerate() {
            if found[i] {
                g.seen_cold += 1;
                continue;
            }
            let with_nul = &self.names[start..=start + len];
            let Ok(cname) = std::ffi::CStr::from_bytes_with_nul(with_nul) else {
                continue;
            };
            let name = cname_os(cname);
            let known = self.known[i].take();
            let stat = || {
                let m = match known {
                    Some(m) => m,
                    None => rawdir::stat_at(fd, cname)?,
                };
                Ok(FileMeta {
                    is_file: m.is_file,
                    mtime: Some(m.mtime),
                    len: m.len,
                })
            };
            g.new_file(ctx, name, self.hashes[i], stat, || abs.join(name), acc);
        }
        self.names.clear();
        self.spans.clear();
        self.hashes.clear();
        self.known.clear();
    }
}

/// A name from the listing as an `OsStr` (Unix names are bytes).
#[cfg(target_os = "linux")]
fn cname_os(name: &std::ffi::CStr) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(name.to_bytes())
}
