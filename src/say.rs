//! Saying the error that ends a program: on stderr for the person at the console, and into the
//! log file too once [`crate::process`] has opened one. Its own module below both
//! [`crate::exit_codes`] (which says why it exits) and [`crate::process`] (which opens the log
//! and ends the process on a second signal), so neither imports the other in both directions.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the log goes to a file: nobody reads a service's stderr.
pub(crate) static LOGS_TO_FILE: AtomicBool = AtomicBool::new(false);

/// An error that ends the program: on stderr for the person at the console, and into the log
/// file too when there is one (a service's stderr goes nowhere).
pub fn say_error(message: &str) {
    eprintln!("{message}");
    if LOGS_TO_FILE.load(Ordering::Relaxed) {
        tracing::error!("{message}");
    }
}
