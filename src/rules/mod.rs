//! The verdict rules: pure functions of (latest statuses, what the collector remembers of the
//! site, now, rules), kept in the root crate so that the email, `grpcurl` and the metrics can
//! never disagree about a site. Each check lives in its own file and returns *facts*
//! (`pb::verdict::Facts`); [`crate::wording`] words them. Defaults follow the tool Vigia
//! replaces; each threshold is configurable globally (`[rules]`) and per site (`[sites.<id>]`).
//! `docs/verdicts.md` describes every verdict: when it fires, what it names, how it clears.

pub mod ack;
mod camera_late;
mod camera_missing;
pub mod clock;
mod clock_skew;
mod data_dropped;
mod disk_low;
mod gaps;
mod late;
mod not_writing;
mod recorder_silent;
mod retention;
mod scan_error;
mod silent;
pub mod view;

use crate::pb::verdict::Facts;
use crate::pb::{InventoryEntry, RecordingStatus, Verdict, VerdictKind};
use crate::units::{duration, ByteSize};
use crate::wording::{kind_of, sentence, Language, ZoneDates};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use view::RecorderView;

pub use silent::DEFAULT_INTERVAL;

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
    /// Every recorder and camera the collector has seen (retired ones marked); empty when the
    /// caller keeps no memory, and then no CAMERA_MISSING can be found.
    pub inventory: &'a [InventoryEntry],
    /// The latest report of statuses lost from the probe's spool: how many, when it arrived,
    /// and how many in all.
    pub last_drop: Option<(u64, DateTime<Utc>, u64)>,
}

/// How bad a verdict is, for ordering digests and picking a site's headline (higher is worse).
pub fn severity(kind: VerdictKind) -> u8 {
    match kind {
        VerdictKind::NeverReported => 15,
        VerdictKind::Silent => 14,
        VerdictKind::RecorderSilent => 13,
        VerdictKind::ScanError => 12,
        VerdictKind::Late => 11,
        VerdictKind::NotWriting => 10,
        VerdictKind::CameraMissing => 9,
        VerdictKind::CameraLate => 8,
        VerdictKind::ShortRetention => 7,
        VerdictKind::Gaps => 6,
        VerdictKind::DiskLow => 5,
        VerdictKind::DataDropped => 4,
        VerdictKind::ClockSkew => 3,
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

/// A verdict from facts: the kind, the camera and "since" taken from them, and the English
/// sentence in the site's zone as `detail` (what grpcurl shows).
pub fn verdict(recorder: &str, zone: &str, facts: Facts) -> Verdict {
    let (camera, since) = match &facts {
        Facts::Late(f) => ("", f.newest_recording),
        Facts::CameraLate(f) => (f.camera.as_str(), f.newest_recording),
        Facts::CameraMissing(f) => (f.camera.as_str(), f.last_seen),
        Facts::RecorderSilent(f) => ("", f.last_seen),
        Facts::NotWriting(f) => (f.camera.as_str(), f.newest_nonempty),
        Facts::ShortRetention(f) => (f.camera.as_str(), None),
        Facts::Gaps(f) => (f.camera.as_str(), None),
        Facts::Silent(f) => ("", f.last_contact),
        _ => ("", None),
    };
    let mut v = Verdict {
        kind: kind_of(&facts) as i32,
        recorder: recorder.to_string(),
        cameras: if camera.is_empty() {
            Vec::new()
        } else {
            vec![camera.to_string()]
        },
        since,
        facts: Some(facts),
        ..Default::default()
    };
    v.detail = sentence(&v, Language::En, &ZoneDates::named(zone));
    v
}

/// The problems of one recorder's latest status (no OK; empty when nothing is wrong).
fn recorder_findings(
    status: &RecordingStatus,
    received_at: DateTime<Utc>,
    rules: &Rules,
) -> Vec<Facts> {
    let r = RecorderView::new(status, received_at, rules);
    let mut out = Vec::new();
    out.extend(scan_error::check(&r));
    let late = late::check(&r);
    let recorder_late = late.is_some();
    out.extend(late);
    // When the whole recorder is LATE (or not writing) every camera is too: camera findings are
    // for the one dead camera hiding behind live ones.
    let not_writing = if recorder_late {
        None
    } else {
        not_writing::check_recorder(&r)
    };
    let recorder_stopped = recorder_late || not_writing.is_some();
    out.extend(not_writing);
    let mut stopped_cameras = Vec::new();
    if !recorder_stopped {
        for f in camera_late::check(&r) {
            if let Facts::CameraLate(c) = &f {
                stopped_cameras.push(c.camera.clone());
            }
            out.push(f);
        }
        out.extend(not_writing::check_cameras(&r, &stopped_cameras));
    }
    let short = retention::check_recorder(&r);
    if short.is_none() {
        out.extend(retention::check_cameras(&r));
    }
    out.extend(short);
    let missing = gaps::recorder_missing(&r);
    out.extend(gaps::check_recorder(&missing));
    out.extend(gaps::check_cameras(&r, &missing));
    out.extend(disk_low::check(&r));
    out.extend(clock_skew::check(&r));
    out
}

/// Verdicts about one recorder's latest status alone (OK alone when nothing is wrong).
pub fn recorder_verdicts(
    status: &RecordingStatus,
    received_at: DateTime<Utc>,
    rules: &Rules,
) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = recorder_findings(status, received_at, rules)
        .into_iter()
        .map(|f| verdict(&status.recorder, &status.time_zone, f))
        .collect();
    if out.is_empty() {
        out.push(ok_verdict(&status.recorder));
    }
    out
}

/// The OK verdict of a recorder (or, with an empty name, of a site).
pub fn ok_verdict(recorder: &str) -> Verdict {
    verdict(recorder, "", Facts::Ok(crate::pb::OkFacts {}))
}

fn retired(inventory: &[InventoryEntry], recorder: &str) -> bool {
    inventory
        .iter()
        .any(|e| e.recorder == recorder && e.camera.is_empty() && e.retired_at.is_some())
}

/// All verdicts of a site at `now`: site-wide ones (SILENT, NEVER_REPORTED), then each
/// recorder's (RECORDER_SILENT in place of a stale recorder's, CAMERA_MISSING from the
/// inventory), or OK alone. Retired sites get none; retired recorders are not judged.
pub fn site_verdicts(site: &SiteInput<'_>, now: DateTime<Utc>, rules: &Rules) -> Vec<Verdict> {
    if site.retired {
        return Vec::new();
    }
    let zone = site
        .recorders
        .first()
        .map(|r| r.status.time_zone.as_str())
        .unwrap_or("");
    let mut out = Vec::new();
    let site_wide = silent::check(site, now, rules);
    let site_silent = site_wide.is_some();
    out.extend(site_wide.map(|f| verdict("", zone, f)));
    out.extend(data_dropped::check(site.last_drop, now).map(|f| verdict("", zone, f)));
    let interval = site.report_interval.unwrap_or(DEFAULT_INTERVAL);
    for r in &site.recorders {
        let s = r.status;
        if retired(site.inventory, &s.recorder) {
            continue;
        }
        if !site_silent {
            if let Some(f) = recorder_silent::check(r, interval, now, rules) {
                out.push(verdict(&s.recorder, &s.time_zone, f));
                continue;
            }
        }
        let mut facts = recorder_findings(s, r.received_at, rules);
        if !scan_error::nothing_seen(s) {
            facts.extend(camera_missing::check(s, site.inventory));
        }
        out.extend(
            facts
                .into_iter()
                .map(|f| verdict(&s.recorder, &s.time_zone, f)),
        );
    }
    if out.is_empty() {
        out.push(ok_verdict(""));
    }
    out
}
