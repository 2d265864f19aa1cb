//! The live store and its storage faults: one open sled `Db` shared by the writer, the queries,
//! `/metrics` and pruning, each taking it from here for one operation only, so that it can be
//! replaced while the collector runs.
//!
//! sled 0.34 keeps the first I/O error (a full disk) and fails every later write, forever; reads
//! keep working. So the first failed write marks the store *faulted*: writes are refused (never
//! acknowledged), health turns NOT_SERVING, `/metrics` says why, and queries go on answering
//! from the old handle. A recovery task checks every [`RECOVER_EVERY`] whether the disk takes
//! writes again; when it does it drops the old handle and reopens the store in-process. A
//! generation number, bumped at every reopen, makes sure no write made on the old handle is
//! acknowledged by a flush of the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

use crate::metrics::Counter;
use crate::store::{Store, StoreError};

/// How often a faulted store checks whether it can write again.
pub const RECOVER_EVERY: Duration = Duration::from_secs(2);
/// Bytes written (and removed) to check that the disk takes writes again: more than sled needs
/// for a new log segment.
const SPACE_PROBE_BYTES: usize = 2 << 20;
const SPACE_PROBE_FILE: &str = ".vigia-space-check";

/// Why the store cannot write now.
#[derive(Debug, Clone)]
pub struct Fault {
    /// A short label for `/metrics`: `disk_full`, `io_error`, `store_error`, `reopening`.
    pub reason: &'static str,
    /// The error, as sled or the operating system gave it.
    pub message: String,
    /// When the fault began.
    pub since: chrono::DateTime<chrono::Utc>,
}

struct Slot {
    store: Option<Store>,
    generation: u64,
    fault: Option<Fault>,
    closed: bool,
}

/// The open store, its generation and its fault, shared by everything that reads or writes.
pub struct StoreCell {
    dir: PathBuf,
    cache_bytes: u64,
    /// The store's `compress_new`, for a reopen.
    compress_new: bool,
    slot: RwLock<Slot>,
    writable: watch::Sender<bool>,
    /// Storage faults since start.
    pub faults: Counter,
    /// Successful in-process reopens since start.
    pub reopens: Counter,
}

fn label(e: &StoreError) -> &'static str {
    match e {
        // By kind, never by text: sled keeps the kind when it copies an I/O error (it drops
        // the OS code), and the full-disk test in tests/storage_faults.rs pins it.
        StoreError::Sled {
            source: sled::Error::Io(io),
            ..
        } if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) => {
            "disk_full"
        }
        StoreError::Sled {
            source: sled::Error::Io(_),
            ..
        } => "io_error",
        StoreError::Flush {
            source: crate::store::NotDurable::Store(inner),
        } => label(inner),
        _ => "store_error",
    }
}

/// Whether an error means the store handle can no longer be trusted to write.
pub(crate) fn is_fault(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sled { .. } | StoreError::Flush { .. } | StoreError::Damaged { .. }
    )
}

impl StoreCell {
    /// Wraps an open store.
    pub fn new(store: Store) -> Arc<StoreCell> {
        let (writable, _) = watch::channel(true);
        Arc::new(StoreCell {
            dir: store.dir().to_path_buf(),
            cache_bytes: store.cache_bytes(),
            compress_new: store.compress_new(),
            slot: RwLock::new(Slot {
                store: Some(store),
                generation: 1,
                fault: None,
                closed: false,
            }),
            writable,
            faults: Counter::default(),
            reopens: Counter::default(),
        })
    }

    fn lock(&self) -> std::sync::RwLockReadGuard<'_, Slot> {
        self.slot.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_mut(&self) -> std::sync::RwLockWriteGuard<'_, Slot> {
        self.slot.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store for reading: also while writes are refused; not while it is being reopened or
    /// after shutdown.
    pub fn read(&self) -> Result<Store, StoreError> {
        let slot = self.lock();
        if slot.closed {
            return Err(StoreError::WriterStopped);
        }
        slot.store.clone().ok_or_else(|| StoreError::Unavailable {
            dir: self.dir.clone(),
            reason: slot
                .fault
                .as_ref()
                .map_or_else(|| "being reopened".to_string(), |f| f.message.clone()),
        })
    }

    /// The store and its generation for a write; refused while the store is faulted.
    pub(crate) fn for_write(&self) -> Result<(Store, u64), StoreError> {
        let slot = self.lock();
        if slot.closed {
            return Err(StoreError::WriterStopped);
        }
        if let Some(f) = &slot.fault {
            return Err(StoreError::Unwritable {
                dir: self.dir.clone(),
                reason: format!(
                    "{} since {}: {}",
                    f.reason,
                    f.since.format("%H:%M:%S UTC"),
                    f.message
                ),
            });
        }
        match &slot.store {
            Some(s) => Ok((s.clone(), slot.generation)),
            None => Err(StoreError::Unavailable {
                dir: self.dir.clone(),
                reason: "being reopened".into(),
            }),
        }
    }

    /// The store and generation the flusher flushes (also after `close`, until `release`).
    pub(crate) fn current(&self) -> Option<(Store, u64)> {
        let slot = self.lock();
        slot.store.clone().map(|s| (s, slot.generation))
    }

    /// The current fault, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.lock().fault.clone()
    }

    /// Whether writes are accepted now.
    pub fn is_writable(&self) -> bool {
        let slot = self.lock();
        slot.fault.is_none() && slot.store.is_some() && !slot.closed
    }

    /// Follows [`StoreCell::is_writable`] (for the health reporter).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }

    /// Records that a write on generation `generation` failed with `e`: the store is faulted
    /// until it can be reopened. Errors of an older generation (already replaced) are ignored.
    pub(crate) fn failed(&self, generation: u64, e: &StoreError) {
        if !is_fault(e) {
            return;
        }
        let mut slot = self.lock_mut();
        if slot.generation != generation || slot.fault.is_some() || slot.closed {
            return;
        }
        let fault = Fault {
            reason: label(e),
            message: e.to_string(),
            since: chrono::Utc::now(),
        };
        tracing::error!(
            store = %self.dir.display(),
            reason = fault.reason,
            error = %fault.message,
            "the store cannot write: statuses are refused (not acknowledged; probes keep them) and health is NOT_SERVING until it can write again; queries answer from what is stored"
        );
        slot.fault = Some(fault);
        drop(slot);
        self.faults.inc();
        self.writable.send_replace(false);
    }

    /// Refuses reads and writes from now on (shutdown); the flusher still flushes.
    pub fn close(&self) {
        self.lock_mut().closed = true;
        self.writable.send_replace(false);
    }

    /// Drops the store handle (after the writer's last flush), releasing sled's lock.
    pub fn release(&self) {
        let old = {
            let mut slot = self.lock_mut();
            slot.closed = true;
            slot.store.take()
        };
        drop(old);
    }

    /// One recovery attempt of a faulted store (blocking): when the disk takes a test write,
    /// reopen the store and check that a write is durable. Returns whether it is writable now.
    pub fn try_recover(&self) -> bool {
        if self.lock().fault.is_none() {
            return true;
        }
        if let Err(e) = space_probe(&self.dir) {
            self.update_fault(|f| f.message = format!("the disk refuses writes: {e}"));
            return false;
        }
        // Every handle must go before sled lets the folder be opened again.
        let old = self.lock_mut().store.take();
        drop(old);
        let opened = Store::open_as(&self.dir, self.cache_bytes, self.compress_new).and_then(|s| {
            s.write_check()?;
            Ok(s)
        });
        let mut slot = self.lock_mut();
        match opened {
            Ok(store) if !slot.closed => {
                slot.store = Some(store);
                slot.generation += 1;
                let was = slot.fault.take();
                drop(slot);
                self.reopens.inc();
                self.writable.send_replace(true);
                tracing::info!(
                    store = %self.dir.display(),
                    fault_began = ?was.map(|f| f.since),
                    "the store writes again (reopened); health is SERVING"
                );
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(store = %self.dir.display(), error = %e, "reopening the store failed; retrying");
                if let Some(f) = slot.fault.as_mut() {
                    f.reason = if label(&e) == "disk_full" {
                        "disk_full"
                    } else {
                        "reopening"
                    };
                    f.message = format!("reopen failed: {e}");
                }
                false
            }
        }
    }

    fn update_fault(&self, change: impl FnOnce(&mut Fault)) {
        if let Some(f) = self.lock_mut().fault.as_mut() {
            change(f);
        }
    }

    /// Retries [`StoreCell::try_recover`] every [`RECOVER_EVERY`] while faulted, until `stop`.
    pub async fn recover_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RECOVER_EVERY) => {}
                _ = crate::shutdown::stopped(&mut stop) => return,
            }
            if self.fault().is_none() {
                continue;
            }
            let cell = self.clone();
            let _ = tokio::task::spawn_blocking(move || cell.try_recover()).await;
        }
    }
}

/// Writes, syncs and removes a file of [`SPACE_PROBE_BYTES`] in `dir`.
fn space_probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(SPACE_PROBE_FILE);
    let result = write_synced(&path, &vec![0u8; SPACE_PROBE_BYTES]);
    let _ = std::fs::remove_file(&path);
    result
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
