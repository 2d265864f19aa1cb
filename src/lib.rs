//! Vigia's shared ground: the wire contract ([`pb`]) and what the probe, the collector and the
//! mailer must agree on without depending on each other — configuration conventions, TLS
//! material and peer identity, the verdict rules and calendar-day arithmetic.
//!
//! # Layers
//!
//! Bottom to top; a module imports only from the lines above it (`scripts/check-module-cycles`
//! keeps it so):
//!
//! 1. `pb`, `config`, `cron`, `days`, `names`, `units`, `paths`, `secret_file`, `log_file`,
//!    `sled_open`, `service_manager`, `say`: leaves — the contract, conventions and OS plumbing
//!    each program uses; they import nothing of ours.
//! 2. `day_bitmap` (on `days`), `invalid` (on `config`), `tls` (on `names`, `secret_file`).
//! 3. `tls_check` (on `tls`); `exit_codes` (on `say`: it says why a program ends).
//! 4. `process` (logging, signals: on `exit_codes`, `log_file`, `say`, `service_manager`);
//!    `findings` (on `exit_codes`, `tls_check`).
//! 5. `wording`, `validate`: words and checks over `pb`, `days`, `day_bitmap`, `names`, `units`.
//! 6. `rules`: the verdicts, on everything of the calendar and `wording`.
//! 7. `status_builder` (tests only, `testkit` feature): a healthy status, on `pb` and the calendar.

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
pub mod say;
pub mod secret_file;
pub mod service_manager;
pub mod sled_open;
#[cfg(any(test, feature = "testkit"))]
pub mod status_builder;
pub mod tls;
pub mod tls_check;
pub mod units;
pub mod validate;
pub mod wording;

pub use chrono_tz::Tz;
