//! Guards around opening the store, so that a damaged store is refused by name and never
//! replaced by an empty one.
//!
//! sled 0.34 opens a `db` file truncated to zero or filled with garbage as an *empty* store,
//! and one truncated to half as a store missing part of its records; some damage makes it
//! panic instead. So the collector keeps its own evidence beside sled's files: the marker
//! [`MARKER_FILE`] in `data_dir`, written (durably, before the first acknowledgement) once the
//! store holds a site, and rewritten whenever the number of sites grows. Sites are never
//! deleted, so a store with fewer sites than its marker names has lost data. The open also
//! follows every `latest` pointer: a pointer into missing history is damage too.
//!
//! A failed open (a full disk) leaves a 0-byte `snap.*.generating` behind, which makes every
//! later open fail; such files are sled's unfinished snapshots and are removed before opening.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::store::{Store, StoreError};

/// The marker's file name inside `data_dir` (sled never touches files it did not create).
pub const MARKER_FILE: &str = "vigia-store.toml";

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
    known_sites: AtomicU64,
    /// A site record was created since the marker was last brought up to date.
    sites_added: AtomicBool,
    /// When the marker was first written (kept across rewrites).
    first_write: std::sync::Mutex<Option<String>>,
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

/// Brings the marker up to date after a successful flush, before anything it covered is
/// acknowledged; an error means "not durable" (nothing is acknowledged, the store is faulted).
pub(crate) fn after_flush(store: &Store) -> Result<(), StoreError> {
    let watch = &store.marker;
    if !watch.sites_added.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    let result = sync_marker(store);
    if result.is_err() {
        // Try again at the next flush.
        watch.sites_added.store(true, Ordering::Release);
    }
    result
}

fn sync_marker(store: &Store) -> Result<(), StoreError> {
    let watch = &store.marker;
    let sites = store.site_count()?;
    if sites == 0 || sites <= watch.known_sites.load(Ordering::Acquire) {
        return Ok(());
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let first = watch
        .first_write
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(|| now.clone())
        .clone();
    let marker = Marker {
        first_write: first,
        updated: now,
        sites,
    };
    write_marker(store.dir(), &marker).map_err(|e| StoreError::Sled {
        dir: store.dir().to_path_buf(),
        source: sled::Error::Io(std::io::Error::new(
            e.kind(),
            format!("write {}: {e}", marker_path(store.dir()).display()),
        )),
    })?;
    watch.known_sites.store(sites, Ordering::Release);
    Ok(())
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

impl Store {
    /// Opens the store as the collector does: [`Store::open`], then refuses a store that has
    /// lost data (fewer sites than its marker names, `latest` pointers into missing history).
    /// A store that holds sites but has no marker yet (made before markers existed) gets one.
    pub fn open_checked(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let store = Store::open(dir, cache_bytes)?;
        no_panic(dir, "reading the store", || verify(&store))?;
        Ok(store)
    }
}

/// The open-time checks of [`Store::open_checked`].
fn verify(store: &Store) -> Result<(), StoreError> {
    let dir = store.dir();
    let marker = read_marker(dir)?;
    let sites = store.site_count()?;
    if let Some(m) = &marker {
        if sites < m.sites {
            let what = if sites == 0 {
                "no sites at all".to_string()
            } else {
                format!("only {sites}")
            };
            return Err(damaged(
                dir,
                format!(
                    "its marker {} says it held {} site(s) (data since {}), but the store has {what}: sled's `db` file was truncated, replaced or damaged",
                    marker_path(dir).display(),
                    m.sites,
                    m.first_write
                ),
            ));
        }
    }
    let dangling = store.dangling_latest()?;
    if dangling > 0 {
        return Err(damaged(
            dir,
            format!("{dangling} latest-status pointer(s) name history records that are missing"),
        ));
    }
    if sites > marker.as_ref().map_or(0, |m| m.sites) {
        store.marker.site_added();
        after_flush(store)?;
    }
    Ok(())
}
