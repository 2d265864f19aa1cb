//! Why the store failed, told by type: every module that reads or writes the store (and the
//! marker guarding it) answers with these, so they sit below all of them.

use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// The marker file beside sled's files (`crate::marker`), named by every damaged-store error.
pub const MARKER_FILE: &str = "vigia-store.toml";

/// Why the store failed; each names the store folder or the record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("store {}: {source}", .dir.display())]
    Sled {
        /// The store folder.
        dir: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// Another process (or this one) holds the store's lock.
    #[error("store {} is in use by another process (only one collector may open it): {reason}", .dir.display())]
    Locked {
        /// The store folder.
        dir: PathBuf,
        /// sled's message.
        reason: String,
    },
    /// The store was written with another layout.
    #[error("store {} has layout version {found}, this collector reads version {expected}", .dir.display())]
    Version {
        /// The store folder.
        dir: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The version this collector reads.
        expected: u32,
    },
    /// A record cannot be decoded.
    #[error("store {}: corrupt record in tree {tree}: {reason}", .dir.display())]
    Corrupt {
        /// The store folder.
        dir: PathBuf,
        /// The tree.
        tree: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The writer thread is gone (the collector is shutting down).
    #[error("store writer stopped")]
    WriterStopped,
    /// The site was retired: its certificate may no longer report.
    #[error("site: {site:?} was retired{}; its probe may no longer report (ExpectSite brings it back)", .at.map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default())]
    Retired {
        /// The site.
        site: String,
        /// When it was retired.
        at: Option<DateTime<Utc>>,
    },
    /// A flush failed (the disk refused the write).
    #[error("store flush failed: {source}")]
    Flush {
        /// Why the write is not durable.
        source: NotDurable,
    },
    /// The store's files are damaged or lost data: refused rather than served (or replaced by
    /// an empty store). The message says what to do.
    #[error("store {} is damaged: {reason}.\nThe collector will not run on it (that would hide or replace the data). What to do:\n  - stop here and restore {} from a backup (docs/deployment.md, \"Backup and restore of data_dir\"), or\n  - see what can be read: vigia-collector store check --config FILE\n  - copy what can be read into a new store: vigia-collector store salvage --config FILE --to NEWDIR, then set data_dir = NEWDIR\n  - to start with an empty store on purpose, move {} away (or remove its {})", .dir.display(), .dir.display(), .dir.display(), MARKER_FILE)]
    Damaged {
        /// The store folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A storage fault (a full disk): writes are refused until the store writes again.
    #[error("store {} cannot write now ({reason}); not stored, send it again later", .dir.display())]
    Unwritable {
        /// The store folder.
        dir: PathBuf,
        /// The fault.
        reason: String,
    },
    /// The store is being reopened after a storage fault: nothing can be read for the moment.
    #[error("store {} is unavailable for the moment ({reason}); try again shortly", .dir.display())]
    Unavailable {
        /// The store folder.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Why a write was not made durable (and so is not acknowledged), told by type so callers
/// choose a gRPC code or a metric label without reading the text. One flush answers a whole
/// batch, so the store's error is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotDurable {
    /// The store refused the write or its flush (a full disk, an I/O error), or is stopped.
    #[error(transparent)]
    Store(std::sync::Arc<StoreError>),
    /// The store was reopened after a storage fault before this write's flush: the write was
    /// made on the old handle, so the new one's flush does not cover it.
    #[error(
        "the store was reopened after a storage fault before this write was durable; send it again"
    )]
    Reopened,
}

impl StoreError {
    /// Why sled's folder `dir` did not open (`vigia::sled_open`): in use, or sled's own error.
    pub(crate) fn opening(
        dir: &std::path::Path,
        e: vigia::sled_open::OpenError<sled::Error>,
    ) -> StoreError {
        match e {
            vigia::sled_open::OpenError::Locked(e) => StoreError::Locked {
                dir: dir.to_path_buf(),
                reason: e.to_string(),
            },
            vigia::sled_open::OpenError::Failed(source) => StoreError::Sled {
                dir: dir.to_path_buf(),
                source,
            },
        }
    }
}

impl From<StoreError> for NotDurable {
    fn from(e: StoreError) -> NotDurable {
        NotDurable::Store(std::sync::Arc::new(e))
    }
}
