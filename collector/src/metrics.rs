//! The collector's counters: plain atomics bumped where things happen (the writer, the gRPC
//! handlers, the TLS accept loop), read by `/metrics` ([`crate::exposition`]). This module
//! imports nothing of the crate, so any layer may count.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The collector's counters, shared by the writer and the gRPC handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Statuses stored.
    pub ingested: Counter,
    /// Re-sent statuses acknowledged again without storing.
    pub duplicates: Counter,
    /// Statuses refused with INVALID_ARGUMENT.
    pub rejected_invalid: Counter,
    /// Calls refused with PERMISSION_DENIED.
    pub rejected_permission: Counter,
    /// Statuses refused with RESOURCE_EXHAUSTED: over the site's rate, or a frame over the size limit.
    pub rejected_exhausted: Counter,
    /// Store flushes (one per group commit).
    pub flushes: Counter,
    /// Ingest streams currently open.
    pub open_streams: AtomicU64,
    /// TLS connections open now (handshake done, until closed).
    pub connections_open: AtomicU64,
    /// Refused TLS handshakes by reason (`crate::accept::REFUSAL_REASONS`).
    pub handshakes_refused: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one refused TLS handshake.
    pub fn handshake_refused(&self, reason: &'static str) {
        let mut m = match self.handshakes_refused.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        *m.entry(reason).or_default() += 1;
    }
}
