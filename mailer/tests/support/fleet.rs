//! Fixed fleets built from the wire types, with verdicts computed by the root crate's rules
//! exactly as the collector computes them. Shared by the tests and the render benchmark.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use vigia::days::{format_day, last_n_days, local_date, parse_tz, to_timestamp};
use vigia::pb::{
    Acknowledgement, CameraStatus, InventoryEntry, ListSitesResponse, RecorderReport,
    RecordingStatus, ScanError, ScanOutcome, SiteReport, SiteState, Technology, VerdictKind,
};
use vigia::rules::{recorder_verdicts, site_verdicts, RecorderInput, Rules, SiteInput};
use vigia::status_builder::StatusBuilder;

/// The fixed instant of every snapshot: 07:00 in São Paulo on 28/11/2026.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
}

/// The probes' zone.
pub const ZONE: &str = "America/Sao_Paulo";

/// A healthy recorder status: `days` days of recordings ending a few minutes before `now`.
pub fn status(site: &str, recorder: &str, tech: Technology, days: u32) -> RecordingStatus {
    status_at(site, recorder, tech, days, now())
}

/// The same status as seen at another instant (for a live collector, the real clock).
pub fn status_at(
    site: &str,
    recorder: &str,
    tech: Technology,
    days: u32,
    now: DateTime<Utc>,
) -> RecordingStatus {
    let newest = now - Duration::minutes(5);
    let oldest = newest - Duration::days(i64::from(days.saturating_sub(1))) - Duration::hours(9);
    let status = StatusBuilder::new(now - Duration::minutes(2))
        .site(site)
        .recorder(recorder)
        .technology(tech)
        .zone(ZONE)
        .days(days)
        .newest(newest)
        .oldest(oldest)
        .files(u64::from(days) * 96, u64::from(days) * 40_000_000_000)
        .disk(800_000_000_000, 4_000_000_000_000)
        .build();
    RecordingStatus {
        probe_version: "0.1.0".into(),
        hostname: format!("{site}-pc"),
        root_path: "D:\\Gravacoes".into(),
        scan_duration: Some(prost_types::Duration {
            seconds: 3,
            nanos: 0,
        }),
        ..status
    }
}

/// A site report with verdicts as the collector would compute them at `now`.
pub fn site(
    name: &str,
    statuses: Vec<RecordingStatus>,
    last_contact: Option<DateTime<Utc>>,
    note: &str,
) -> SiteReport {
    site_with(name, statuses, last_contact, note, Vec::new())
}

/// [`site`] with what the collector remembers of the site's recorders and cameras.
pub fn site_with(
    name: &str,
    statuses: Vec<RecordingStatus>,
    last_contact: Option<DateTime<Utc>>,
    note: &str,
    inventory: Vec<InventoryEntry>,
) -> SiteReport {
    let rules = Rules::default();
    let now = now();
    let received = |s: &RecordingStatus| {
        s.observed_at
            .as_ref()
            .and_then(vigia::days::from_timestamp)
            .unwrap_or(now)
    };
    let inputs: Vec<RecorderInput<'_>> = statuses
        .iter()
        .map(|s| RecorderInput {
            status: s,
            received_at: received(s),
        })
        .collect();
    let verdicts = site_verdicts(
        &SiteInput {
            expected: true,
            retired: false,
            last_contact,
            report_interval: Some(std::time::Duration::from_secs(300)),
            recorders: inputs.clone(),
            inventory: &inventory,
            last_drop: None,
        },
        now,
        &rules,
    );
    let recorders = statuses
        .iter()
        .map(|s| RecorderReport {
            status: Some(s.clone()),
            received_at: Some(to_timestamp(received(s))),
            verdicts: recorder_verdicts(s, received(s), &rules),
        })
        .collect();
    SiteReport {
        site: name.into(),
        state: if last_contact.is_some() {
            SiteState::Active as i32
        } else {
            SiteState::Expected as i32
        },
        first_contact: last_contact.map(|t| to_timestamp(t - Duration::days(60))),
        last_contact: last_contact.map(to_timestamp),
        last_sequence: 1,
        report_interval: Some(prost_types::Duration {
            seconds: 300,
            nanos: 0,
        }),
        recorders,
        verdicts,
        min_retention_days: rules.min_retention_days,
        note: note.into(),
        inventory,
    }
}

/// A camera of `status` that recorded on `days` days, the last of them `stopped_days_ago` days
/// before the recorder's newest day, with its day bitmap as a current probe sends it.
pub fn camera(
    status: &RecordingStatus,
    name: &str,
    days: u32,
    stopped_days_ago: u32,
) -> CameraStatus {
    let tz = parse_tz(ZONE).expect("zone");
    let newest = status
        .newest_recording
        .as_ref()
        .and_then(vigia::days::from_timestamp)
        .expect("newest recording")
        - Duration::days(i64::from(stopped_days_ago));
    let recorded = last_n_days(local_date(newest, tz), days);
    let (first, bitmap) = vigia::day_bitmap::encode(&recorded).expect("days");
    CameraStatus {
        camera: name.into(),
        oldest_recording: status.oldest_recording,
        newest_recording: Some(to_timestamp(newest)),
        days_recorded: days,
        file_count: u64::from(days) * 24,
        total_bytes: u64::from(days) * 1_000_000_000,
        newest_nonempty_recording: Some(to_timestamp(newest)),
        first_day: format_day(first),
        day_bitmap: bitmap,
    }
}

/// Marks a site's findings of `kind` acknowledged by `who` until `until`, as the collector does.
pub fn acknowledge(
    site: &mut SiteReport,
    kind: VerdictKind,
    who: &str,
    note: &str,
    until: DateTime<Utc>,
) {
    let ack = Acknowledgement {
        who: who.into(),
        note: note.into(),
        until: Some(to_timestamp(until)),
        at: Some(to_timestamp(now() - Duration::days(1))),
    };
    let verdicts = site.verdicts.iter_mut().chain(
        site.recorders
            .iter_mut()
            .flat_map(|r| r.verdicts.iter_mut()),
    );
    for v in verdicts.filter(|v| v.kind() == kind) {
        v.acknowledgement = Some(ack.clone());
    }
}

fn recent() -> Option<DateTime<Utc>> {
    Some(now() - Duration::minutes(2))
}

/// One site per verdict (and a two-recorder site), as the snapshots show them.
pub fn fixed_fleet() -> ListSitesResponse {
    let now = now();
    let mut sites = Vec::new();

    sites.push(site(
        "loja-ok",
        vec![status("loja-ok", "nvr", Technology::Intelbras, 45)],
        recent(),
        "",
    ));

    let mut late = status("loja-late", "nvr", Technology::Intelbras, 40);
    late.newest_recording = Some(to_timestamp(now - Duration::hours(7)));
    sites.push(site("loja-late", vec![late], recent(), "Cliente Exemplo"));

    let short = status("loja-short", "nvr", Technology::Ivms, 12);
    sites.push(site("loja-short", vec![short], recent(), ""));

    let mut gaps = status("loja-gaps", "nvr", Technology::Intelbras, 40);
    for d in ["2026-11-10", "2026-11-11", "2026-11-20"] {
        gaps.recorded_days.retain(|x| x != d);
    }
    gaps.days_recorded = gaps.recorded_days.len() as u32;
    sites.push(site("loja-gaps", vec![gaps], recent(), ""));

    let mut cams = status("loja-camera", "digifort", Technology::Digifort, 35);
    cams.cameras = vec![
        camera(&cams, "entrada", 35, 0),
        camera(&cams, "doca", 33, 2),
    ];
    sites.push(site("loja-camera", vec![cams], recent(), ""));

    let mut disk = status("loja-disk", "nvr", Technology::Generic, 31);
    disk.disk_free_bytes = 500 * 1024 * 1024;
    disk.disk_total_bytes = 2 * 1024 * 1024 * 1024 * 1024;
    sites.push(site("loja-disk", vec![disk], recent(), ""));

    let mut scan = status("loja-scan", "nvr", Technology::Intelbras, 0);
    scan.outcome = ScanOutcome::PathMissing as i32;
    scan.file_count = 0;
    scan.total_bytes = 0;
    scan.days_recorded = 0;
    scan.recorded_days.clear();
    scan.oldest_recording = None;
    scan.newest_recording = None;
    scan.root_path = "E:\\NVR".into();
    scan.errors = vec![ScanError {
        path: "E:\\NVR".into(),
        reason: "not found".into(),
    }];
    sites.push(site("loja-scan", vec![scan], recent(), ""));

    let mut silent = status("loja-silent", "nvr", Technology::Intelbras, 38);
    let last = now - Duration::hours(6);
    silent.observed_at = Some(to_timestamp(last));
    silent.newest_recording = Some(to_timestamp(last - Duration::minutes(3)));
    sites.push(site("loja-silent", vec![silent], Some(last), ""));

    sites.push(site("loja-never", vec![], None, "Filial nova"));

    let mut skew = status("loja-skew", "nvr", Technology::Intelbras, 33);
    skew.newest_recording = Some(to_timestamp(now + Duration::hours(1)));
    sites.push(site("loja-skew", vec![skew], recent(), ""));

    let a = status("loja-multi", "andar-1", Technology::Ivms, 60);
    let mut b = status("loja-multi", "andar-2", Technology::Ivms, 31);
    b.newest_recording = Some(to_timestamp(now - Duration::hours(3)));
    sites.push(site("loja-multi", vec![a, b], recent(), ""));

    sites.sort_by(|a, b| a.site.cmp(&b.site));
    ListSitesResponse {
        next_page_token: String::new(),
        sites,
        evaluated_at: Some(to_timestamp(now)),
    }
}

/// The fixed fleet and a site for each remaining kind (CAMERA_MISSING, RECORDER_SILENT,
/// NOT_WRITING), a site whose only finding is acknowledged and a problem site with an
/// acknowledged finding beside an open one: every verdict kind and both sections.
pub fn every_kind_fleet() -> ListSitesResponse {
    let now = now();
    let mut fleet = fixed_fleet();
    let sites = &mut fleet.sites;

    let mut gone = status("loja-missing", "digifort", Technology::Digifort, 35);
    gone.cameras = vec![camera(&gone, "entrada", 35, 0)];
    let seen = |camera: &str, present: bool, last: DateTime<Utc>| InventoryEntry {
        recorder: "digifort".into(),
        camera: camera.into(),
        first_seen: Some(to_timestamp(now - Duration::days(90))),
        last_seen: Some(to_timestamp(last)),
        present,
        retired_at: None,
    };
    let inventory = vec![
        seen("", true, now),
        seen("entrada", true, now),
        seen("portao", false, now - Duration::days(3)),
    ];
    sites.push(site_with(
        "loja-missing",
        vec![gone],
        recent(),
        "",
        inventory,
    ));

    let fresh = status("loja-dropped", "nvr-1", Technology::Intelbras, 40);
    let mut stale = status("loja-dropped", "nvr-2", Technology::Intelbras, 40);
    stale.observed_at = Some(to_timestamp(now - Duration::hours(3)));
    stale.newest_recording = Some(to_timestamp(
        now - Duration::hours(3) - Duration::minutes(3),
    ));
    sites.push(site("loja-dropped", vec![fresh, stale], recent(), ""));

    let mut empty = status("loja-empty", "nvr", Technology::Intelbras, 40);
    empty.newest_nonempty_recording = Some(to_timestamp(now - Duration::hours(6)));
    sites.push(site("loja-empty", vec![empty], recent(), ""));

    let mut holes = status("loja-acked", "nvr", Technology::Intelbras, 40);
    holes.recorded_days.retain(|d| d != "2026-11-19");
    holes.days_recorded = holes.recorded_days.len() as u32;
    let mut acked = site("loja-acked", vec![holes], recent(), "");
    acknowledge(
        &mut acked,
        VerdictKind::Gaps,
        "ana",
        "disk replaced on 19/11, the day is lost",
        now + Duration::days(5),
    );
    sites.push(acked);

    let mut dock = status("loja-dock", "digifort", Technology::Digifort, 35);
    dock.cameras = vec![camera(&dock, "patio", 35, 0), camera(&dock, "rampa", 31, 4)];
    dock.disk_free_bytes = 300 * 1024 * 1024;
    let mut mixed = site("loja-dock", vec![dock], recent(), "");
    acknowledge(
        &mut mixed,
        VerdictKind::DiskLow,
        "bruno",
        "new disk ordered",
        now + Duration::days(2),
    );
    sites.push(mixed);

    sites.sort_by(|a, b| a.site.cmp(&b.site));
    fleet
}

/// `n` sites, one in `problem_every` with a problem (rotating through the kinds), the rest healthy.
pub fn big_fleet(n: usize, problem_every: usize) -> ListSitesResponse {
    let fixed = fixed_fleet();
    let problems: Vec<&SiteReport> = fixed.sites.iter().filter(|s| s.site != "loja-ok").collect();
    let healthy = fixed
        .sites
        .iter()
        .find(|s| s.site == "loja-ok")
        .expect("healthy site");
    let mut sites = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = if problem_every > 0 && i % problem_every == 0 {
            problems[(i / problem_every) % problems.len()].clone()
        } else {
            healthy.clone()
        };
        s.site = format!("site-{i:05}");
        for r in &mut s.recorders {
            if let Some(st) = r.status.as_mut() {
                st.site = s.site.clone();
            }
        }
        sites.push(s);
    }
    ListSitesResponse {
        next_page_token: String::new(),
        sites,
        evaluated_at: fixed.evaluated_at,
    }
}
