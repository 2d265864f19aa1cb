//! Walking recorder folders: what a probe measures of each recorder.
//!
//! Each `[[recorder]]` names a root folder and a technology whose folder layout decides which
//! files count (see DESIGN.md, "Recording layouts"). The figures keep the old tool's semantics
//! exactly: the modification times of the counted files, their oldest and newest, and the
//! number of distinct calendar days among them in the probe's time zone. Vigia adds per-camera
//! figures, file counts and bytes, the volume's free space and a scan outcome with bounded errors.
//!
//! Aggregation streams (min, max, counts and a set of day numbers; never a list of every
//! timestamp), folders are walked on a small thread pool, and a [`Scanner`] keeps a per-folder
//! cache so that a rescan of an unchanged tree re-stats only the folders themselves and the
//! files written recently (see [`walk`] for the exact rule).
//!
//! ```toml
//! site = "loja-centro"
//! timezone = "America/Sao_Paulo"      # days are counted here; default: the system's zone
//!
//! [scan]
//! cache = "state/scan.cache"          # incremental state across restarts (optional)
//! hot_window = "2h"                   # files this recent are re-stat'ed on every scan
//! threads = 2                         # default: the number of cores, at most 4
//!
//! [[recorder]]
//! id = "nvr1"
//! technology = "intelbras"            # intelbras | digifort | ivms | generic
//! path = 'D:\Gravacoes'
//!
//! [[recorder]]
//! id = "arquivo"
//! technology = "generic"
//! path = "/srv/recordings"
//! extensions = ["mp4", "avi"]         # default: every file (Digifort: "dar")
//! camera_depth = 2                    # the second folder level names the camera
//! follow_links = false                # default; loops are detected when true
//! ```

pub mod agg;
pub mod cache;
pub mod cli;
mod fs;
mod hashes;
pub mod json;
#[cfg(target_os = "linux")]
mod rawdir;
pub mod walk;

use crate::config::ProbeConfig;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use vigia::pb::{self, RecordingStatus};

pub use crate::recorder_config::{
    validate_recorders, RecorderConfig, ScanSettings, Technology, MIN_HOT_WINDOW,
};
pub use walk::{scan_recorder, RecorderCache, RecorderScan};

/// How many recorded days a status lists at most (the newest are kept; the collector's limit).
pub const MAX_RECORDED_DAYS: usize = 3660;
/// How many cameras a status lists at most (the collector's limit).
pub const MAX_CAMERAS: usize = 1024;
/// How many errors a status lists; the rest are counted in `errors_omitted`.
pub const MAX_ERRORS: usize = 20;

/// Scans a site's recorders, keeping per-recorder incremental caches between scans.
///
/// The daemon keeps one `Scanner` for its lifetime and calls [`Scanner::scan_all`] from
/// `spawn_blocking` on each tick, then [`Scanner::save_cache`]; `vigia-probe scan` uses one for a
/// single pass. A rescan re-reads only folders whose own mtime changed and files modified within
/// `scan.hot_window`; its result equals a full scan's (see [`walk`] for the one assumption).
pub struct Scanner {
    site: String,
    tz: vigia::Tz,
    recorders: Vec<RecorderConfig>,
    settings: ScanSettings,
    hostname: String,
    /// The cache file, when the cache persists: what of it is on disk already.
    store: Option<cache::Store>,
    caches: HashMap<String, RecorderCache>,
}

impl Scanner {
    /// A scanner with an in-memory cache only (the first scan is a full one).
    pub fn new(config: &ProbeConfig) -> Scanner {
        Scanner {
            site: config.site.clone(),
            tz: config.tz(),
            recorders: config.recorders.clone(),
            settings: config.scan.clone(),
            hostname: hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            store: None,
            caches: HashMap::new(),
        }
    }

    /// A scanner whose cache persists in `path`: loaded now (a missing file is a cold start; a
    /// corrupt, foreign or outdated one is discarded with a warning) and written by
    /// [`Scanner::save_cache`].
    pub fn with_cache_file(config: &ProbeConfig, path: &Path) -> Scanner {
        let mut s = Scanner::new(config);
        let (store, loaded) = cache::Store::open(path);
        s.store = Some(store);
        match loaded {
            Ok(Some(caches)) => s.caches = caches,
            Ok(None) => {}
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "scan cache discarded; the next scan is a full one"
            ),
        }
        s
    }

    /// Scans every configured recorder once (blocking) and returns one status per recorder,
    /// in configuration order, with every scan field filled. The caller fills `sequence`,
    /// `spool_id`, `report_interval` and `dropped_statuses`.
    pub fn scan_all(&mut self) -> Vec<RecordingStatus> {
        let mut out = Vec::with_capacity(self.recorders.len());
        let threads = self.settings.thread_count();
        for rec in &self.recorders {
            let started = Instant::now();
            let now = SystemTime::now();
            let key = walk::CacheKey::new(rec, self.tz, self.settings.hot_window);
            let old = self.caches.remove(&rec.id).filter(|c| c.key == key);
            let result = walk::scan_recorder_owned(
                rec,
                self.tz,
                self.settings.hot_window,
                threads,
                now,
                old,
            );
            let status = self.to_status(rec, &result, started.elapsed());
            tracing::debug!(
                site = %self.site,
                recorder = %rec.id,
                outcome = ?result.outcome,
                files = result.total.files,
                dirs_listed = result.stats.dirs_listed,
                dirs_reused = result.stats.dirs_reused,
                files_stated = result.stats.files_stated,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "scan done"
            );
            self.caches.insert(rec.id.clone(), result.cache);
            out.push(status);
        }
        let ids: HashSet<&str> = self.recorders.iter().map(|r| r.id.as_str()).collect();
        self.caches.retain(|id, _| ids.contains(id.as_str()));
        out
    }

    /// Writes the cache file, if one was set: what changed since the last save, appended (see
    /// [`cache`]), or the whole of it when due (a temporary file renamed over it).
    pub fn save_cache(&mut self) -> std::io::Result<()> {
        match &mut self.store {
            Some(store) => store.save(&mut self.caches),
            None => Ok(()),
        }
    }

    /// The zone days are counted in.
    pub fn tz(&self) -> vigia::Tz {
        self.tz
    }

    fn to_status(
        &self,
        rec: &RecorderConfig,
        scan: &RecorderScan,
        elapsed: Duration,
    ) -> RecordingStatus {
        let (disk_total_bytes, disk_free_bytes) = disk_space(&rec.path);
        let mut days = scan.total.days.to_dates();
        if days.len() > MAX_RECORDED_DAYS {
            days.drain(..days.len() - MAX_RECORDED_DAYS);
        }
        let cameras: Vec<pb::CameraStatus> = scan
            .cameras
            .iter()
            .take(MAX_CAMERAS)
            .map(|(name, a)| {
                let (first_day, day_bitmap) = vigia::day_bitmap::encode(&a.days.to_dates())
                    .map(|(first, bits)| (vigia::days::format_day(first), bits))
                    .unwrap_or_default();
                pb::CameraStatus {
                    camera: name.clone(),
                    oldest_recording: a.oldest.map(agg::FileTime::to_timestamp),
                    newest_recording: a.newest.map(agg::FileTime::to_timestamp),
                    days_recorded: a.days.len() as u32,
                    file_count: a.files,
                    total_bytes: a.bytes,
                    newest_nonempty_recording: a.newest_nonempty.map(agg::FileTime::to_timestamp),
                    first_day,
                    day_bitmap,
                }
            })
            .collect();
        RecordingStatus {
            site: self.site.clone(),
            recorder: rec.id.clone(),
            technology: rec.technology.to_pb() as i32,
            observed_at: Some(vigia::days::to_timestamp(chrono::Utc::now())),
            outcome: scan.outcome as i32,
            oldest_recording: scan.total.oldest.map(agg::FileTime::to_timestamp),
            newest_recording: scan.total.newest.map(agg::FileTime::to_timestamp),
            newest_nonempty_recording: scan.total.newest_nonempty.map(agg::FileTime::to_timestamp),
            days_recorded: scan.total.days.len() as u32,
            recorded_days: days.into_iter().map(vigia::days::format_day).collect(),
            file_count: scan.total.files,
            total_bytes: scan.total.bytes,
            cameras,
            disk_total_bytes,
            disk_free_bytes,
            errors: scan
                .errors
                .iter()
                .map(|e| pb::ScanError {
                    path: e.path.clone(),
                    reason: e.reason.clone(),
                })
                .collect(),
            errors_omitted: scan.errors_omitted,
            probe_version: env!("CARGO_PKG_VERSION").to_string(),
            hostname: self.hostname.clone(),
            time_zone: self.tz.name().to_string(),
            scan_duration: prost_types::Duration::try_from(elapsed).ok(),
            root_path: rec.path.display().to_string(),
            ..Default::default()
        }
    }
}

/// Total and available bytes of the volume holding `path`; zeros when unknown (missing root).
pub fn disk_space(path: &Path) -> (u64, u64) {
    match fs4::statvfs(path) {
        Ok(s) => (s.total_space(), s.available_space()),
        Err(_) => (0, 0),
    }
}
