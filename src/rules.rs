//! The verdict rules: pure functions of (latest statuses, now, rules), kept in the root crate so
//! that the email, `grpcurl` and the metrics can never disagree about a site. Defaults follow
//! the tool Vigia replaces; each threshold is configurable globally (`[rules]`) and per site
//! (`[sites.<id>]`).

use crate::config::{duration, human_bytes, ByteSize};
use crate::days::{from_timestamp, parse_day, parse_tz, to_timestamp};
use crate::pb::{RecordingStatus, ScanOutcome, Verdict, VerdictKind};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Recordings dated before this are taken as a reset recorder clock (CLOCK_SKEW).
const EARLIEST_PLAUSIBLE_UNIX: i64 = 946_684_800; // 2000-01-01T00:00:00Z

/// How many missing days a GAPS detail names before summarising.
const GAP_DAYS_NAMED: usize = 5;

/// The thresholds behind the verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// LATE / CAMERA_LATE when the newest recording is older than this at scan time.
    #[serde(with = "duration")]
    pub late_after: Duration,
    /// SHORT_RETENTION when fewer days than this have recordings.
    pub min_retention_days: u32,
    /// DISK_LOW when the recording volume has less free space than this (`"20GiB"` or `"5%"`).
    pub disk_min_free: ByteSize,
    /// SILENT when no report came for the probe's interval plus this.
    #[serde(with = "duration")]
    pub silent_grace: Duration,
    /// CLOCK_SKEW when the probe's clock, or a recording's time, is off by more than this.
    #[serde(with = "duration")]
    pub clock_skew_tolerance: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            late_after: Duration::from_secs(2 * 3600),
            min_retention_days: 30,
            disk_min_free: ByteSize::Bytes(1 << 30),
            silent_grace: Duration::from_secs(15 * 60),
            clock_skew_tolerance: Duration::from_secs(5 * 60),
        }
    }
}

/// Per-site exceptions (`[sites.<id>]`): each key set here wins over `[rules]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverrides {
    /// Overrides `late_after`.
    #[serde(default, with = "duration::option")]
    pub late_after: Option<Duration>,
    /// Overrides `min_retention_days`.
    #[serde(default)]
    pub min_retention_days: Option<u32>,
    /// Overrides `disk_min_free`.
    #[serde(default)]
    pub disk_min_free: Option<ByteSize>,
    /// Overrides `silent_grace`.
    #[serde(default, with = "duration::option")]
    pub silent_grace: Option<Duration>,
    /// Overrides `clock_skew_tolerance`.
    #[serde(default, with = "duration::option")]
    pub clock_skew_tolerance: Option<Duration>,
}

impl Rules {
    /// These rules with a site's overrides applied.
    pub fn with_overrides(&self, o: &RuleOverrides) -> Rules {
        Rules {
            late_after: o.late_after.unwrap_or(self.late_after),
            min_retention_days: o.min_retention_days.unwrap_or(self.min_retention_days),
            disk_min_free: o.disk_min_free.unwrap_or(self.disk_min_free),
            silent_grace: o.silent_grace.unwrap_or(self.silent_grace),
            clock_skew_tolerance: o.clock_skew_tolerance.unwrap_or(self.clock_skew_tolerance),
        }
    }
}

/// One recorder's latest status and when the collector received it.
#[derive(Debug, Clone, Copy)]
pub struct RecorderInput<'a> {
    /// The status.
    pub status: &'a RecordingStatus,
    /// Arrival time by the collector's clock.
    pub received_at: DateTime<Utc>,
}

/// What the collector knows of a site, for site-wide verdicts.
#[derive(Debug, Clone, Default)]
pub struct SiteInput<'a> {
    /// Listed as expected (config or Admin).
    pub expected: bool,
    /// Decommissioned: no verdicts at all.
    pub retired: bool,
    /// Latest report received, if any.
    pub last_contact: Option<DateTime<Utc>>,
    /// The interval the probe announced (or the one it was expected with).
    pub report_interval: Option<Duration>,
    /// Latest status of each recorder.
    pub recorders: Vec<RecorderInput<'a>>,
}

/// How bad a verdict is, for ordering digests and picking a site's headline (higher is worse).
pub fn severity(kind: VerdictKind) -> u8 {
    match kind {
        VerdictKind::NeverReported => 10,
        VerdictKind::Silent => 9,
        VerdictKind::ScanError => 8,
        VerdictKind::Late => 7,
        VerdictKind::CameraLate => 6,
        VerdictKind::ShortRetention => 5,
        VerdictKind::Gaps => 4,
        VerdictKind::DiskLow => 3,
        VerdictKind::ClockSkew => 2,
        VerdictKind::CameraMissing => 6,
        VerdictKind::RecorderSilent => 8,
        VerdictKind::NotWriting => 7,
        VerdictKind::Ok => 1,
        VerdictKind::Unspecified => 0,
    }
}

/// The worst kind among verdicts (OK for none).
pub fn worst(verdicts: &[Verdict]) -> VerdictKind {
    verdicts
        .iter()
        .map(Verdict::kind)
        .max_by_key(|k| severity(*k))
        .unwrap_or(VerdictKind::Ok)
}

/// A span in words: `3h 5m`, `2d 4h`, `45s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn verdict(kind: VerdictKind, recorder: &str, detail: String) -> Verdict {
    Verdict {
        kind: kind as i32,
        detail,
        recorder: recorder.to_string(),
        cameras: Vec::new(),
        since: None,
        ..Default::default()
    }
}

fn local_text(t: DateTime<Utc>, zone: &str) -> String {
    match parse_tz(zone) {
        Ok(tz) => tz
            .from_utc_datetime(&t.naive_utc())
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

fn age(later: DateTime<Utc>, earlier: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

/// Verdicts about one recorder's latest status (OK alone when nothing is wrong).
pub fn recorder_verdicts(
    status: &RecordingStatus,
    received_at: DateTime<Utc>,
    rules: &Rules,
) -> Vec<Verdict> {
    let rec = status.recorder.as_str();
    let zone = status.time_zone.as_str();
    let mut out = Vec::new();
    let observed = status
        .observed_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or(received_at);
    let newest = status.newest_recording.as_ref().and_then(from_timestamp);
    let oldest = status.oldest_recording.as_ref().and_then(from_timestamp);
    let tolerance = rules.clock_skew_tolerance;

    match status.outcome() {
        ScanOutcome::Ok | ScanOutcome::Unspecified => {}
        outcome => {
            let first = status
                .errors
                .first()
                .map(|e| format!(": {} ({})", e.path, e.reason))
                .unwrap_or_default();
            let more = status.errors.len() as u64 + status.errors_omitted;
            let detail = match outcome {
                ScanOutcome::PathMissing => {
                    format!("recording folder {} does not exist", status.root_path)
                }
                ScanOutcome::PermissionDenied => {
                    format!(
                        "recording folder {} cannot be read{first}",
                        status.root_path
                    )
                }
                ScanOutcome::Empty => {
                    format!("no recording files under {}", status.root_path)
                }
                _ => format!("{more} unreadable path(s), the rest was counted{first}"),
            };
            out.push(verdict(VerdictKind::ScanError, rec, detail));
        }
    }

    if status.file_count > 0 {
        if let Some(newest) = newest {
            let a = age(observed, newest);
            if a > rules.late_after {
                let mut v = verdict(
                    VerdictKind::Late,
                    rec,
                    format!(
                        "newest recording {} ({} before the last scan)",
                        local_text(newest, zone),
                        human_duration(a)
                    ),
                );
                v.since = Some(to_timestamp(newest));
                out.push(v);
            }
        }

        // When the whole recorder is LATE every camera is too; CAMERA_LATE is for the one
        // dead camera hiding behind live ones.
        let recorder_late = out.iter().any(|v| v.kind() == VerdictKind::Late);
        let late_cams: Vec<_> = status
            .cameras
            .iter()
            .filter_map(|c| {
                let n = c.newest_recording.as_ref().and_then(from_timestamp)?;
                (age(observed, n) > rules.late_after).then_some((c.camera.as_str(), n))
            })
            .collect();
        if !late_cams.is_empty() && !recorder_late {
            let listed: Vec<String> = late_cams
                .iter()
                .map(|(c, n)| format!("{c} since {}", local_text(*n, zone)))
                .collect();
            let mut v = verdict(
                VerdictKind::CameraLate,
                rec,
                format!(
                    "{} of {} camera(s) stopped: {}",
                    late_cams.len(),
                    status.cameras.len(),
                    listed.join(", ")
                ),
            );
            v.cameras = late_cams.iter().map(|(c, _)| (*c).to_string()).collect();
            v.since = late_cams.iter().map(|(_, n)| *n).min().map(to_timestamp);
            out.push(v);
        }

        if status.days_recorded < rules.min_retention_days {
            out.push(verdict(
                VerdictKind::ShortRetention,
                rec,
                format!(
                    "{} day(s) recorded, fewer than the {} required",
                    status.days_recorded, rules.min_retention_days
                ),
            ));
        }

        let mut days: Vec<_> = status
            .recorded_days
            .iter()
            .filter_map(|d| parse_day(d))
            .collect();
        days.sort_unstable();
        days.dedup();
        let missing = crate::days::missing_days(&days, 10_000);
        if !missing.is_empty() {
            let named: Vec<String> = missing
                .iter()
                .take(GAP_DAYS_NAMED)
                .map(|d| crate::days::format_day(*d))
                .collect();
            let rest = missing.len().saturating_sub(GAP_DAYS_NAMED);
            let tail = if rest > 0 {
                format!(" and {rest} more")
            } else {
                String::new()
            };
            out.push(verdict(
                VerdictKind::Gaps,
                rec,
                format!(
                    "{} day(s) without recording: {}{tail}",
                    missing.len(),
                    named.join(", ")
                ),
            ));
        }
    }

    if status.disk_total_bytes > 0 {
        let min = rules.disk_min_free.of_total(status.disk_total_bytes);
        if status.disk_free_bytes < min {
            out.push(verdict(
                VerdictKind::DiskLow,
                rec,
                format!(
                    "{} free of {} (minimum {})",
                    human_bytes(status.disk_free_bytes),
                    human_bytes(status.disk_total_bytes),
                    rules.disk_min_free
                ),
            ));
        }
    }

    let mut skew = Vec::new();
    if observed > received_at + tolerance {
        skew.push(format!(
            "probe clock {} ahead of the collector",
            human_duration(age(observed, received_at))
        ));
    }
    if let Some(newest) = newest {
        if newest > observed + tolerance {
            skew.push(format!(
                "newest recording dated {}, {} after the scan",
                local_text(newest, zone),
                human_duration(age(newest, observed))
            ));
        }
    }
    if let Some(oldest) = oldest {
        if oldest.timestamp() < EARLIEST_PLAUSIBLE_UNIX && status.file_count > 0 {
            skew.push(format!(
                "oldest recording dated {} (recorder clock reset?)",
                local_text(oldest, zone)
            ));
        }
    }
    if !skew.is_empty() {
        out.push(verdict(VerdictKind::ClockSkew, rec, skew.join("; ")));
    }

    if out.is_empty() {
        out.push(verdict(VerdictKind::Ok, rec, "recording normally".into()));
    }
    out
}

/// All verdicts of a site at `now`: site-wide ones (SILENT, NEVER_REPORTED) then every
/// recorder's, or OK alone. Retired sites get none.
pub fn site_verdicts(site: &SiteInput<'_>, now: DateTime<Utc>, rules: &Rules) -> Vec<Verdict> {
    if site.retired {
        return Vec::new();
    }
    let mut out = Vec::new();
    match site.last_contact {
        None => {
            if site.expected {
                out.push(verdict(
                    VerdictKind::NeverReported,
                    "",
                    "expected, but has never reported".into(),
                ));
            }
        }
        Some(last) => {
            let interval = site.report_interval.unwrap_or(Duration::from_secs(300));
            let silence = age(now, last);
            if silence > interval + rules.silent_grace {
                let mut v = verdict(
                    VerdictKind::Silent,
                    "",
                    format!(
                        "no report for {} (reports every {})",
                        human_duration(silence),
                        human_duration(interval)
                    ),
                );
                v.since = Some(to_timestamp(last));
                out.push(v);
            }
        }
    }
    for r in &site.recorders {
        out.extend(
            recorder_verdicts(r.status, r.received_at, rules)
                .into_iter()
                .filter(|v| v.kind() != VerdictKind::Ok),
        );
    }
    if out.is_empty() {
        out.push(verdict(VerdictKind::Ok, "", "recording normally".into()));
    }
    out
}
