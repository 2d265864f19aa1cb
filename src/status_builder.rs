//! One healthy [`RecordingStatus`] for every test, instead of a hand-written one per test file:
//! a recorder whose cameras recorded on every day of a window ending on the day of the scan, the
//! newest recording a minute before it, on a disk with room to spare — what [`crate::rules`] finds OK and
//! [`crate::validate`] accepts. A test sets what it is about with a setter, or changes the built
//! struct for a fault. Behind the `testkit` cargo feature, so no release binary carries it.

use crate::days::{format_day, last_n_days, local_date, parse_tz, to_timestamp};
use crate::pb::{CameraStatus, RecordingStatus, ScanError, ScanOutcome, Technology};
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Builds a healthy status scanned at a given instant; see the module doc for its shape.
#[derive(Debug, Clone)]
pub struct StatusBuilder {
    site: String,
    recorder: String,
    technology: Technology,
    sequence: u64,
    spool_id: String,
    scanned_at: DateTime<Utc>,
    newest: Option<DateTime<Utc>>,
    oldest: Option<DateTime<Utc>>,
    days: u32,
    missing: Vec<NaiveDate>,
    zone: String,
    interval: Option<std::time::Duration>,
    cameras: Vec<String>,
    stopped: Vec<(String, DateTime<Utc>)>,
    per_camera_days: bool,
    files: u64,
    bytes: u64,
    disk_free: u64,
    disk_total: u64,
    errors: Vec<ScanError>,
    dropped: u64,
}

impl StatusBuilder {
    /// Recorder `nvr` of site `loja-1` (Intelbras, sequence 1), scanned at `scanned_at`, 30 days
    /// kept in São Paulo's zone, no cameras, 1000 files of 1 GiB in all, 1 TiB free of 2 TiB.
    pub fn new(scanned_at: DateTime<Utc>) -> StatusBuilder {
        StatusBuilder {
            site: "loja-1".into(),
            recorder: "nvr".into(),
            technology: Technology::Intelbras,
            sequence: 1,
            spool_id: "spool-1".into(),
            scanned_at,
            newest: None,
            oldest: None,
            days: 30,
            missing: Vec::new(),
            zone: "America/Sao_Paulo".into(),
            interval: Some(std::time::Duration::from_secs(300)),
            cameras: Vec::new(),
            stopped: Vec::new(),
            per_camera_days: true,
            files: 1000,
            bytes: 1 << 30,
            disk_free: 1 << 40,
            disk_total: 2 << 40,
            errors: Vec::new(),
            dropped: 0,
        }
    }

    /// The site.
    pub fn site(mut self, site: &str) -> Self {
        self.site = site.into();
        self
    }

    /// The recorder.
    pub fn recorder(mut self, recorder: &str) -> Self {
        self.recorder = recorder.into();
        self
    }

    /// The recording software.
    pub fn technology(mut self, technology: Technology) -> Self {
        self.technology = technology;
        self
    }

    /// The probe's sequence number.
    pub fn sequence(mut self, sequence: u64) -> Self {
        self.sequence = sequence;
        self
    }

    /// The probe's spool id.
    pub fn spool_id(mut self, spool_id: &str) -> Self {
        self.spool_id = spool_id.into();
        self
    }

    /// When the scan finished (`observed_at`).
    pub fn scanned_at(mut self, at: DateTime<Utc>) -> Self {
        self.scanned_at = at;
        self
    }

    /// The newest recording of the recorder and of every camera (default: a minute before the
    /// scan).
    pub fn newest(mut self, at: DateTime<Utc>) -> Self {
        self.newest = Some(at);
        self
    }

    /// The oldest recording (default: the scan's time of day on the first day of the window).
    pub fn oldest(mut self, at: DateTime<Utc>) -> Self {
        self.oldest = Some(at);
        self
    }

    /// How many days the recorder keeps, ending on the scan's local date: every one of them
    /// recorded, on every camera, but for [`Self::missing_day`]s.
    pub fn days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// A day of the window without recordings (deleted), on the recorder and every camera.
    pub fn missing_day(mut self, day: NaiveDate) -> Self {
        self.missing.push(day);
        self
    }

    /// The probe's IANA zone, in which the days are counted.
    pub fn zone(mut self, zone: &str) -> Self {
        self.zone = zone.into();
        self
    }

    /// The report interval announced (`None`: as a probe that announces none).
    pub fn interval(mut self, interval: Option<std::time::Duration>) -> Self {
        self.interval = interval;
        self
    }

    /// The cameras, by name, all alike.
    pub fn cameras<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.cameras = names.into_iter().map(Into::into).collect();
        self
    }

    /// One camera's newest recording (it stopped at `at`; its days stay the recorder's).
    pub fn camera_newest(mut self, camera: &str, at: DateTime<Utc>) -> Self {
        self.stopped.push((camera.into(), at));
        self
    }

    /// As a probe from before per-camera days reports: no camera day bitmaps and no newest
    /// non-empty recording.
    pub fn legacy_probe(mut self) -> Self {
        self.per_camera_days = false;
        self
    }

    /// The recorder's file count and bytes, shared evenly by the cameras (the first one takes
    /// what does not divide).
    pub fn files(mut self, count: u64, bytes: u64) -> Self {
        self.files = count;
        self.bytes = bytes;
        self
    }

    /// Free and total bytes of the recording volume.
    pub fn disk(mut self, free: u64, total: u64) -> Self {
        self.disk_free = free;
        self.disk_total = total;
        self
    }

    /// One scan error (the outcome becomes PARTIAL).
    pub fn error(mut self, path: &str, reason: &str) -> Self {
        self.errors.push(ScanError {
            path: path.into(),
            reason: reason.into(),
        });
        self
    }

    /// Statuses the probe dropped from its full spool before this one.
    pub fn dropped(mut self, dropped: u64) -> Self {
        self.dropped = dropped;
        self
    }

    /// The status.
    pub fn build(self) -> RecordingStatus {
        let tz = parse_tz(&self.zone).unwrap_or(chrono_tz::UTC);
        let newest = self
            .newest
            .unwrap_or(self.scanned_at - Duration::minutes(1));
        let mut days = last_n_days(local_date(self.scanned_at, tz), self.days);
        days.retain(|d| !self.missing.contains(d));
        let recorded = days.len() as u32;
        let oldest = self
            .oldest
            .unwrap_or(self.scanned_at - Duration::days(i64::from(self.days.saturating_sub(1))));
        let (first_day, day_bitmap) = match crate::day_bitmap::encode(&days) {
            Some((first, bits)) if self.per_camera_days => (format_day(first), bits),
            _ => (String::new(), Vec::new()),
        };
        let nonempty = |t: DateTime<Utc>| self.per_camera_days.then(|| to_timestamp(t));
        let n = self.cameras.len().max(1) as u64;
        let share = |total: u64, i: usize| total / n + if i == 0 { total % n } else { 0 };
        let cameras = self
            .cameras
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let newest = self
                    .stopped
                    .iter()
                    .find(|(c, _)| c == name)
                    .map_or(newest, |(_, at)| *at);
                CameraStatus {
                    camera: name.clone(),
                    oldest_recording: Some(to_timestamp(oldest)),
                    newest_recording: Some(to_timestamp(newest)),
                    newest_nonempty_recording: nonempty(newest),
                    days_recorded: recorded,
                    file_count: share(self.files, i),
                    total_bytes: share(self.bytes, i),
                    first_day: first_day.clone(),
                    day_bitmap: day_bitmap.clone(),
                }
            })
            .collect();
        RecordingStatus {
            site: self.site,
            recorder: self.recorder,
            technology: self.technology as i32,
            sequence: self.sequence,
            spool_id: self.spool_id,
            observed_at: Some(to_timestamp(self.scanned_at)),
            report_interval: self.interval.map(|d| prost_types::Duration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            }),
            outcome: if self.errors.is_empty() {
                ScanOutcome::Ok
            } else {
                ScanOutcome::Partial
            } as i32,
            oldest_recording: Some(to_timestamp(oldest)),
            newest_recording: Some(to_timestamp(newest)),
            newest_nonempty_recording: nonempty(newest),
            days_recorded: recorded,
            recorded_days: days.into_iter().map(format_day).collect(),
            file_count: self.files,
            total_bytes: self.bytes,
            cameras,
            disk_total_bytes: self.disk_total,
            disk_free_bytes: self.disk_free,
            errors: self.errors,
            time_zone: self.zone,
            dropped_statuses: self.dropped,
            probe_version: "test".into(),
            hostname: "host".into(),
            root_path: "/rec".into(),
            ..Default::default()
        }
    }
}
