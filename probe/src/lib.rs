//! The Vigia site probe: walks the recording folders of one site's recorders and reports their
//! health to the collector over mutual-TLS gRPC, spooling to disk while the collector is away.

pub mod backoff;
pub mod client;
pub mod config;
pub mod daemon;
pub mod scan;
pub mod schedule;
pub mod spool;

/// Sets up logging to stderr, filtered by `VIGIA_LOG` (falling back to `RUST_LOG`, then `info`).
pub fn init_logging() {
    let filter = std::env::var("VIGIA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
