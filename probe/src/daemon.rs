//! The long-running probe: schedule, stream, spool (owned by the daemon work; see issue 5).

use crate::config::ProbeConfig;
use std::process::ExitCode;
use std::time::Duration;

/// `vigia-probe run`: scans on schedule and streams statuses until SIGTERM / Ctrl-C.
pub fn run_command(config: ProbeConfig) -> anyhow::Result<ExitCode> {
    let _ = config;
    anyhow::bail!("run is not implemented yet")
}

/// `vigia-probe send-once`: one scan, one delivery attempt bounded by `timeout`.
pub fn send_once_command(config: ProbeConfig, timeout: Duration) -> anyhow::Result<ExitCode> {
    let _ = (config, timeout);
    anyhow::bail!("send-once is not implemented yet")
}
