//! The store's archive: a second sled database, in the store folder's `archive` folder, holding
//! the history the hourly pass moved out of the store's own `history` tree (`crate::fold`).
//!
//! Why a database of its own: sled 0.34 reclaims a segment of its log only once it is at most
//! half live, and never shrinks its file but from the end. In one database, the ack path's
//! short-lived writes (each status's record until folded, the `latest` pointer and site record
//! rewritten at every status) shared segments with blocks that live for months, and the dead
//! versions stayed: 100 sites' 30 days took 26 KB a site-day in place for 8 KB live
//! (bench/history.sh). Apart, the store's own log holds only what dies young, and the archive's
//! only what the pass writes. The archive compresses its pages whatever `[store] compression`
//! says: only the pass writes it, never the ack path, so zstd's cost is off the durable ack.

use std::path::{Path, PathBuf};

use crate::store_error::StoreError;

/// The archive's folder inside the store folder `dir`.
pub fn dir(dir: &Path) -> PathBuf {
    dir.join("archive")
}

/// Whether the store in `dir` has an archive (sled writes its `conf` file when it creates one).
pub fn exists(dir: &Path) -> bool {
    self::dir(dir).join("conf").exists()
}

/// zstd's level for the archive's pages (written once an hour, read by History).
const LEVEL: i32 = 9;

/// Opens (or creates) the archive of the store in `dir`, with sled's cache limited to
/// `cache_bytes`, and returns its `history` tree with it.
pub fn open(dir: &Path, cache_bytes: u64) -> Result<(sled::Db, sled::Tree), StoreError> {
    let path = self::dir(dir);
    let sled_err = |source: sled::Error| StoreError::Sled {
        dir: path.clone(),
        source,
    };
    crate::marker::remove_stale_snapshots(&path).map_err(|e| sled_err(sled::Error::Io(e)))?;
    let config = sled::Config::new()
        .path(&path)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(Some(1000))
        .use_compression(true)
        .compression_factor(LEVEL);
    let wait = std::time::Duration::from_secs(2);
    let db = vigia::sled_open::open_waiting(&path, wait, || config.open())
        .map_err(|e| StoreError::opening(&path, e))?;
    let history = db.open_tree("history").map_err(sled_err)?;
    Ok((db, history))
}
