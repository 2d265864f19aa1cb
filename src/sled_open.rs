//! Opening a sled folder that a previous holder may still be letting go of.
//!
//! sled locks its folder to one process (an exclusive lock on the file `db`), and its
//! background threads release it a moment after the last handle is dropped: a collector or a
//! mailer restarted at once, or a test reopening a store it just closed, finds the folder
//! locked for a few milliseconds. Both programs wait briefly for it, here, in one loop.
//!
//! The wait is decided by type, never by the error's text: sled 0.34 flattens the lock
//! failure into an `io::Error` of kind `Other` with a message and no `source()`, so besides
//! an `io::ErrorKind::WouldBlock` found along `source()` (a store that keeps the OS error),
//! the helper asks the OS itself whether the lock is held, with a non-blocking exclusive lock
//! of its own on the same file (`fs4`, the same `flock`/`LockFileEx` sled takes), released at
//! once.

use fs4::fs_std::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The file in a sled folder that sled locks.
const LOCK_FILE: &str = "db";

/// How often a locked folder is tried again while waiting.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// Why [`open_waiting`] failed: the folder stayed locked, or the open failed otherwise.
#[derive(Debug)]
pub enum OpenError<E> {
    /// Another holder kept the folder's lock for the whole wait (another running process, or
    /// a handle still open in this one); `E` is the last open's error.
    Locked(E),
    /// The open failed for another reason (the folder is not the cause of a wait).
    Failed(E),
}

impl<E> OpenError<E> {
    /// The last open's error, for callers that report both cases alike.
    pub fn into_inner(self) -> E {
        match self {
            OpenError::Locked(e) | OpenError::Failed(e) => e,
        }
    }
}

/// Opens with `open`, trying again every 50 ms for up to `wait` while `dir`'s lock is held by
/// someone else; any other failure is returned at once.
pub fn open_waiting<T, E>(
    dir: &Path,
    wait: Duration,
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, OpenError<E>>
where
    E: std::error::Error + 'static,
{
    let deadline = Instant::now() + wait;
    // A lock released between the failed open and the look at it is still a lock failure:
    // one more open tells it from a real error.
    let mut free_retry_left = true;
    loop {
        let e = match open() {
            Ok(db) => return Ok(db),
            Err(e) => e,
        };
        let locked = would_block_along_sources(&e) || lock_held(dir);
        if !locked && !std::mem::take(&mut free_retry_left) {
            return Err(OpenError::Failed(e));
        }
        if Instant::now() >= deadline {
            return Err(if locked {
                OpenError::Locked(e)
            } else {
                OpenError::Failed(e)
            });
        }
        if locked {
            std::thread::sleep(RETRY_EVERY);
        }
    }
}

/// Whether `e` or one of its causes is an `io::Error` of kind `WouldBlock` (a lock taken by
/// someone else, as the OS reports it).
pub fn would_block_along_sources(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::WouldBlock)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Whether the lock sled takes on `dir` is held by another handle now. A folder without the
/// lock file, or one that cannot be read, is not locked (the open's own error says why).
pub fn lock_held(dir: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
    else {
        return false;
    };
    // Ok(false) is the OS saying "held by another"; our own lock, if taken, goes with `file`.
    matches!(file.try_lock_exclusive(), Ok(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] std::io::Error);

    #[test]
    fn a_would_block_cause_is_found_and_a_look_alike_message_is_not() {
        let e = Wrapped(std::io::Error::from(std::io::ErrorKind::WouldBlock));
        assert!(would_block_along_sources(&e));
        let text = Wrapped(std::io::Error::other("could not acquire lock (WouldBlock)"));
        assert!(!would_block_along_sources(&text));
    }

    #[test]
    fn a_held_lock_is_waited_for_and_then_reported_as_locked() {
        let dir = tempfile::tempdir().expect("dir");
        let file = std::fs::File::create(dir.path().join(LOCK_FILE)).expect("db file");
        assert!(file.try_lock_exclusive().expect("first lock"));
        assert!(lock_held(dir.path()));
        let mut tries = 0;
        let r: Result<(), _> = open_waiting(dir.path(), Duration::from_millis(120), || {
            tries += 1;
            Err(std::io::Error::other("sled's flattened lock error"))
        });
        assert!(matches!(r, Err(OpenError::Locked(_))), "{r:?}");
        assert!(tries >= 2, "tried again while locked: {tries}");
        drop(file);
        assert!(!lock_held(dir.path()));
    }

    #[test]
    fn a_lock_released_while_waiting_lets_the_open_succeed() {
        let dir = tempfile::tempdir().expect("dir");
        let file = std::fs::File::create(dir.path().join(LOCK_FILE)).expect("db file");
        assert!(file.try_lock_exclusive().expect("first lock"));
        let mut holder = Some(file);
        let r = open_waiting(dir.path(), Duration::from_secs(10), || {
            // The holder lets go after the first refusal, as an exiting process does.
            match holder.take() {
                Some(f) => {
                    let e = std::io::Error::other("locked");
                    // Still held while the helper looks, released right after.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(20));
                        drop(f);
                    });
                    Err(e)
                }
                None => Ok("opened"),
            }
        });
        assert_eq!(r.ok(), Some("opened"));
    }

    #[test]
    fn another_failure_is_returned_without_waiting() {
        let dir = tempfile::tempdir().expect("dir");
        let mut tries = 0;
        let r: Result<(), _> = open_waiting(dir.path(), Duration::from_secs(60), || {
            tries += 1;
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        });
        assert!(matches!(r, Err(OpenError::Failed(_))), "{r:?}");
        // One retry covers a lock let go between the failure and the look.
        assert_eq!(tries, 2);
    }
}
