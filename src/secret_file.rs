//! Files that hold secrets (private keys, the SMTP password, OAuth2 client secrets) must be
//! readable by their owner only: a key readable by every user of a site PC lets any of them
//! impersonate the site. On Unix a file readable by group or others is refused, or — when the
//! operator passed `--allow-insecure-keys` — used with a loud warning. Windows keeps access in
//! ACLs, which the deployment guide sets (`icacls`); nothing is checked there.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static ALLOW_INSECURE: AtomicBool = AtomicBool::new(false);

/// Lets secret files readable by others through with a warning (`--allow-insecure-keys`).
pub fn allow_insecure(allow: bool) {
    ALLOW_INSECURE.store(allow, Ordering::Relaxed);
}

/// A secret file others can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({what}): readable by group or others (mode {mode:04o}); run `chmod 600 {}`, or start with --allow-insecure-keys to use it anyway", .path.display(), .path.display())]
pub struct InsecureFile {
    /// The file.
    pub path: PathBuf,
    /// "private key", "SMTP password file".
    pub what: &'static str,
    /// Its permission bits.
    pub mode: u32,
}

/// Checks that only the owner can read `path` (Unix); `what` names it in the message.
pub fn check(path: &Path, what: &'static str) -> Result<(), InsecureFile> {
    imp::check(path, what)
}

#[cfg(unix)]
mod imp {
    use super::{InsecureFile, ALLOW_INSECURE};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::sync::atomic::Ordering;

    pub fn check(path: &Path, what: &'static str) -> Result<(), InsecureFile> {
        // A file that cannot be stat'ed is reported by whoever reads it next.
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(());
        }
        let e = InsecureFile {
            path: path.to_path_buf(),
            what,
            mode,
        };
        if ALLOW_INSECURE.load(Ordering::Relaxed) {
            tracing::warn!("INSECURE: {e}; used because of --allow-insecure-keys");
            return Ok(());
        }
        Err(e)
    }
}

#[cfg(not(unix))]
mod imp {
    use super::InsecureFile;
    use std::path::Path;

    pub fn check(_path: &Path, _what: &'static str) -> Result<(), InsecureFile> {
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn owner_only_passes_and_group_readable_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("site.key");
        std::fs::write(&p, b"secret").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(check(&p, "private key"), Ok(()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let e = check(&p, "private key").expect_err("group-readable");
        assert_eq!(e.mode, 0o640);
        let text = e.to_string();
        assert!(
            text.contains("chmod 600") && text.contains("site.key"),
            "{text}"
        );
    }
}
