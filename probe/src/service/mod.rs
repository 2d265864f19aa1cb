//! `vigia-probe service …`: the probe as a native Windows service, registered with the Service
//! Control Manager so a site PC runs it from boot, restarts it after a crash, and stops it with
//! the same drain as Ctrl-C. What the service is (name, arguments, recovery, the status each
//! phase reports) is decided in [`spec`], plain data tested on any platform; the Windows module
//! only hands it to the SCM.

pub mod spec;

#[cfg(not(windows))]
mod unsupported;
#[cfg(windows)]
mod windows;

#[cfg(not(windows))]
use unsupported as imp;
#[cfg(windows)]
use windows as imp;

use std::path::Path;
use std::process::ExitCode;

/// Registers the service (automatic, delayed start; restart on failure) to run with `config`.
pub fn install(config: &Path, account: Option<&str>, password: Option<&str>) -> anyhow::Result<()> {
    let spec = spec::ServiceSpec::for_config(config, account)?;
    imp::install(&spec, password)
}

/// Stops the service if it runs, then removes it.
pub fn uninstall() -> anyhow::Result<()> {
    imp::uninstall()
}

/// Asks the SCM to start the installed service.
pub fn start() -> anyhow::Result<()> {
    imp::start()
}

/// Asks the SCM to stop the service (the probe drains as on Ctrl-C).
pub fn stop() -> anyhow::Result<()> {
    imp::stop()
}

/// Prints the service's state as the SCM reports it.
pub fn status() -> anyhow::Result<String> {
    imp::status()
}

/// Entered by the SCM (the arguments `install` stored): runs the daemon until a stop.
pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    imp::run(config)
}
