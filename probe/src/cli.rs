//! The daemon's commands as `main` runs them: `run` (until a signal, or the Windows service's
//! stop) and `send-once` (for a task scheduler), each on its own runtime, with exit statuses
//! 0 (done), 1 (an error, or a status left in the spool) and 2 (the configuration).

use crate::config::ProbeConfig;
use crate::daemon::{scanner_source, shutdown_signal, Daemon};
use std::process::ExitCode;
use std::time::Duration;
use tracing::info;
use vigia::exit_codes::ExitCode as Exit;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    vigia::process::runtime(None).context("cannot start the async runtime")
}

fn start(config: &ProbeConfig) -> Result<Daemon, ExitCode> {
    Daemon::new(config).map_err(|e| {
        if e.is_configuration() {
            vigia::exit_codes::invalid_configuration(&e).into()
        } else {
            vigia::exit_codes::failed(&e).into()
        }
    })
}

/// `vigia-probe run`: scans on schedule and streams statuses until SIGTERM / Ctrl-C.
pub fn run_command(config: ProbeConfig) -> anyhow::Result<ExitCode> {
    run_until(config, shutdown_signal())
}

/// The daemon until `shutdown` resolves, then the same drain as on Ctrl-C: `run` passes the
/// process signals, the Windows service the SCM's stop.
pub fn run_until(
    config: ProbeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    on_runtime(&config, |daemon, source| async {
        let schedule = match (&config.schedule.cron, config.schedule.every) {
            (Some(cron), _) => format!("cron {cron:?} in {}", config.tz().name()),
            (None, every) => format!(
                "every {}",
                vigia::units::duration::format(&every.unwrap_or(crate::config::DEFAULT_EVERY))
            ),
        };
        let collector = config.collector.as_ref().map_or("", |c| c.url.as_str());
        info!(
            site = %config.site,
            recorders = config.recorders.len(),
            %schedule,
            collector,
            "probe running"
        );
        vigia::service_manager::ready();
        vigia::service_manager::spawn_watchdog();
        daemon.run(source, shutdown).await?;
        Ok(Exit::Success.into())
    })
}

/// `vigia-probe send-once`: one scan, one delivery attempt bounded by `timeout`.
pub fn send_once_command(config: ProbeConfig, timeout: Duration) -> anyhow::Result<ExitCode> {
    on_runtime(&config, |daemon, source| async move {
        let ok = daemon.send_once(source, timeout).await?;
        Ok(if ok {
            Exit::Success
        } else {
            Exit::GeneralError
        }
        .into())
    })
}

/// Starts the daemon on a fresh runtime and runs `body` with it and the real scanner; a
/// daemon that cannot start gives its exit status (2 for the configuration, 1 otherwise).
fn on_runtime<F, Fut>(config: &ProbeConfig, body: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Daemon, crate::scan::Scanner) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let rt = runtime()?;
    let result = rt.block_on(async {
        let daemon = match start(config) {
            Ok(d) => d,
            Err(code) => return Ok(code),
        };
        body(daemon, scanner_source(config)).await
    });
    // A walk still running on a blocking thread is abandoned: its statuses would only be spooled.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}
