//! Guards around opening the store, so that a damaged store is refused by name and never
//! replaced by an empty one.
//!
//! sled 0.34 opens a `db` file truncated to zero or filled with garbage as an *empty* store,
//! and one truncated to half as a store missing part of its records; some damage makes it
//! panic instead. So the collector keeps its own evidence beside sled's files: the marker
//! [`crate::marker::MARKER_FILE`] in `data_dir`, written (durably, before the first
//! acknowledgement) once the store holds a site, and rewritten whenever the number of sites
//! grows. Sites are never deleted, so a store with fewer sites than its marker names has lost
//! data. The open also follows every `latest` pointer: a pointer into missing history is damage
//! too.
//!
//! A failed open (a full disk) leaves a 0-byte `snap.*.generating` behind, which makes every
//! later open fail; such files are sled's unfinished snapshots and are removed before opening.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::store::{Store, StoreError};

use crate::marker::{damaged, marker_path, no_panic, read_marker, write_marker, Marker};

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

impl Store {
    /// Opens the store as the collector does: [`Store::open_as`], then refuses a store that has
    /// lost data (fewer sites than its marker names, `latest` pointers into missing history).
    /// A store that holds sites but has no marker yet (made before markers existed) gets one.
    pub fn open_checked(
        dir: &Path,
        cache_bytes: u64,
        compress_new: bool,
    ) -> Result<Store, StoreError> {
        let store = Store::open_as(dir, cache_bytes, compress_new)?;
        no_panic(dir, "reading the store", || verify(&store))?;
        Ok(store)
    }
}

/// What the guard and `store check` say of a store whose archive went missing.
pub fn archive_lost(dir: &Path) -> String {
    format!(
        "its archive {} (the history the hourly passes moved there) was missing when the store was opened",
        crate::archive::dir(dir).display()
    )
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
    if store.archive_lost()?.is_some() {
        return Err(damaged(dir, archive_lost(dir)));
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
