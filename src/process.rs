//! What each of the three binaries does the same way at the process level, so an operator meets
//! one behaviour everywhere: logs to stderr filtered by `VIGIA_LOG` (then `RUST_LOG`), and a
//! graceful stop on Ctrl-C or SIGTERM, with a second signal exiting at once; errors written
//! with all their causes; one way to build the async runtime.

/// The tokio runtime a program runs on: multi-threaded, timers and I/O enabled, with
/// `workers` threads (`None`: one per core). Built in one place so the three programs start
/// the same way and a setting added here (a thread name, a stack size) reaches all of them.
pub fn runtime(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n.max(1));
    }
    builder.enable_all().build()
}

/// An error and all its causes on one line (a cause already quoted by the one above it is not
/// repeated), so a log line or a message carries the root cause: a relay's reply, a TLS alert.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = inner.source();
    }
    out
}

/// Sets up logging to stderr, filtered by `VIGIA_LOG`, falling back to `RUST_LOG`, then `info`;
/// a filter that does not parse is said once and replaced by `info`.
pub fn init_logging() {
    // Err means a subscriber is already set (tests, embedding): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(stderr_colour())
        .try_init();
}

/// Logging to stderr and to `path`, rotated by size (10 MB, five old files kept): for a
/// Windows service, whose stderr goes nowhere. The file never gets colour codes.
pub fn init_logging_to_file(path: &std::path::Path) -> std::io::Result<()> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let file = crate::log_file::RotatingFile::open(
        path,
        crate::log_file::DEFAULT_MAX_BYTES,
        crate::log_file::DEFAULT_KEEP,
    )?;
    // Only once there is a file: without one, `say_error` would print to stderr twice.
    crate::say::LOGS_TO_FILE.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = tracing_subscriber::registry()
        .with(log_filter())
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(stderr_colour()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(crate::log_file::SharedLog::new(file))
                .with_ansi(false),
        )
        .try_init();
    Ok(())
}

/// An error that ends the program (kept under this name: every program's `main` says it so).
pub use crate::say::say_error;

fn log_filter() -> tracing_subscriber::EnvFilter {
    let wanted = std::env::var("VIGIA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    tracing_subscriber::EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("warning: log filter {wanted:?} not understood ({e}); using \"info\"");
        tracing_subscriber::EnvFilter::new("info")
    })
}

fn stderr_colour() -> bool {
    colour_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR"),
    )
}

/// Colour codes only on a terminal: a log file (NSSM's, a redirect) or the journal would keep
/// them as `^[[2m` on every line. `NO_COLOR` set to anything non-empty turns them off anywhere
/// (no-color.org).
fn colour_wanted(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Resolves on the first Ctrl-C (or SIGTERM on Unix, which is how systemd and NSSM stop a
/// service); a second signal while draining exits at once with status 130.
pub async fn shutdown_signal() {
    wait_signal().await;
    crate::service_manager::stopping();
    tokio::spawn(async {
        wait_signal().await;
        eprintln!("second signal: exiting without waiting");
        crate::exit_codes::ExitCode::Interrupted.exit();
    });
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour_wanted(true, None));
        assert!(!colour_wanted(false, None));
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(
            colour_wanted(true, Some("".into())),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour_wanted(false, Some("1".into())));
    }
}
