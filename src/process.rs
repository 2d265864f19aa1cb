//! What each of the three binaries does the same way at the process level, so an operator meets
//! one behaviour everywhere: logs to stderr filtered by `VIGIA_LOG` (then `RUST_LOG`), and a
//! graceful stop on Ctrl-C or SIGTERM, with a second signal exiting at once; errors written
//! with all their causes.

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
    let wanted = std::env::var("VIGIA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("warning: log filter {wanted:?} not understood ({e}); using \"info\"");
        tracing_subscriber::EnvFilter::new("info")
    });
    // Err means a subscriber is already set (tests, embedding): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on the first Ctrl-C (or SIGTERM on Unix, which is how systemd and NSSM stop a
/// service); a second signal while draining exits at once with status 130.
pub async fn shutdown_signal() {
    wait_signal().await;
    tokio::spawn(async {
        wait_signal().await;
        eprintln!("second signal: exiting without waiting");
        std::process::exit(130);
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
