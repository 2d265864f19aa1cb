//! The Vigia collector: the one place that knows the whole fleet. It owns the fleet CA, accepts
//! probe statuses over mutual-TLS gRPC, stores them in sled and answers readers' queries with
//! the verdicts of the root crate's rules.
//!
//! Embedding (tests, the end-to-end test): build a [`CollectorConfig`] (or load one with
//! [`CollectorConfig::load`]), bind a listener, and call [`serve`]; or, with the `testkit`
//! cargo feature (tests only: the release binary is built without it), use
//! `testkit::TestCollector`, which does that with a minted test fleet.
//!
//! # Layer order
//!
//! A module imports (`use crate::…`) only modules of the layers below its own, so each layer
//! can be read and tested with what is under it; `scripts/check-module-cycles collector`
//! keeps it so. Bottom to top:
//!
//! 1. `clock`, `shutdown`, `metrics`, `prefetch`, `beat`, `log_throttle`, `fd_limit`, `ca` —
//!    leaves that import nothing of the crate: the time source, the stop flag every task waits
//!    on, the counters everyone bumps, ListSites pages built ahead, the heartbeat encoding, log
//!    rate limiting, the descriptor limit, the CA's keys and minting.
//! 2. `store_error`, then `marker`; `block`, then `history_scan` — why the store failed (every
//!    store module answers with it), and the marker file beside sled's files, the collector's
//!    evidence of how many sites it held; history blocks (many heartbeats in one record, on
//!    `beat`) and the reading through them that every history reader uses.
//! 3. `store`; `revocation` — the sled store itself (trees, layout, reads, one status's
//!    write); the CA's record and CRL, signed with `ca::Ca`.
//! 4. `store_guard`, then `store_cell`, then `writer` — the checks at open (the marker against
//!    the store), the live cell holding the open store through storage faults, and the writer
//!    that writes through the cell and acknowledges after group-commit flushes.
//! 5. `config`, `inventory`, `acks`, `timeline`, `salvage`, `issuing`, `fold` — built on the
//!    store or the CA: the configuration (checked against the store's layout, `store::REBASE`),
//!    a site's remembered recorders and cameras, acknowledgements, the stored timeline, store
//!    rescue; issuing a certificate with its record; folding past hours into blocks.
//! 6. `report`, `rate_limit`, `tls_reload` — read through the configuration: reports'
//!    intervals and verdicts over the store, ingest limits, the TLS material and its reload.
//! 7. `accept`, `check`, `thin` — on TLS and reports: the listener that admits connections,
//!    `check-config`'s checks, history thinning (which keeps what reports need).
//! 8. `service`, `exposition` — the gRPC Ingest/Query services and the `/metrics` page.
//! 9. `admin` — the Admin service, which retires and annotates sites through the services'
//!    shared state.
//! 10. `server`, then `testkit` — the server starts every task above; the testkit embeds it
//!     (through this crate's root) for tests.

pub mod accept;
pub mod acks;
mod admin;
pub mod archive;
pub mod beat;
pub mod block;
pub mod ca;
pub mod check;
pub mod clock;
pub mod config;
pub mod exposition;
pub mod fd_limit;
pub mod fold;
mod history_scan;
pub mod inventory;
pub mod issuing;
pub mod log_throttle;
pub mod marker;
pub mod metrics;
mod prefetch;
pub mod rate_limit;
pub mod report;
pub mod revocation;
pub mod salvage;
pub mod server;
mod service;
mod shutdown;
pub mod store;
pub mod store_cell;
pub mod store_error;
pub mod store_guard;
/// Test fleets and embedded collectors for the tests of every crate; behind a feature so that
/// no test helper ships in the release binary.
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod thin;
mod thin_ranges;
pub mod timeline;
pub mod tls_reload;
pub mod writer;

pub use clock::Clock;
pub use config::CollectorConfig;
pub use server::{serve, Collector, StartError};
