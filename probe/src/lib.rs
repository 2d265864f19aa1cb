//! The Vigia site probe: walks the recording folders of one site's recorders and reports their
//! health to the collector over mutual-TLS gRPC, spooling to disk while the collector is away.
//!
//! # Layers
//!
//! Bottom to top; a module imports only from the lines above it (`scripts/check-module-cycles`
//! keeps it so):
//!
//! 1. `recorder_config`, `backoff`, `spool`: leaves — the `[[recorder]]` and `[scan]` tables,
//!    the retry delays, the on-disk spool; they import nothing of ours.
//! 2. `config`: the whole file, resolved; holds the recorder tables from the line above.
//! 3. `schedule`, `client`, `scan`: the cron of the scans, the gRPC client, the scanner — each
//!    built from `config`, none knowing the others.
//!    Inside `scan`: `agg`, `fs`, `rawdir` (figures, whole-file writes, raw Linux listing) →
//!    `hashes` (name-hash blocks) → `walk` (inside it: `layout`, `meta`, `model`, `gathered` →
//!    `list_linux`, `list_std` → `folder` → `pool`) → `cache` (persists what `walk` keeps) →
//!    `json`, `cli` and the `Scanner` itself.
//! 4. `check`: `check-config` (describes the scan, may connect through `client`).
//! 5. `daemon`: the long-running loop, on everything below.
//! 6. `cli`, `service`: the command line and the Windows service, on top.

pub mod backoff;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod recorder_config;
pub mod scan;
pub mod schedule;
pub mod service;
pub mod spool;

/// Logging as every Vigia binary sets it up (stderr, `VIGIA_LOG` then `RUST_LOG`).
pub use vigia::process::init_logging;
