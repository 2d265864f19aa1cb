//! A log file that rotates by size, for programs with no journal to write to: a Windows service
//! has no console, and a site PC's disk must not fill with a year of logs. The file is cut
//! between writes, never inside one, and each tracing event is one write, so a line is never
//! split across two files (file-rotate's byte limit cuts at the exact size, mid-line).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default size at which the file is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of rotated files kept beside the current one (`NAME.1` … `NAME.5`).
pub const DEFAULT_KEEP: usize = 5;

/// `NAME`, then `NAME.1` (the newest rotated) up to `NAME.keep`; older ones are deleted.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// None only between closing and reopening during a rotation (Windows cannot rename an
    /// open file).
    file: Option<File>,
    len: u64,
}

impl RotatingFile {
    /// Opens (appending) or creates `path`; the folder must exist.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file: Some(file),
            len,
        })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        self.len = 0;
        self.current().map(|_| ())
    }

    fn current(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.current()?.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A [`RotatingFile`] shared by every thread that logs (`tracing_subscriber`'s `MakeWriter`).
#[derive(Debug, Clone)]
pub struct SharedLog(Arc<Mutex<RotatingFile>>);

impl SharedLog {
    /// Wraps an open file.
    pub fn new(file: RotatingFile) -> SharedLog {
        SharedLog(Arc::new(Mutex::new(file)))
    }
}

/// One event's write, under the lock for the whole event.
pub struct SharedLogGuard<'a>(std::sync::MutexGuard<'a, RotatingFile>);

impl Write for SharedLogGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedLog {
    type Writer = SharedLogGuard<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        SharedLogGuard(self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn rotates_between_writes_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("probe.log");
        let mut log = RotatingFile::open(&path, 10, 2).expect("open");
        for line in [
            "aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n",
        ] {
            log.write_all(line.as_bytes()).expect("write");
        }
        assert_eq!(read(&path), "gggg\n");
        assert_eq!(read(&dir.path().join("probe.log.1")), "eeee\nffff\n");
        assert_eq!(read(&dir.path().join("probe.log.2")), "cccc\ndddd\n");
        assert!(
            !dir.path().join("probe.log.3").exists(),
            "only `keep` files"
        );
    }

    #[test]
    fn a_write_larger_than_the_limit_goes_whole_into_a_fresh_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.log");
        let mut log = RotatingFile::open(&path, 4, 1).expect("open");
        log.write_all(b"ab\n").expect("write");
        log.write_all(b"a long line\n").expect("write");
        assert_eq!(read(&path), "a long line\n");
        assert_eq!(read(&dir.path().join("x.log.1")), "ab\n");
    }

    #[test]
    fn reopening_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.log");
        RotatingFile::open(&path, 8, 1)
            .expect("open")
            .write_all(b"123456\n")
            .expect("write");
        let mut again = RotatingFile::open(&path, 8, 1).expect("reopen");
        again.write_all(b"78\n").expect("write");
        assert_eq!(
            read(&path),
            "78\n",
            "the earlier 7 bytes counted toward the limit"
        );
        assert_eq!(read(&dir.path().join("x.log.1")), "123456\n");
    }
}
