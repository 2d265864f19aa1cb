//! A status as the checks read it: parsed once (times, days, cameras' bitmaps), with the days
//! after the scan's own day set apart, so that no check parses or second-guesses the raw status.

use super::clock::ScanClock;
use super::Rules;
use crate::days::{from_timestamp, parse_day, parse_tz};
use crate::pb::{CameraStatus, RecordingStatus};
use chrono::{DateTime, NaiveDate, Utc};

/// One recorder's latest status, read.
pub struct RecorderView<'a> {
    /// The status itself.
    pub status: &'a RecordingStatus,
    /// The thresholds of its site.
    pub rules: &'a Rules,
    /// The instants it is judged against.
    pub clock: ScanClock,
    /// Newest recording file.
    pub newest: Option<DateTime<Utc>>,
    /// Oldest recording file.
    pub oldest: Option<DateTime<Utc>>,
    /// Recorded days up to the scan's own day, ascending.
    pub days: Vec<NaiveDate>,
    /// Recorded days after it (a clock ahead), ascending.
    pub future_days: Vec<NaiveDate>,
    /// Every camera, read.
    pub cameras: Vec<CameraView<'a>>,
}

/// One camera of a status, read.
pub struct CameraView<'a> {
    /// The camera's figures.
    pub status: &'a CameraStatus,
    /// Newest recording file.
    pub newest: Option<DateTime<Utc>>,
    /// Newest non-empty recording file.
    pub newest_nonempty: Option<DateTime<Utc>>,
    /// Recorded days up to the scan's day; `None` from probes that send no per-camera days (or
    /// a bitmap that cannot be read).
    pub days: Option<Vec<NaiveDate>>,
}

impl<'a> RecorderView<'a> {
    /// Reads a status received at `received`.
    pub fn new(status: &'a RecordingStatus, received: DateTime<Utc>, rules: &'a Rules) -> Self {
        let clock = ScanClock::new(status, received, rules.clock_skew_tolerance);
        let tz = parse_tz(&status.time_zone).unwrap_or(chrono_tz::UTC);
        let last_day = clock.last_possible_day(tz);
        let mut all: Vec<NaiveDate> = status
            .recorded_days
            .iter()
            .filter_map(|d| parse_day(d))
            .collect();
        all.sort_unstable();
        all.dedup();
        let split = all.partition_point(|d| *d <= last_day);
        let future_days = all.split_off(split);
        let cameras = status
            .cameras
            .iter()
            .map(|c| CameraView {
                status: c,
                newest: c.newest_recording.as_ref().and_then(from_timestamp),
                newest_nonempty: c
                    .newest_nonempty_recording
                    .as_ref()
                    .and_then(from_timestamp),
                days: crate::day_bitmap::decode(&c.first_day, &c.day_bitmap)
                    .ok()
                    .flatten()
                    .and_then(|mut d| {
                        d.retain(|d| *d <= last_day);
                        // Only days after the scan (a bitmap anchored on a far-future file):
                        // the real days are unknown, not absent.
                        (!d.is_empty()).then_some(d)
                    }),
            })
            .collect();
        RecorderView {
            status,
            rules,
            clock,
            newest: status.newest_recording.as_ref().and_then(from_timestamp),
            oldest: status.oldest_recording.as_ref().and_then(from_timestamp),
            days: all,
            future_days,
            cameras,
        }
    }

    /// Days with recordings up to the scan's day: the probe's count less the future ones.
    pub fn days_recorded(&self) -> u32 {
        self.status
            .days_recorded
            .saturating_sub(self.future_days.len() as u32)
    }

    /// True when the probe counted recording files at all.
    pub fn has_files(&self) -> bool {
        self.status.file_count > 0
    }
}

impl CameraView<'_> {
    /// The camera's days with recordings (its bitmap when sent, else the probe's count).
    pub fn days_recorded(&self) -> u32 {
        match &self.days {
            Some(d) => d.len() as u32,
            None => self.status.days_recorded,
        }
    }
}
