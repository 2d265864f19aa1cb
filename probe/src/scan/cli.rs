//! The one-shot `scan` and `check-config` commands (owned by the scanner work; see issue 3).

use crate::config::ProbeConfig;
use std::path::Path;
use std::process::ExitCode;

/// `vigia-probe scan`: scans every recorder once and prints the statuses.
pub fn scan_command(
    config: &ProbeConfig,
    json: bool,
    cache: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let _ = (config, json, cache);
    anyhow::bail!("scan is not implemented yet")
}

/// `vigia-probe check-config`: prints what would be scanned.
pub fn check_config_command(config: &ProbeConfig) -> anyhow::Result<ExitCode> {
    println!(
        "configuration OK: site {}, {} recorder(s)",
        config.site,
        config.recorders.len()
    );
    Ok(ExitCode::SUCCESS)
}
