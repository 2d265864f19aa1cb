//! The probe's configuration (`probe.toml`): which site this machine is, which recorder folders
//! to walk, and how to reach the collector. Loaded with the shared conventions of
//! `vigia::config` (unknown keys refused, `VIGIA_*` overrides, errors naming key and file).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigia::config::{ConfigError, ConfigSource};
use vigia::invalid::Invalid;
use vigia::units::duration;

pub use crate::recorder_config::RecorderConfig;

/// The whole `probe.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The site this machine belongs to; must match the probe certificate.
    pub site: String,
    /// IANA zone in which recording days are counted; default the system's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The recorders to scan (`[[recorder]]` tables).
    #[serde(default, rename = "recorder")]
    pub recorders: Vec<RecorderConfig>,
    /// Scanner settings shared by all recorders.
    #[serde(default)]
    pub scan: crate::recorder_config::ScanSettings,
    /// How to reach the collector; needed by `run` and `send-once`, not by `scan`.
    #[serde(default)]
    pub collector: Option<CollectorSection>,
    /// When to scan.
    #[serde(default)]
    pub schedule: ScheduleSection,
    /// Where unacknowledged statuses wait.
    #[serde(default)]
    pub spool: SpoolSection,
}

/// `[collector]`: the collector's address and this probe's mTLS material.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    /// `https://HOST:PORT` of the collector.
    pub url: String,
    /// The fleet CA certificate.
    #[serde(default = "default_ca")]
    pub ca: PathBuf,
    /// This probe's certificate (issued for this site).
    pub cert: PathBuf,
    /// This probe's private key.
    pub key: PathBuf,
    /// Name to verify the collector's certificate against, when `url` uses an IP address
    /// the certificate does not list.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Longest wait between reconnection attempts: also how long after the collector returns
    /// the probe may take to reconnect, however long the outage was (default 10 s).
    #[serde(default = "default_backoff_max", with = "duration")]
    pub backoff_max: Duration,
    /// Time allowed to establish a connection.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// The collector's `max_message_bytes`: a bigger status would be refused, so it is dropped
    /// before spooling (default the collector's default).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

fn default_ca() -> PathBuf {
    PathBuf::from("certs/ca.pem")
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_message_bytes() -> usize {
    vigia::validate::DEFAULT_MAX_MESSAGE_BYTES
}
/// Smallest `collector.max_message_bytes` accepted (the collector's own lower bound).
const MIN_MESSAGE_BYTES: usize = 16 * 1024;

/// `[schedule]`: a fixed interval or a six-field cron expression (seconds first). Each status
/// announces the gap to the next one as its report interval, so with `send-once` run by the
/// operating system's task scheduler, set `every` to the task's period.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Scan every this long (default 5m) unless `cron` is set.
    #[serde(default, with = "duration::option")]
    pub every: Option<Duration>,
    /// Six-field cron expression in the probe's time zone, e.g. `"0 */5 * * * *"`.
    #[serde(default)]
    pub cron: Option<String>,
}

/// Default scan interval.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);

/// `[spool]`: the on-disk queue of statuses not yet acknowledged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// Folder of the spool (created if missing).
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Most statuses kept; past that the oldest are dropped and counted.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

impl Default for SpoolSection {
    fn default() -> Self {
        SpoolSection {
            dir: default_spool_dir(),
            max_entries: default_max_entries(),
        }
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("vigia-spool")
}
fn default_max_entries() -> usize {
    10_000
}

impl ProbeConfig {
    /// Loads `path` (required) with the process's `VIGIA_*` overrides, then checks it.
    pub fn load(path: &Path) -> Result<ProbeConfig, ConfigError> {
        Self::load_from(&ConfigSource::file(path))
    }

    /// Loads from an explicit source (tests pass their own environment).
    pub fn load_from(source: &ConfigSource) -> Result<ProbeConfig, ConfigError> {
        let mut cfg: ProbeConfig = source.load()?;
        cfg.validate(&source.file)?;
        cfg.resolve_paths(&source.file);
        Ok(cfg)
    }

    /// Cross-field checks the deserializer cannot make; errors name the key and the file.
    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.in_file(file))
    }

    /// The checks of [`ProbeConfig::validate`], each refusal naming its key.
    pub fn check(&self) -> Result<(), Invalid> {
        vigia::names::validate_name("site", &self.site)
            .map_err(|e| Invalid::new("site", e.to_string()))?;
        if let Some(tz) = &self.timezone {
            vigia::days::parse_tz(tz).map_err(|e| Invalid::new("timezone", e.to_string()))?;
        }
        crate::recorder_config::validate_recorders(&self.recorders)?;
        self.scan.validate()?;
        if self.schedule.every.is_some() && self.schedule.cron.is_some() {
            return Err(Invalid::new(
                "schedule.every and schedule.cron",
                "both set; choose one",
            ));
        }
        if self.schedule.every.is_some_and(|d| d.is_zero()) {
            return Err(Invalid::new("schedule.every", "must be longer than zero"));
        }
        if let Some(expr) = &self.schedule.cron {
            vigia::cron::CronSchedule::parse(expr)
                .map_err(|e| Invalid::new("schedule.cron", e.to_string()))?;
        }
        if let Some(c) = &self.collector {
            if !c.url.trim().starts_with("https://") {
                return Err(Invalid::new(
                    "collector.url",
                    format!(
                        "{:?} must start with https:// (the collector speaks only TLS)",
                        c.url
                    ),
                ));
            }
            if c.backoff_max.is_zero() {
                return Err(Invalid::new(
                    "collector.backoff_max",
                    "must be longer than zero",
                ));
            }
            if c.connect_timeout.is_zero() {
                return Err(Invalid::new(
                    "collector.connect_timeout",
                    "must be longer than zero",
                ));
            }
            if c.max_message_bytes < MIN_MESSAGE_BYTES {
                return Err(Invalid::new(
                    "collector.max_message_bytes",
                    format!(
                        "{} is too small; at least {MIN_MESSAGE_BYTES}, like the collector's",
                        c.max_message_bytes
                    ),
                ));
            }
        }
        if self.spool.max_entries == 0 {
            return Err(Invalid::new("spool.max_entries", "must be at least 1"));
        }
        Ok(())
    }

    /// Relative paths in the file are relative to the file's folder (`vigia::paths`), so a
    /// service started from another working directory (Windows services start in System32)
    /// finds them.
    fn resolve_paths(&mut self, file: &Path) {
        let dir = vigia::paths::ConfigDir::of(file);
        if let Some(c) = &mut self.collector {
            dir.resolve(&mut c.ca);
            dir.resolve(&mut c.cert);
            dir.resolve(&mut c.key);
        }
        for r in &mut self.recorders {
            dir.resolve(&mut r.path);
        }
        dir.resolve(&mut self.spool.dir);
        dir.resolve_opt(&mut self.scan.cache);
    }

    /// The zone days are counted in.
    pub fn tz(&self) -> vigia::Tz {
        self.timezone
            .as_deref()
            .and_then(|z| vigia::days::parse_tz(z).ok())
            .unwrap_or_else(vigia::days::system_tz)
    }
}
