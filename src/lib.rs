//! Vigia's shared ground: the wire contract ([`pb`]) and what the probe, the collector and the
//! mailer must agree on without depending on each other — configuration conventions, TLS
//! material and peer identity, the verdict rules and calendar-day arithmetic.

pub mod config;
pub mod cron;
pub mod day_bitmap;
pub mod days;
pub mod exit_codes;
pub mod findings;
pub mod invalid;
pub mod log_file;
pub mod names;
pub mod paths;
pub mod pb;
pub mod process;
pub mod rules;
pub mod secret_file;
pub mod sled_open;
pub mod service_manager;
pub mod tls;
pub mod tls_check;
pub mod units;
pub mod validate;
pub mod wording;

pub use chrono_tz::Tz;
