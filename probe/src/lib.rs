//! The Vigia site probe: walks the recording folders of one site's recorders and reports their
//! health to the collector over mutual-TLS gRPC, spooling to disk while the collector is away.

pub mod backoff;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod scan;
pub mod schedule;
pub mod service;
pub mod spool;

/// Logging as every Vigia binary sets it up (stderr, `VIGIA_LOG` then `RUST_LOG`).
pub use vigia::process::init_logging;
