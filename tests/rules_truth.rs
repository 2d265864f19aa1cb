//! The findings that a latest-status-only, recorder-wide view missed: per-camera retention, gaps
//! and empty files, clocks that cannot fake or hide LATE, days after the scan, the collector's
//! memory (a vanished camera, a recorder no longer reported), and acknowledgements.

use chrono::{DateTime, Days, Duration as CDuration, NaiveDate, Utc};
use std::time::Duration;
use vigia::days::{format_day, local_date, parse_tz, to_timestamp};
use vigia::pb::verdict::Facts;
use vigia::pb::{
    Acknowledgement, CameraStatus, InventoryEntry, RecordingStatus, ScanOutcome, Verdict,
    VerdictKind,
};
use vigia::rules::ack::{apply, AckInput};
use vigia::rules::{recorder_verdicts, site_verdicts, RecorderInput, Rules, SiteInput};
use vigia::status_builder::StatusBuilder;

const ZONE: &str = "America/Sao_Paulo";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T15:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn today() -> NaiveDate {
    local_date(now(), parse_tz(ZONE).expect("zone"))
}

fn days_back(n: u64) -> Vec<NaiveDate> {
    (0..n)
        .rev()
        .filter_map(|i| today().checked_sub_days(Days::new(i)))
        .collect()
}

fn camera(name: &str, days: &[NaiveDate], newest: DateTime<Utc>) -> CameraStatus {
    let (first, bits) = vigia::day_bitmap::encode(days).expect("days");
    CameraStatus {
        camera: name.into(),
        oldest_recording: Some(to_timestamp(now() - CDuration::days(days.len() as i64))),
        newest_recording: Some(to_timestamp(newest)),
        newest_nonempty_recording: Some(to_timestamp(newest)),
        days_recorded: days.len() as u32,
        file_count: 24 * days.len() as u64,
        total_bytes: 1 << 36,
        first_day: format_day(first),
        day_bitmap: bits,
    }
}

/// Four cameras keeping 35 days, recording a minute ago, as a current probe reports them.
fn healthy() -> RecordingStatus {
    StatusBuilder::new(now())
        .site("loja")
        .zone(ZONE)
        .days(35)
        .cameras((1..=4).map(|i| format!("cam{i}")))
        .files(4 * 24 * 35, 1 << 38)
        .build()
}

fn kinds(v: &[Verdict]) -> Vec<VerdictKind> {
    v.iter().map(Verdict::kind).collect()
}

fn eval(s: &RecordingStatus) -> Vec<Verdict> {
    recorder_verdicts(s, now(), &Rules::default())
}

#[track_caller]
fn only(v: &[Verdict], kind: VerdictKind, camera: Option<&str>) -> Verdict {
    assert_eq!(kinds(v), vec![kind], "verdicts: {v:#?}");
    if let Some(c) = camera {
        assert_eq!(v[0].cameras, vec![c.to_string()], "{v:#?}");
        assert!(v[0].detail.contains(c), "{}", v[0].detail);
    }
    v[0].clone()
}

#[test]
fn healthy_four_cameras_are_ok() {
    only(&eval(&healthy()), VerdictKind::Ok, None);
}

#[test]
fn one_camera_keeping_five_days_is_short_retention_for_that_camera() {
    let mut s = healthy();
    s.cameras[1] = camera("cam2", &days_back(5), now() - CDuration::minutes(1));
    let v = only(&eval(&s), VerdictKind::ShortRetention, Some("cam2"));
    assert!(
        matches!(v.facts, Some(Facts::ShortRetention(ref f)) if f.days == 5 && f.required == 30)
    );
    // Exactly at the minimum: fine.
    s.cameras[1] = camera("cam2", &days_back(30), now() - CDuration::minutes(1));
    only(&eval(&s), VerdictKind::Ok, None);
}

#[test]
fn one_camera_down_three_days_last_week_is_gaps_for_that_camera() {
    let mut s = healthy();
    let mut days = days_back(35);
    let gone: Vec<NaiveDate> = days[25..28].to_vec();
    days.retain(|d| !gone.contains(d));
    s.cameras[2] = camera("cam3", &days, now() - CDuration::minutes(1));
    let v = only(&eval(&s), VerdictKind::Gaps, Some("cam3"));
    for d in &gone {
        assert!(v.detail.contains(&format_day(*d)), "{} lacks {d}", v.detail);
    }
}

#[test]
fn a_recorder_gap_is_named_once_not_again_per_camera() {
    let mut s = healthy();
    let gone = days_back(35)[10];
    s.recorded_days.retain(|d| *d != format_day(gone));
    s.days_recorded -= 1;
    for c in &mut s.cameras {
        let days: Vec<NaiveDate> = days_back(35).into_iter().filter(|d| *d != gone).collect();
        *c = camera(&c.camera, &days, now() - CDuration::minutes(1));
    }
    let v = only(&eval(&s), VerdictKind::Gaps, None);
    assert!(v.cameras.is_empty());
}

#[test]
fn empty_files_for_six_hours_are_not_writing_and_not_late() {
    let mut s = healthy();
    let six = to_timestamp(now() - CDuration::hours(6));
    s.newest_nonempty_recording = Some(six);
    for c in &mut s.cameras {
        c.newest_nonempty_recording = Some(six);
    }
    let v = only(&eval(&s), VerdictKind::NotWriting, None);
    assert!(v.detail.contains("no video"), "{}", v.detail);
    // One camera only: named.
    let mut s = healthy();
    s.cameras[3].newest_nonempty_recording = Some(six);
    only(&eval(&s), VerdictKind::NotWriting, Some("cam4"));
    // Every file empty from the start (no bytes at all).
    let mut s = healthy();
    s.newest_nonempty_recording = None;
    s.total_bytes = 0;
    s.cameras.clear();
    only(&eval(&s), VerdictKind::NotWriting, None);
}

#[test]
fn an_old_probe_without_per_camera_days_or_nonempty_times_is_judged_as_before() {
    let mut s = healthy();
    s.newest_nonempty_recording = None;
    for c in &mut s.cameras {
        c.newest_nonempty_recording = None;
        c.first_day.clear();
        c.day_bitmap.clear();
    }
    only(&eval(&s), VerdictKind::Ok, None);
    s.days_recorded = 20;
    s.recorded_days.drain(..15);
    only(&eval(&s), VerdictKind::ShortRetention, None);
}

#[test]
fn probe_two_hours_ahead_with_healthy_recordings_is_clock_skew_not_late() {
    let mut s = healthy();
    s.observed_at = Some(to_timestamp(now() + CDuration::hours(2)));
    let v = only(&eval(&s), VerdictKind::ClockSkew, None);
    assert!(v.detail.contains("2h"), "{}", v.detail);
}

#[test]
fn a_recorder_stopped_six_hours_ago_is_late_whatever_the_probe_clock() {
    for probe_off in [-2i64, 0, 2] {
        let mut s = healthy();
        let stopped = to_timestamp(now() - CDuration::hours(6));
        s.newest_recording = Some(stopped);
        s.newest_nonempty_recording = Some(stopped);
        for c in &mut s.cameras {
            c.newest_recording = Some(stopped);
            c.newest_nonempty_recording = Some(stopped);
        }
        s.observed_at = Some(to_timestamp(now() + CDuration::hours(probe_off)));
        let v = eval(&s);
        assert!(
            kinds(&v).contains(&VerdictKind::Late),
            "probe {probe_off:+}h: {v:#?}"
        );
        assert!(!kinds(&v).contains(&VerdictKind::CameraLate), "{v:#?}");
    }
}

#[test]
fn days_after_the_scan_are_clock_skew_never_recorded_days_or_gaps() {
    // The recorder's clock runs three days ahead: its recent files are dated in the future.
    let mut s = healthy();
    let future: Vec<NaiveDate> = (2..=3)
        .filter_map(|i| today().checked_add_days(Days::new(i)))
        .collect();
    for d in &future {
        s.recorded_days.push(format_day(*d));
    }
    s.days_recorded += future.len() as u32;
    s.newest_recording = Some(to_timestamp(now() + CDuration::days(3)));
    let v = only(&eval(&s), VerdictKind::ClockSkew, None);
    assert!(v.detail.contains(&format_day(future[0])), "{}", v.detail);
    // With 29 real days and future ones, the real days are what counts: short retention.
    s.recorded_days.drain(..6);
    s.days_recorded -= 6;
    let v = eval(&s);
    assert!(kinds(&v).contains(&VerdictKind::ShortRetention), "{v:#?}");
    assert!(!kinds(&v).contains(&VerdictKind::Gaps), "{v:#?}");
}

/// The same status as if scanned at `at` (every time moved with it).
fn scanned_at(s: &RecordingStatus, at: DateTime<Utc>) -> RecordingStatus {
    let by = at - now();
    let mv = |t: &mut Option<prost_types::Timestamp>| {
        if let Some(ts) = t {
            ts.seconds += by.num_seconds();
        }
    };
    let mut s = s.clone();
    mv(&mut s.observed_at);
    mv(&mut s.newest_recording);
    mv(&mut s.newest_nonempty_recording);
    for c in &mut s.cameras {
        mv(&mut c.newest_recording);
        mv(&mut c.newest_nonempty_recording);
    }
    s
}

fn entry(recorder: &str, camera: &str, last_seen: DateTime<Utc>) -> InventoryEntry {
    InventoryEntry {
        recorder: recorder.into(),
        camera: camera.into(),
        first_seen: Some(to_timestamp(now() - CDuration::days(60))),
        last_seen: Some(to_timestamp(last_seen)),
        present: false,
        retired_at: None,
    }
}

/// A site's verdicts with one recorder reporting now.
fn judge_one(s: &RecordingStatus, inventory: &[InventoryEntry]) -> Vec<Verdict> {
    let input = RecorderInput {
        status: s,
        received_at: now(),
    };
    site_verdicts(&site(vec![input], inventory), now(), &Rules::default())
}

fn site<'a>(recorders: Vec<RecorderInput<'a>>, inventory: &'a [InventoryEntry]) -> SiteInput<'a> {
    SiteInput {
        expected: true,
        retired: false,
        last_contact: Some(now()),
        report_interval: Some(Duration::from_secs(300)),
        recorders,
        inventory,
        last_drop: None,
    }
}

#[test]
fn a_known_camera_absent_from_the_scan_is_missing_until_retired() {
    let s = healthy();
    let seen = now() - CDuration::days(3);
    let mut inv = vec![entry("nvr", "", now()), entry("nvr", "cam5", seen)];
    let input = || RecorderInput {
        status: &s,
        received_at: now(),
    };
    let v = site_verdicts(&site(vec![input()], &inv), now(), &Rules::default());
    let f = only(&v, VerdictKind::CameraMissing, Some("cam5"));
    assert_eq!(f.since, Some(to_timestamp(seen)));
    inv[1].retired_at = Some(to_timestamp(now()));
    let v = site_verdicts(&site(vec![input()], &inv), now(), &Rules::default());
    only(&v, VerdictKind::Ok, None);
}

#[test]
fn a_camera_folder_left_without_files_is_missing() {
    let mut s = healthy();
    s.cameras[3].file_count = 0;
    s.cameras[3].first_day.clear();
    s.cameras[3].day_bitmap.clear();
    let inv = vec![
        entry("nvr", "", now()),
        entry("nvr", "cam4", now() - CDuration::days(1)),
    ];
    let v = judge_one(&s, &inv);
    only(&v, VerdictKind::CameraMissing, Some("cam4"));
}

#[test]
fn a_far_future_file_does_not_empty_a_cameras_days() {
    // One file dated 2099 anchors the bitmap there: the real days are unknown, not zero.
    let mut s = healthy();
    let far = NaiveDate::from_ymd_opt(2099, 1, 1).expect("day");
    let (first, bits) = vigia::day_bitmap::encode(&[far]).expect("day");
    s.cameras[0].first_day = format_day(first);
    s.cameras[0].day_bitmap = bits;
    let v = eval(&s);
    assert!(!kinds(&v).contains(&VerdictKind::ShortRetention), "{v:#?}");
    assert!(!kinds(&v).contains(&VerdictKind::Gaps), "{v:#?}");
}

#[test]
fn no_camera_missing_when_the_scan_saw_nothing() {
    let mut s = healthy();
    s.outcome = ScanOutcome::PathMissing as i32;
    s.cameras.clear();
    s.file_count = 0;
    let inv = vec![entry("nvr", "cam1", now())];
    let v = judge_one(&s, &inv);
    only(&v, VerdictKind::ScanError, None);
}

#[test]
fn a_recorder_no_longer_reported_is_silent_while_the_site_reports() {
    let a = healthy();
    let mut b = healthy();
    b.recorder = "dvr-old".into();
    let stale = now() - CDuration::hours(3);
    let edge = now() - CDuration::minutes(20);
    let b_edge = scanned_at(&b, edge);
    let b = scanned_at(&b, stale);
    let mut inv = vec![entry("nvr", "", now()), entry("dvr-old", "", stale)];
    let recs = || {
        vec![
            RecorderInput {
                status: &a,
                received_at: now(),
            },
            RecorderInput {
                status: &b,
                received_at: stale,
            },
        ]
    };
    let v = site_verdicts(&site(recs(), &inv), now(), &Rules::default());
    let f = only(&v, VerdictKind::RecorderSilent, None);
    assert_eq!(f.recorder, "dvr-old");
    // At interval + grace exactly: not yet.
    let recs_edge = vec![
        RecorderInput {
            status: &a,
            received_at: now(),
        },
        RecorderInput {
            status: &b_edge,
            received_at: edge,
        },
    ];
    only(
        &site_verdicts(&site(recs_edge, &inv), now(), &Rules::default()),
        VerdictKind::Ok,
        None,
    );
    inv[1].retired_at = Some(to_timestamp(now()));
    only(
        &site_verdicts(&site(recs(), &inv), now(), &Rules::default()),
        VerdictKind::Ok,
        None,
    );
}

#[test]
fn an_acknowledgement_covers_the_same_finding_until_it_expires_or_worsens() {
    let mut s = healthy();
    s.cameras[1].newest_recording = Some(to_timestamp(now() - CDuration::hours(5)));
    let then = eval(&s);
    only(&then, VerdictKind::CameraLate, Some("cam2"));
    let ack = Acknowledgement {
        who: "ops".into(),
        note: "camera replaced tomorrow".into(),
        until: Some(to_timestamp(now() + CDuration::hours(24))),
        at: Some(to_timestamp(now())),
    };
    let input = AckInput {
        kind: VerdictKind::CameraLate,
        recorder: "nvr",
        camera: "",
        ack: &ack,
        snapshot: &then,
    };
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    assert_eq!(v[0].acknowledgement.as_ref(), Some(&ack));
    // Expired: back.
    let mut v = eval(&s);
    apply(&mut v, &[input], now() + CDuration::hours(25));
    assert!(v[0].acknowledgement.is_none());
    // Another camera stops too: that one is not covered.
    s.cameras[2].newest_recording = Some(to_timestamp(now() - CDuration::hours(4)));
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    let covered: Vec<bool> = v.iter().map(|v| v.acknowledgement.is_some()).collect();
    assert_eq!(covered, vec![true, false], "{v:#?}");
    // A new outage of the acknowledged camera (it recorded, then stopped again): not covered.
    s.cameras[1].newest_recording = Some(to_timestamp(now() - CDuration::hours(3)));
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    assert!(v.iter().all(|v| v.acknowledgement.is_none()), "{v:#?}");
}

#[test]
fn an_acknowledged_retention_comes_back_when_fewer_days_remain() {
    let mut s = healthy();
    s.cameras[1] = camera("cam2", &days_back(10), now() - CDuration::minutes(1));
    let then = eval(&s);
    let ack = Acknowledgement {
        until: Some(to_timestamp(now() + CDuration::days(7))),
        ..Default::default()
    };
    let input = AckInput {
        kind: VerdictKind::ShortRetention,
        recorder: "nvr",
        camera: "cam2",
        ack: &ack,
        snapshot: &then,
    };
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    assert!(v[0].acknowledgement.is_some());
    s.cameras[1] = camera("cam2", &days_back(12), now() - CDuration::minutes(1));
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    assert!(v[0].acknowledgement.is_some(), "more days is not worse");
    s.cameras[1] = camera("cam2", &days_back(6), now() - CDuration::minutes(1));
    let mut v = eval(&s);
    apply(&mut v, &[input], now());
    assert!(v[0].acknowledgement.is_none(), "fewer days is worse");
}

#[test]
fn statuses_lost_from_a_full_spool_are_data_dropped_for_a_day() {
    let s = healthy();
    let judge = |last_drop| {
        let input = RecorderInput {
            status: &s,
            received_at: now(),
        };
        let mut site = site(vec![input], &[]);
        site.last_drop = last_drop;
        site_verdicts(&site, now(), &Rules::default())
    };
    let v = judge(Some((34, now() - CDuration::hours(2), 40)));
    let f = only(&v, VerdictKind::DataDropped, None);
    assert!(f.detail.contains("34 status(es) lost"), "{}", f.detail);
    only(
        &judge(Some((34, now() - CDuration::hours(25), 40))),
        VerdictKind::Ok,
        None,
    );
    only(&judge(None), VerdictKind::Ok, None);
}
