//! The Vigia collector: the one place that knows the whole fleet. It owns the fleet CA, accepts
//! probe statuses over mutual-TLS gRPC, stores them in sled and answers readers' queries with
//! the verdicts of the root crate's rules.
//!
//! Embedding (tests, the end-to-end test): build a [`CollectorConfig`] (or load one with
//! [`CollectorConfig::load`]), bind a listener, and call [`serve`]; or use
//! [`testkit::TestCollector`], which does that with a minted test fleet.

pub mod accept;
pub mod acks;
mod admin;
pub mod beat;
pub mod ca;
pub mod check;
pub mod clock;
pub mod config;
pub mod exposition;
pub mod fd_limit;
pub mod inventory;
pub mod issuing;
pub mod log_throttle;
pub mod metrics;
pub mod rate_limit;
pub mod report;
pub mod revocation;
pub mod salvage;
pub mod server;
mod service;
mod shutdown;
pub mod store;
pub mod store_cell;
pub mod store_guard;
pub mod testkit;
pub mod thin;
pub mod timeline;
pub mod tls_reload;

pub use clock::Clock;
pub use config::CollectorConfig;
pub use server::{serve, Collector, StartError};
