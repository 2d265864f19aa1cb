//! The probe's Windows service as data: what `install` registers and what status each phase
//! of its life reports. Kept free of Windows types so it is tested everywhere.

use anyhow::Context as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The service's key name (`sc query VigiaProbe`).
pub const SERVICE_NAME: &str = "VigiaProbe";
/// What the Services console shows.
pub const DISPLAY_NAME: &str = "Vigia probe (CCTV recording audit)";
/// The Services console's description column.
pub const DESCRIPTION: &str = "Scans this site's recording folders and reports them to the Vigia collector. Logs: vigia-probe.log beside probe.toml.";
/// The log file written beside the configuration while running as a service.
pub const LOG_FILE: &str = "vigia-probe.log";

/// What `service install` registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// This executable, absolute.
    pub executable: PathBuf,
    /// The arguments the SCM passes at every start: the absolute configuration, then `service run`.
    pub arguments: Vec<OsString>,
    /// `None` for LocalSystem (reads any recording folder), or `DOMAIN\user` / `.\user`.
    pub account: Option<String>,
    /// Recovery: restart after these delays on the first, second and later failures.
    pub restart_after: Vec<Duration>,
    /// The failure count goes back to zero after a day without failures.
    pub reset_failures_after: Duration,
}

impl ServiceSpec {
    /// The service for this executable and `config` (made absolute: a service starts in
    /// `C:\Windows\System32`, where a relative path means nothing).
    pub fn for_config(config: &Path, account: Option<&str>) -> anyhow::Result<ServiceSpec> {
        let executable = std::env::current_exe().context("cannot find this program's own path")?;
        Self::with(executable, config, account)
    }

    fn with(
        executable: PathBuf,
        config: &Path,
        account: Option<&str>,
    ) -> anyhow::Result<ServiceSpec> {
        let config = std::fs::canonicalize(config).with_context(|| {
            format!(
                "{}: the configuration must exist before installing the service",
                config.display()
            )
        })?;
        let config = strip_verbatim(config);
        Ok(ServiceSpec {
            executable: strip_verbatim(executable),
            arguments: vec![
                "--config".into(),
                config.into_os_string(),
                "service".into(),
                "run".into(),
            ],
            account: account.map(str::to_string),
            restart_after: vec![
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            reset_failures_after: Duration::from_secs(86_400),
        })
    }
}

/// `\\?\C:\x` (what canonicalize gives on Windows) as `C:\x`, which the SCM and people read.
fn strip_verbatim(p: PathBuf) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_prefix(r"\\?\")) {
        Some(rest) if !rest.starts_with("UNC\\") => PathBuf::from(rest),
        _ => p,
    }
}

/// Where the service logs: beside its configuration.
pub fn log_path(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .join(LOG_FILE)
}

/// A phase of the service's life, as the SCM must hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loading the configuration and certificates.
    Starting,
    /// Scanning and sending; stop and shutdown are accepted.
    Running,
    /// Draining acknowledgements after a stop.
    Stopping,
    /// Ended, with the program's exit status (0 ok, 1 error, 2 configuration).
    Stopped(u8),
}

/// The state reported for a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Which SCM state.
    pub phase: Phase,
    /// Whether stop and shutdown controls are accepted now.
    pub accepts_stop: bool,
    /// How long the SCM should wait before deciding the service hangs.
    pub wait_hint: Duration,
    /// A service-specific exit code (0 when none).
    pub exit_code: u32,
}

/// How long a stop may take: the probe's drain (acks in flight, final spool write), with room.
pub const STOP_WAIT: Duration = Duration::from_secs(30);

/// What to report in `phase`.
pub fn report(phase: Phase) -> Report {
    match phase {
        Phase::Starting => Report {
            phase,
            accepts_stop: false,
            wait_hint: Duration::from_secs(30),
            exit_code: 0,
        },
        Phase::Running => Report {
            phase,
            accepts_stop: true,
            wait_hint: Duration::ZERO,
            exit_code: 0,
        },
        Phase::Stopping => Report {
            phase,
            accepts_stop: false,
            wait_hint: STOP_WAIT,
            exit_code: 0,
        },
        Phase::Stopped(code) => Report {
            phase,
            accepts_stop: false,
            wait_hint: Duration::ZERO,
            exit_code: u32::from(code),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_this_program_with_the_absolute_config_then_service_run() {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("probe.toml");
        std::fs::write(&config, "").expect("write");
        let exe = dir.path().join("vigia-probe.exe");
        let spec = ServiceSpec::with(exe.clone(), &config, None).expect("spec");
        let absolute = std::fs::canonicalize(&config).expect("canonical");
        assert_eq!(
            spec.arguments,
            vec![
                OsString::from("--config"),
                absolute.into_os_string(),
                "service".into(),
                "run".into()
            ]
        );
        assert_eq!(spec.executable, exe);
        assert_eq!(spec.account, None, "LocalSystem by default");
        assert_eq!(spec.restart_after.len(), 3, "restart on every failure");
    }

    #[test]
    fn installing_without_a_configuration_says_which_file() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("nope.toml");
        let e = ServiceSpec::with(dir.path().join("p.exe"), &missing, None).expect_err("missing");
        assert!(format!("{e:#}").contains("nope.toml"), "{e:#}");
    }

    #[test]
    fn verbatim_prefixes_are_dropped_but_unc_paths_kept() {
        assert_eq!(
            strip_verbatim(PathBuf::from(r"\\?\C:\Vigia\probe.toml")),
            PathBuf::from(r"C:\Vigia\probe.toml")
        );
        assert_eq!(
            strip_verbatim(PathBuf::from(r"\\?\UNC\srv\share")),
            PathBuf::from(r"\\?\UNC\srv\share")
        );
        assert_eq!(
            strip_verbatim(PathBuf::from("/etc/vigia")),
            PathBuf::from("/etc/vigia")
        );
    }

    #[test]
    fn the_log_goes_beside_the_configuration() {
        assert_eq!(
            log_path(Path::new("/x/probe.toml")),
            PathBuf::from("/x/vigia-probe.log")
        );
        assert_eq!(
            log_path(Path::new("probe.toml")),
            PathBuf::from("./vigia-probe.log")
        );
    }

    #[test]
    fn stop_is_accepted_only_while_running_and_the_exit_code_is_kept() {
        assert!(!report(Phase::Starting).accepts_stop);
        assert!(report(Phase::Running).accepts_stop);
        assert!(!report(Phase::Stopping).accepts_stop);
        assert!(report(Phase::Stopping).wait_hint >= Duration::from_secs(20));
        assert_eq!(report(Phase::Stopped(2)).exit_code, 2);
    }
}
