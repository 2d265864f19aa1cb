//! Each verdict fires just past its threshold and not at it; per-site overrides win.

use chrono::{DateTime, Duration as CDuration, Utc};
use std::time::Duration;
use vigia::days::to_timestamp;
use vigia::pb::{RecordingStatus, ScanError, ScanOutcome, Verdict, VerdictKind};
use vigia::rules::{
    recorder_verdicts, site_verdicts, worst, RecorderInput, RuleOverrides, Rules, SiteInput,
};
use vigia::status_builder::StatusBuilder;
use vigia::units::ByteSize;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// A healthy status: 30 consecutive days up to the scan, newest a minute old, plenty of disk;
/// one camera, as a probe from before per-camera days reports it.
fn healthy() -> RecordingStatus {
    StatusBuilder::new(now())
        .cameras(["cam1"])
        .legacy_probe()
        .files(1000, 1 << 40)
        .build()
}

fn kinds(v: &[Verdict]) -> Vec<VerdictKind> {
    v.iter().map(Verdict::kind).collect()
}

#[track_caller]
fn assert_only(v: &[Verdict], kind: VerdictKind) {
    assert_eq!(kinds(v), vec![kind], "verdicts: {v:?}");
}

fn eval(s: &RecordingStatus) -> Vec<Verdict> {
    recorder_verdicts(s, now(), &Rules::default())
}

#[test]
fn healthy_is_ok() {
    assert_only(&eval(&healthy()), VerdictKind::Ok);
}

#[test]
fn late_fires_past_two_hours_not_at() {
    let mut s = healthy();
    let newest = now() - CDuration::hours(2);
    s.newest_recording = Some(to_timestamp(newest));
    s.cameras.clear();
    assert_only(&eval(&s), VerdictKind::Ok);
    s.newest_recording = Some(to_timestamp(newest - CDuration::seconds(1)));
    let v = eval(&s);
    assert_only(&v, VerdictKind::Late);
    assert!(v[0].detail.contains("2h"), "{}", v[0].detail);
    assert_eq!(v[0].recorder, "nvr");
    assert!(v[0].since.is_some());
}

#[test]
fn short_retention_fires_under_minimum_not_at() {
    let mut s = healthy();
    s.days_recorded = 30;
    assert_only(&eval(&s), VerdictKind::Ok);
    s.days_recorded = 29;
    s.recorded_days.remove(0);
    let v = eval(&s);
    assert_only(&v, VerdictKind::ShortRetention);
    assert!(
        v[0].detail.contains("29") && v[0].detail.contains("30"),
        "{}",
        v[0].detail
    );
}

#[test]
fn gaps_fire_on_a_missing_day_only() {
    let mut s = healthy();
    let removed = s.recorded_days.remove(10);
    s.days_recorded = 30; // keep retention fine to isolate GAPS
    let v = eval(&s);
    assert_only(&v, VerdictKind::Gaps);
    assert!(v[0].detail.contains(&removed), "{}", v[0].detail);
    // Removing the oldest day is not a gap (retention is another verdict).
    let mut s = healthy();
    s.recorded_days.remove(0);
    assert!(!kinds(&eval(&s)).contains(&VerdictKind::Gaps));
}

#[test]
fn camera_late_names_the_camera() {
    let mut s = healthy();
    let mut dead = s.cameras[0].clone();
    dead.camera = "cam2".into();
    dead.newest_recording = Some(to_timestamp(now() - CDuration::hours(2)));
    s.cameras.push(dead.clone());
    assert_only(&eval(&s), VerdictKind::Ok);
    s.cameras[1].newest_recording = Some(to_timestamp(
        now() - CDuration::hours(2) - CDuration::seconds(1),
    ));
    let v = eval(&s);
    assert_only(&v, VerdictKind::CameraLate);
    assert_eq!(v[0].cameras, vec!["cam2".to_string()]);
    assert!(v[0].detail.contains("cam2"), "{}", v[0].detail);
}

#[test]
fn disk_low_by_bytes_and_by_percent() {
    let mut s = healthy();
    s.disk_free_bytes = 1 << 30; // exactly the 1 GiB default
    assert_only(&eval(&s), VerdictKind::Ok);
    s.disk_free_bytes = (1 << 30) - 1;
    assert_only(&eval(&s), VerdictKind::DiskLow);

    let rules = Rules {
        disk_min_free: ByteSize::Percent(10.0),
        ..Rules::default()
    };
    s.disk_total_bytes = 1000 * (1 << 20);
    s.disk_free_bytes = 100 * (1 << 20);
    assert_only(&recorder_verdicts(&s, now(), &rules), VerdictKind::Ok);
    s.disk_free_bytes -= 1;
    let v = recorder_verdicts(&s, now(), &rules);
    assert_only(&v, VerdictKind::DiskLow);
    assert!(v[0].detail.contains("10%"), "{}", v[0].detail);
}

#[test]
fn scan_error_for_each_bad_outcome() {
    for (outcome, says) in [
        (ScanOutcome::PathMissing, "does not exist"),
        (ScanOutcome::PermissionDenied, "cannot be read"),
        (ScanOutcome::Empty, "no recording files"),
        (ScanOutcome::Partial, "unreadable"),
    ] {
        let mut s = healthy();
        s.root_path = "D:\\Intelbras\\LocalRecording".into();
        s.outcome = outcome as i32;
        s.errors.push(ScanError {
            path: "D:\\Intelbras\\LocalRecording\\2026".into(),
            reason: "access denied".into(),
        });
        if outcome != ScanOutcome::Partial {
            s.file_count = 0;
        }
        let v = eval(&s);
        assert_only(&v, VerdictKind::ScanError);
        assert!(v[0].detail.contains(says), "{outcome:?}: {}", v[0].detail);
    }
}

#[test]
fn clock_skew_probe_ahead_and_future_or_ancient_files() {
    let mut s = healthy();
    // Probe clock 5 minutes ahead of arrival: tolerated. One second more: skew.
    let received = now() - CDuration::minutes(5);
    assert_only(
        &recorder_verdicts(&s, received, &Rules::default()),
        VerdictKind::Ok,
    );
    let received = received - CDuration::seconds(1);
    let v = recorder_verdicts(&s, received, &Rules::default());
    assert_only(&v, VerdictKind::ClockSkew);
    assert!(v[0].detail.contains("ahead"), "{}", v[0].detail);

    s.newest_recording = Some(to_timestamp(now() + CDuration::minutes(5)));
    assert_only(&eval(&s), VerdictKind::Ok);
    s.newest_recording = Some(to_timestamp(
        now() + CDuration::minutes(5) + CDuration::seconds(1),
    ));
    assert_only(&eval(&s), VerdictKind::ClockSkew);

    let mut s = healthy();
    s.oldest_recording = Some(to_timestamp(
        DateTime::parse_from_rfc3339("1969-12-31T23:00:00Z")
            .expect("time")
            .with_timezone(&Utc),
    ));
    let v = eval(&s);
    assert_only(&v, VerdictKind::ClockSkew);
    assert!(v[0].detail.contains("1969"), "{}", v[0].detail);
}

#[test]
fn silent_fires_past_interval_plus_grace() {
    let s = healthy();
    let interval = Duration::from_secs(300);
    let grace = Rules::default().silent_grace;
    let at = |last: DateTime<Utc>| {
        let site = SiteInput {
            expected: true,
            retired: false,
            last_contact: Some(last),
            report_interval: Some(interval),
            recorders: vec![RecorderInput {
                status: &s,
                received_at: now(),
            }],
            inventory: &[],
            last_drop: None,
        };
        site_verdicts(&site, now(), &Rules::default())
    };
    let edge = now() - CDuration::from_std(interval + grace).expect("dur");
    assert_only(&at(edge), VerdictKind::Ok);
    let v = at(edge - CDuration::seconds(1));
    assert_only(&v, VerdictKind::Silent);
    assert!(v[0].detail.contains("20m"), "{}", v[0].detail);
}

#[test]
fn never_reported_only_for_expected_sites() {
    let expected = SiteInput {
        expected: true,
        ..Default::default()
    };
    assert_only(
        &site_verdicts(&expected, now(), &Rules::default()),
        VerdictKind::NeverReported,
    );
    let unknown = SiteInput::default();
    assert_only(
        &site_verdicts(&unknown, now(), &Rules::default()),
        VerdictKind::Ok,
    );
    let retired = SiteInput {
        expected: true,
        retired: true,
        ..Default::default()
    };
    assert!(site_verdicts(&retired, now(), &Rules::default()).is_empty());
}

#[test]
fn site_collects_every_recorders_problems() {
    let a = healthy();
    let mut b = healthy();
    b.recorder = "dvr2".into();
    b.days_recorded = 3;
    let site = SiteInput {
        expected: true,
        retired: false,
        last_contact: Some(now()),
        report_interval: Some(Duration::from_secs(300)),
        recorders: vec![
            RecorderInput {
                status: &a,
                received_at: now(),
            },
            RecorderInput {
                status: &b,
                received_at: now(),
            },
        ],
        inventory: &[],
        last_drop: None,
    };
    let v = site_verdicts(&site, now(), &Rules::default());
    assert_only(&v, VerdictKind::ShortRetention);
    assert_eq!(v[0].recorder, "dvr2");
    assert_eq!(worst(&v), VerdictKind::ShortRetention);
}

#[test]
fn per_site_override_wins_over_global() {
    let global = Rules::default();
    let o = RuleOverrides {
        min_retention_days: Some(7),
        late_after: Some(Duration::from_secs(3600 * 24)),
        ..Default::default()
    };
    let site_rules = global.with_overrides(&o);
    assert_eq!(site_rules.min_retention_days, 7);
    assert_eq!(site_rules.late_after, Duration::from_secs(86_400));
    assert_eq!(site_rules.silent_grace, global.silent_grace);

    let mut s = healthy();
    s.days_recorded = 10;
    s.newest_recording = Some(to_timestamp(now() - CDuration::hours(5)));
    s.cameras.clear();
    let under_global = kinds(&recorder_verdicts(&s, now(), &global));
    assert!(under_global.contains(&VerdictKind::ShortRetention));
    assert!(under_global.contains(&VerdictKind::Late));
    assert_only(&recorder_verdicts(&s, now(), &site_rules), VerdictKind::Ok);
}

#[test]
fn camera_late_is_not_repeated_when_the_whole_recorder_is_late() {
    let mut s = healthy();
    let old = Some(to_timestamp(now() - CDuration::hours(6)));
    s.newest_recording = old;
    s.cameras[0].newest_recording = old;
    assert_only(&eval(&s), VerdictKind::Late);
}
