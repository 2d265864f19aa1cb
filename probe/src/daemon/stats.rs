//! What the daemon counts about itself, for its logs and for tests that check it neither spins
//! nor loses count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::spool::Spool;

/// Counters the daemon keeps about itself (for logs and for tests that check it does not spin).
#[derive(Debug, Default)]
pub struct Stats {
    pub(super) connect_attempts: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) streams_opened: AtomicU64,
    pub(super) acknowledged: AtomicU64,
    pub(super) scans: AtomicU64,
    pub(super) invalid: AtomicU64,
    pub(super) spool_depth: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
}

impl Stats {
    /// Connection attempts so far (successful or not).
    pub fn connect_attempts(&self) -> u64 {
        self.connect_attempts.load(Ordering::Relaxed)
    }
    /// Connections that failed or ended in an error.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Report streams the collector accepted.
    pub fn streams_opened(&self) -> u64 {
        self.streams_opened.load(Ordering::Relaxed)
    }
    /// Statuses acknowledged and removed from the spool.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }
    /// Scans completed.
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
    /// Statuses not spooled because the collector would refuse them (counted as dropped).
    pub fn invalid(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
    }
    /// Statuses waiting in the spool, as of the latest scan or acknowledgement.
    pub fn spool_depth(&self) -> u64 {
        self.spool_depth.load(Ordering::Relaxed)
    }
    pub(super) fn set_depth(&self, spool: &Spool) {
        self.spool_depth
            .store(spool.len() as u64, Ordering::Relaxed);
    }
    /// The latest connection or stream failure, as logged.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub(super) fn set_error(&self, e: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}
