//! `collector.toml`: every key has a default, so a first run with no file at all works, and
//! every check happens here, before a port is bound, so a typo never becomes a half-started
//! service.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vigia::config::{ConfigError, ConfigSource};
use vigia::invalid::Invalid;
use vigia::names::validate_name;
use vigia::rules::{RuleOverrides, Rules};
use vigia::units::{duration, ByteSize};

/// Smallest accepted `max_message_bytes`: a status with a few cameras must fit.
pub const MIN_MESSAGE_BYTES: usize = 16 * 1024;
/// Largest accepted `max_message_bytes`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The collector's configuration (`collector.toml`, then `VIGIA_*` environment overrides).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Address the gRPC server listens on (default `127.0.0.1:50051`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Folder of the sled store (default `./vigia-data`); only one collector may open it.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The fleet CA and the collector's own certificate.
    #[serde(default)]
    pub tls: TlsPaths,
    /// Verdict thresholds for every site.
    #[serde(default)]
    pub rules: Rules,
    /// Per-site exceptions to `[rules]`, keyed by site name.
    #[serde(default)]
    pub sites: BTreeMap<String, RuleOverrides>,
    /// Sites that must report; one that never did shows as NEVER_REPORTED.
    #[serde(default)]
    pub expected_sites: Vec<String>,
    /// How long past statuses are kept.
    #[serde(default)]
    pub history: HistoryConfig,
    /// The optional Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Largest status accepted, in bytes (default 1 MiB); bigger ones get INVALID_ARGUMENT.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Store tuning.
    #[serde(default)]
    pub store: StoreConfig,
    /// How fast one probe certificate may send statuses.
    #[serde(default)]
    pub ingest: IngestLimits,
    /// Connection limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// How long a shutdown waits for open streams to drain before closing them (default 10s).
    #[serde(default = "default_shutdown_grace", with = "duration")]
    pub shutdown_grace: Duration,
}

/// `[tls]`: relative paths are relative to the configuration file's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    /// The fleet CA certificate; clients must present a certificate it issued.
    #[serde(default = "default_ca")]
    pub ca: PathBuf,
    /// The collector's server certificate (`vigia-collector ca issue server`).
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// The server certificate's private key.
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// The fleet CA's revocation list (`vigia-collector ca revoke` writes it); default
    /// `crl.pem` beside `ca`. A missing file means nothing is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<PathBuf>,
    /// How often `ca`, `crl`, `cert` and `key` are re-read; a change applies to new
    /// connections without a restart (default 30s, at least 1s).
    #[serde(default = "default_reload_interval", with = "duration")]
    pub reload_interval: Duration,
}

impl TlsPaths {
    /// Where the CRL is read from: `[tls] crl`, or `crl.pem` in the folder of `[tls] ca`.
    pub fn crl_path(&self) -> PathBuf {
        match &self.crl {
            Some(p) => p.clone(),
            None => self
                .ca
                .parent()
                .map_or_else(|| PathBuf::from("crl.pem"), |d| d.join("crl.pem")),
        }
    }
}

/// `[limits]`: what one collector lets the network cost it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections open or handshaking at once; beyond it new ones wait in the kernel's backlog.
    /// Default: three quarters of the file descriptors the process may open (after raising
    /// its soft limit to the hard one), less a reserve for the store and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// A connection that has not completed its TLS handshake by then is closed (default 10s).
    #[serde(default = "default_handshake_timeout", with = "duration")]
    pub handshake_timeout: Duration,
}

/// `[history]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Statuses older than this are pruned (default 90 days).
    #[serde(default = "default_keep", with = "duration")]
    pub keep: Duration,
    /// Every status is kept this long (default 7 days); older history is thinned to one status
    /// per hour per recorder and every verdict transition (`crate::thin`).
    #[serde(default = "default_full_for", with = "duration")]
    pub full_for: Duration,
    /// Past this age (default 30 days) thinned history keeps one status per day per recorder
    /// and every verdict transition.
    #[serde(default = "default_hourly_for", with = "duration")]
    pub hourly_for: Duration,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve Prometheus text at `/metrics` (plain HTTP); off when unset.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// sled's page cache (three quarters for the store's own tree, a quarter for its archive,
    /// `crate::archive`). Unset: sized to the store found at start, one and a half times its
    /// size on disk, at least 64 MiB and at most 1 GiB (sled's own default, too much beside
    /// 10,000 streams on a small store) or a quarter of the machine's memory: a fleet listing
    /// that finds its pages in the cache does not read the store from disk again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_capacity: Option<ByteSize>,
    /// Whether a store created by this collector compresses its own pages with zstd (default
    /// false; the archive, where history goes after its first hour, always does: only the
    /// hourly pass writes it): less disk, peak ingest about half. An existing store keeps the
    /// setting it was created with.
    #[serde(default)]
    pub compression: bool,
}

/// `[ingest]`: a per-site token bucket, so one probe certificate (a stolen key, a runaway
/// script) cannot fill the collector's disk while the rest of the fleet reports normally.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestLimits {
    /// Sustained statuses per minute per site (default 120; a probe sends about one per
    /// recorder every scan interval).
    #[serde(default = "default_statuses_per_minute")]
    pub statuses_per_minute: u32,
    /// Statuses a site may send at once above the sustained rate (default 10,000: a probe's
    /// whole spool after an outage goes through without waiting).
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_statuses_per_minute() -> u32 {
    120
}
fn default_burst() -> u32 {
    10_000
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            statuses_per_minute: default_statuses_per_minute(),
            burst: default_burst(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("vigia-data")
}
fn default_ca() -> PathBuf {
    PathBuf::from("certs/ca.pem")
}
fn default_cert() -> PathBuf {
    PathBuf::from("certs/server.pem")
}
fn default_key() -> PathBuf {
    PathBuf::from("certs/server.key")
}
fn default_reload_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_keep() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn default_full_for() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_hourly_for() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_max_message_bytes() -> usize {
    vigia::validate::DEFAULT_MAX_MESSAGE_BYTES
}
/// The smallest cache an unset `cache_capacity` gives: it holds a store of about 10,000 sites.
const MIN_AUTO_CACHE: u64 = 64 << 20;
/// The largest: sled's own default.
const MAX_AUTO_CACHE: u64 = 1 << 30;
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}

impl Default for TlsPaths {
    fn default() -> Self {
        TlsPaths {
            ca: default_ca(),
            cert: default_cert(),
            key: default_key(),
            crl: None,
            reload_interval: default_reload_interval(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: None,
            handshake_timeout: default_handshake_timeout(),
        }
    }
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            keep: default_keep(),
            full_for: default_full_for(),
            hourly_for: default_hourly_for(),
        }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            tls: TlsPaths::default(),
            rules: Rules::default(),
            sites: BTreeMap::new(),
            expected_sites: Vec::new(),
            history: HistoryConfig::default(),
            metrics: MetricsConfig::default(),
            max_message_bytes: default_max_message_bytes(),
            store: StoreConfig::default(),
            ingest: IngestLimits::default(),
            limits: LimitsConfig::default(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

impl CollectorConfig {
    /// Loads and checks a configuration; `expected_sites` may be a comma list in the environment.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let mut source = source.clone();
        if source.list_keys.is_empty() {
            source.list_keys = vec!["expected_sites".to_string()];
        }
        let mut config: CollectorConfig = source.load()?;
        config.validate().map_err(|e| e.in_file(&source.file))?;
        config.resolve_paths(&vigia::paths::ConfigDir::of(&source.file));
        Ok(config)
    }

    /// Relative paths in the file are relative to its folder (`vigia::paths`), so the
    /// collector finds its store and certificates whatever folder it was started from.
    pub fn resolve_paths(&mut self, dir: &vigia::paths::ConfigDir) {
        dir.resolve(&mut self.data_dir);
        dir.resolve(&mut self.tls.ca);
        dir.resolve(&mut self.tls.cert);
        dir.resolve(&mut self.tls.key);
        dir.resolve_opt(&mut self.tls.crl);
    }

    /// The checks serde cannot express, each refusal naming its key.
    pub fn validate(&self) -> Result<(), Invalid> {
        for site in &self.expected_sites {
            validate_name("site", site)
                .map_err(|e| Invalid::new("expected_sites", e.to_string()))?;
        }
        for site in self.sites.keys() {
            validate_name("site", site)
                .map_err(|e| Invalid::new(format!("sites.{site}"), e.to_string()))?;
        }
        if self.history.keep < Duration::from_secs(3600) {
            return Err(Invalid::new(
                "history.keep",
                format!(
                    "{} is too short; keep at least \"1h\" of history",
                    duration::format(&self.history.keep)
                ),
            ));
        }
        if self.history.full_for < crate::store::REBASE {
            return Err(Invalid::new("history.full_for", format!(
                "{} is too short; expected at least \"1d\" (a heartbeat names a full status up to a day older, which must still be whole)",
                duration::format(&self.history.full_for)
            )));
        }
        if self.history.hourly_for < self.history.full_for {
            return Err(Invalid::new(
                "history.hourly_for",
                format!(
                    "{} is shorter than `history.full_for` ({}); expected at least as long",
                    duration::format(&self.history.hourly_for),
                    duration::format(&self.history.full_for)
                ),
            ));
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(Invalid::new(
                "max_message_bytes",
                format!(
                    "{} is out of range; expected {MIN_MESSAGE_BYTES} to {MAX_MESSAGE_BYTES}",
                    self.max_message_bytes
                ),
            ));
        }
        match self
            .store
            .cache_capacity
            .unwrap_or(ByteSize::Bytes(MIN_AUTO_CACHE))
        {
            ByteSize::Percent(_) => {
                return Err(Invalid::new(
                    "store.cache_capacity",
                    "expected a size such as \"64MiB\", not a percentage",
                ))
            }
            ByteSize::Bytes(b) if b < 1024 * 1024 => {
                return Err(Invalid::new(
                    "store.cache_capacity",
                    format!("{b} bytes is too small; expected at least \"1MiB\""),
                ))
            }
            ByteSize::Bytes(_) => {}
        }
        if self.ingest.statuses_per_minute == 0 {
            return Err(Invalid::new(
                "ingest.statuses_per_minute",
                "must be at least 1",
            ));
        }
        if self.ingest.burst == 0 {
            return Err(Invalid::new("ingest.burst", "must be at least 1"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(Invalid::new("data_dir", "empty path"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400))
            .contains(&self.tls.reload_interval)
        {
            return Err(Invalid::new(
                "tls.reload_interval",
                format!(
                    "{} is out of range; expected \"1s\" to \"24h\"",
                    duration::format(&self.tls.reload_interval)
                ),
            ));
        }
        if self
            .tls
            .crl
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(Invalid::new("tls.crl", "empty path"));
        }
        if self.limits.max_connections == Some(0) {
            return Err(Invalid::new(
                "limits.max_connections",
                "0 would refuse every connection; expected at least 1",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(300))
            .contains(&self.limits.handshake_timeout)
        {
            return Err(Invalid::new(
                "limits.handshake_timeout",
                format!(
                    "{} is out of range; expected \"1s\" to \"5m\"",
                    duration::format(&self.limits.handshake_timeout)
                ),
            ));
        }
        if self.shutdown_grace > Duration::from_secs(600) {
            return Err(Invalid::new("shutdown_grace", "at most \"10m\""));
        }
        Ok(())
    }

    /// The rules that apply to one site, after its `[sites.<id>]` overrides.
    pub fn rules_for(&self, site: &str) -> Rules {
        match self.sites.get(site) {
            Some(o) => self.rules.with_overrides(o),
            None => self.rules.clone(),
        }
    }

    /// sled's cache size in bytes: `cache_capacity`, or when unset sized to the store now in
    /// `data_dir` (see [`StoreConfig::cache_capacity`]).
    pub fn cache_bytes(&self) -> u64 {
        match self.store.cache_capacity {
            Some(ByteSize::Bytes(b)) => b,
            // Refused by `validate`; the smallest automatic size if a caller skipped it.
            Some(ByteSize::Percent(_)) => MIN_AUTO_CACHE,
            None => auto_cache(folder_bytes(&self.data_dir), physical_memory()),
        }
    }
}

/// The cache an unset `cache_capacity` gives a store of `store_bytes` on disk, on a machine of
/// `memory` bytes (when known): never more than a quarter of it, so a large store on a small
/// server leaves memory for the streams and the system.
pub fn auto_cache(store_bytes: u64, memory: Option<u64>) -> u64 {
    let most = memory.map_or(MAX_AUTO_CACHE, |m| (m / 4).min(MAX_AUTO_CACHE));
    store_bytes
        .saturating_add(store_bytes / 2)
        .min(most)
        .max(MIN_AUTO_CACHE)
}

/// The machine's memory, where the system tells it (Linux's `/proc/meminfo`; elsewhere none).
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Bytes of the files in `dir` and its subfolders (sled's are one level deep: `blobs`; a link
/// to a file or folder elsewhere counts as what it names); 0 when it is missing or unreadable
/// (a new store).
fn folder_bytes(dir: &std::path::Path) -> u64 {
    folder_bytes_within(dir, 3)
}

fn folder_bytes_within(dir: &std::path::Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let len = if meta.is_dir() {
            // Bounded: a link back up the tree is not followed forever.
            if depth > 0 {
                folder_bytes_within(&path, depth - 1)
            } else {
                0
            }
        } else if meta.is_file() {
            meta.len()
        } else {
            0
        };
        total = total.saturating_add(len);
    }
    total
}
