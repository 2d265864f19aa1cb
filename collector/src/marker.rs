//! The marker beside sled's files: the collector's own evidence of how many sites its store
//! held, written durably once it holds one (see `crate::store_guard` for why and when it is
//! checked). Below the store, which holds a [`MarkerWatch`] and opens through [`no_panic`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::store_error::StoreError;

pub use crate::store_error::MARKER_FILE;

/// What the marker records: that the store held data, since when, and how many sites.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Marker {
    /// When the store first held a site (RFC 3339, UTC).
    pub first_write: String,
    /// When the marker was last rewritten.
    pub updated: String,
    /// The most sites the store has held (sites are never deleted).
    pub sites: u64,
}

const MARKER_HEADER: &str =
    "# Written by vigia-collector: this store holds data. If the store is ever found with fewer\n\
# sites than below (a damaged or replaced `db` file), the collector refuses to start rather\n\
# than run on an empty store. Remove this file only to start with an empty store on purpose.\n";

/// The marker's path for a store folder.
pub fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER_FILE)
}

/// Reads the marker; `Ok(None)` when there is none.
pub fn read_marker(dir: &Path) -> Result<Option<Marker>, StoreError> {
    let path = marker_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(damaged(
                dir,
                format!("cannot read the marker {}: {e}", path.display()),
            ))
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        damaged(
            dir,
            format!("the marker {} cannot be parsed: {e}", path.display()),
        )
    })
}

/// Writes the marker durably (temporary file, fsync, rename, fsync of the folder).
pub fn write_marker(dir: &Path, marker: &Marker) -> std::io::Result<()> {
    use std::io::Write as _;
    let body = toml::to_string(marker).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MARKER_HEADER.as_bytes())?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, marker_path(dir))?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The store's side of the marker: how many sites it names, and whether a site was added since.
#[derive(Debug, Default)]
pub struct MarkerWatch {
    /// Sites named by the marker on disk (0: no marker yet).
    pub(crate) known_sites: AtomicU64,
    /// A site record was created since the marker was last brought up to date.
    pub(crate) sites_added: AtomicBool,
    /// When the marker was first written (kept across rewrites).
    pub(crate) first_write: std::sync::Mutex<Option<String>>,
}

impl MarkerWatch {
    /// Starts from the marker found at open.
    pub(crate) fn from_marker(m: Option<&Marker>) -> MarkerWatch {
        MarkerWatch {
            known_sites: AtomicU64::new(m.map_or(0, |m| m.sites)),
            sites_added: AtomicBool::new(false),
            first_write: std::sync::Mutex::new(m.map(|m| m.first_write.clone())),
        }
    }

    /// Notes that a site record was created (called by every write that may create one).
    pub(crate) fn site_added(&self) {
        self.sites_added.store(true, Ordering::Release);
    }
}

/// A [`StoreError::Damaged`] for `dir`.
pub(crate) fn damaged(dir: &Path, reason: String) -> StoreError {
    StoreError::Damaged {
        dir: dir.to_path_buf(),
        reason,
    }
}

/// Removes sled's unfinished snapshots (`snap.*.generating`), left by an open or a snapshot
/// that failed (a full disk); sled cannot open a folder holding one.
pub fn remove_stale_snapshots(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let path = entry.path();
            std::fs::remove_file(&path)?;
            tracing::warn!(file = %path.display(), "removed an unfinished sled snapshot left by a failed open");
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Runs `f`, turning a panic inside sled into [`StoreError::Damaged`] for `dir`.
pub(crate) fn no_panic<T>(
    dir: &Path,
    what: &str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(damaged(dir, format!("sled panicked while {what}: {msg}")))
        }
    }
}
