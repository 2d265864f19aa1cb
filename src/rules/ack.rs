//! Acknowledgements: an operator says "known, until then". A finding stays visible with the
//! acknowledgement but no longer alerts, and comes back by itself when the acknowledgement
//! expires or the finding changes — another camera, a new outage, a worse figure. What counts as
//! "worse" is decided here, per kind, from the facts kept when the acknowledgement was given.

use crate::days::from_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::{Acknowledgement, Verdict, VerdictKind};
use chrono::{DateTime, Utc};

/// One stored acknowledgement: what it matches and the findings it covered when given.
#[derive(Debug, Clone, Copy)]
pub struct AckInput<'a> {
    /// The kind it acknowledges.
    pub kind: VerdictKind,
    /// The recorder; empty for every recorder of the site.
    pub recorder: &'a str,
    /// The camera; empty for the recorder and every camera.
    pub camera: &'a str,
    /// Who, why, until when.
    pub ack: &'a Acknowledgement,
    /// The findings as they were when it was given.
    pub snapshot: &'a [Verdict],
}

/// True when an acknowledgement's target covers this finding (kind, recorder, camera).
pub fn targets(kind: VerdictKind, recorder: &str, camera: &str, v: &Verdict) -> bool {
    v.kind() == kind
        && (recorder.is_empty() || v.recorder == recorder)
        && (camera.is_empty() || v.cameras.iter().any(|c| c == camera))
}

/// True when `now` is a finding the snapshot `then` already showed, no worse.
pub fn same_or_better(now: &Verdict, then: &Verdict) -> bool {
    if now.kind() != then.kind() || now.recorder != then.recorder || now.cameras != then.cameras {
        return false;
    }
    let (Some(a), Some(b)) = (&now.facts, &then.facts) else {
        return now.detail == then.detail;
    };
    match (a, b) {
        (Facts::Late(a), Facts::Late(b)) => a.newest_recording == b.newest_recording,
        (Facts::CameraLate(a), Facts::CameraLate(b)) => a.newest_recording == b.newest_recording,
        (Facts::CameraMissing(a), Facts::CameraMissing(b)) => a.last_seen == b.last_seen,
        (Facts::RecorderSilent(a), Facts::RecorderSilent(b)) => a.last_seen == b.last_seen,
        (Facts::NotWriting(a), Facts::NotWriting(b)) => a.newest_nonempty == b.newest_nonempty,
        (Facts::ShortRetention(a), Facts::ShortRetention(b)) => a.days >= b.days,
        (Facts::Gaps(a), Facts::Gaps(b)) => {
            a.missing_count <= b.missing_count
                && a.missing_days.iter().all(|d| b.missing_days.contains(d))
        }
        // Free space moves every scan; it is worse when half of what was acknowledged is gone.
        (Facts::DiskLow(a), Facts::DiskLow(b)) => a.free_bytes >= b.free_bytes / 2,
        (Facts::ScanError(a), Facts::ScanError(b)) => {
            a.outcome == b.outcome && a.error_count <= b.error_count
        }
        (Facts::Silent(a), Facts::Silent(b)) => a.last_contact == b.last_contact,
        (Facts::NeverReported(_), Facts::NeverReported(_)) => true,
        (Facts::ClockSkew(a), Facts::ClockSkew(b)) => {
            (a.probe_ahead.is_none() || b.probe_ahead.is_some())
                && (a.newest_recording.is_none() || b.newest_recording.is_some())
                && (a.implausible_oldest.is_none() || b.implausible_oldest.is_some())
                && a.future_days.iter().all(|d| b.future_days.contains(d))
        }
        _ => false,
    }
}

/// Marks every finding an unexpired acknowledgement still covers.
pub fn apply(verdicts: &mut [Verdict], acks: &[AckInput<'_>], now: DateTime<Utc>) {
    for v in verdicts.iter_mut() {
        if matches!(v.kind(), VerdictKind::Ok | VerdictKind::Unspecified) {
            continue;
        }
        let covering = acks.iter().find(|a| {
            let live = a
                .ack
                .until
                .as_ref()
                .and_then(from_timestamp)
                .is_some_and(|until| until > now);
            live && targets(a.kind, a.recorder, a.camera, v)
                && a.snapshot.iter().any(|then| same_or_better(v, then))
        });
        v.acknowledgement = covering.map(|a| a.ack.clone());
    }
}

/// True when a finding is a problem nobody has acknowledged (what alerts).
pub fn unacknowledged(v: &Verdict) -> bool {
    v.acknowledgement.is_none()
}
