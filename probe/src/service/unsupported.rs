//! Off Windows there is no Service Control Manager: systemd runs the probe instead.

use std::path::Path;
use std::process::ExitCode;

use super::spec::ServiceSpec;

const ONLY_WINDOWS: &str = "the service commands are for Windows; on Linux run the probe with the systemd unit deploy/systemd/vigia-probe.service";

pub fn install(_spec: &ServiceSpec, _password: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!(ONLY_WINDOWS)
}

pub fn uninstall() -> anyhow::Result<()> {
    anyhow::bail!(ONLY_WINDOWS)
}

pub fn start() -> anyhow::Result<()> {
    anyhow::bail!(ONLY_WINDOWS)
}

pub fn stop() -> anyhow::Result<()> {
    anyhow::bail!(ONLY_WINDOWS)
}

pub fn status() -> anyhow::Result<String> {
    anyhow::bail!(ONLY_WINDOWS)
}

pub fn run(_config: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!(ONLY_WINDOWS)
}
