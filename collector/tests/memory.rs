//! The collector's memory of a site, through the real gRPC services and a real store: a camera
//! that vanishes is CAMERA_MISSING, a recorder no longer reported is RECORDER_SILENT, an operator
//! can retire either and acknowledge a finding until a time — and all of it survives a restart.

mod support;

use std::time::Duration;
use support::{healthy, probe_stream, Env};
use tonic::Code;
use vigia::days::to_timestamp;
use vigia::pb::{
    AcknowledgeRequest, GetSiteRequest, RecordingStatus, RetireCameraRequest,
    RetireRecorderRequest, SiteReport, VerdictKind,
};
use vigia::status_builder::StatusBuilder;
use vigia_collector::testkit::TestCollector;
use vigia_collector::Clock;

fn with_cameras(s: StatusBuilder, cams: &[&str]) -> RecordingStatus {
    s.technology(vigia::pb::Technology::Digifort)
        .cameras(cams.iter().copied())
        .build()
}

fn kinds(site: &SiteReport) -> Vec<VerdictKind> {
    site.verdicts.iter().map(|v| v.kind()).collect()
}

async fn get(c: &TestCollector, env: &Env, site: &str) -> SiteReport {
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    q.get_site(GetSiteRequest { site: site.into() })
        .await
        .expect("get")
        .into_inner()
}

/// A collector on a manual clock, on a new fleet and store.
async fn start() -> (Env, Clock, TestCollector) {
    let env = Env::new();
    let clock = Clock::manual(chrono::Utc::now());
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |_| {})
        .await
        .expect("start");
    (env, clock, c)
}

#[tokio::test]
async fn vanished_camera_and_dropped_recorder_until_retired_across_restarts() {
    let (env, clock, c) = start().await;
    let probe = env.fleet.probe("loja").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    let t0 = clock.now();
    s.send(with_cameras(
        healthy("loja", "nvr", 1, t0),
        &["cam1", "cam2"],
    ))
    .await;
    s.send(with_cameras(healthy("loja", "dvr", 2, t0), &["a"]))
        .await;
    for _ in 0..2 {
        s.next().await.expect("ack");
    }
    assert_eq!(kinds(&get(&c, &env, "loja").await), [VerdictKind::Ok]);

    // Half an hour later only nvr reports, and without cam2.
    clock.advance(Duration::from_secs(1800));
    let t1 = clock.now();
    s.send(with_cameras(healthy("loja", "nvr", 3, t1), &["cam1"]))
        .await;
    s.next().await.expect("ack");
    drop(s);
    let site = get(&c, &env, "loja").await;
    let mut k = kinds(&site);
    k.sort_by_key(|k| *k as i32);
    assert_eq!(
        k,
        [VerdictKind::CameraMissing, VerdictKind::RecorderSilent],
        "{site:#?}"
    );
    let missing = site
        .verdicts
        .iter()
        .find(|v| v.kind() == VerdictKind::CameraMissing)
        .expect("missing");
    assert_eq!(
        (missing.recorder.as_str(), missing.cameras.as_slice()),
        ("nvr", &["cam2".to_string()][..])
    );
    assert_eq!(
        missing.since.map(|t| t.seconds),
        Some(t0.timestamp()),
        "last seen in the first status"
    );
    let cam2 = site
        .inventory
        .iter()
        .find(|e| e.camera == "cam2")
        .expect("cam2 in the inventory");
    assert!(!cam2.present);
    // The same answer after a restart.
    let c = c.restart().await.expect("restart");
    let again = get(&c, &env, "loja").await;
    assert_eq!(kinds(&again).len(), 2, "{again:#?}");

    // Retiring needs a known name, and a reader certificate.
    let mut admin = c.admin_client(&env.fleet, "ops").await.expect("admin");
    let err = admin
        .retire_camera(RetireCameraRequest {
            site: "loja".into(),
            recorder: "nvr".into(),
            camera: "cam9".into(),
        })
        .await
        .expect_err("unknown camera");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("cam9"), "{}", err.message());
    let err = admin
        .retire_recorder(RetireRecorderRequest {
            site: "loja".into(),
            recorder: String::new(),
        })
        .await
        .expect_err("empty recorder");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("recorder"), "{}", err.message());

    let after = admin
        .retire_camera(RetireCameraRequest {
            site: "loja".into(),
            recorder: "nvr".into(),
            camera: "cam2".into(),
        })
        .await
        .expect("retire camera")
        .into_inner()
        .site
        .expect("site");
    assert_eq!(kinds(&after), [VerdictKind::RecorderSilent]);
    admin
        .retire_recorder(RetireRecorderRequest {
            site: "loja".into(),
            recorder: "dvr".into(),
        })
        .await
        .expect("retire recorder");
    let c = c.restart().await.expect("restart");
    let site = get(&c, &env, "loja").await;
    assert_eq!(kinds(&site), [VerdictKind::Ok], "{site:#?}");
    assert!(site
        .inventory
        .iter()
        .any(|e| e.recorder == "dvr" && e.camera.is_empty() && e.retired_at.is_some()));

    // The retired camera comes back: judged again, and no longer retired.
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(with_cameras(
        healthy("loja", "nvr", 4, clock.now()),
        &["cam1", "cam2"],
    ))
    .await;
    s.next().await.expect("ack");
    let site = get(&c, &env, "loja").await;
    let cam2 = site
        .inventory
        .iter()
        .find(|e| e.camera == "cam2")
        .expect("cam2");
    assert!(cam2.present && cam2.retired_at.is_none(), "{cam2:?}");
    c.stop().await;
}

#[tokio::test]
async fn an_acknowledgement_hides_until_it_expires_and_survives_a_restart() {
    let (env, clock, c) = start().await;
    let probe = env.fleet.probe("loja").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    let stopped = clock.now() - chrono::Duration::hours(5);
    let st = with_cameras(
        healthy("loja", "nvr", 1, clock.now()).camera_newest("cam2", stopped),
        &["cam1", "cam2"],
    );
    s.send(st).await;
    s.next().await.expect("ack");
    drop(s);

    let mut admin = c.admin_client(&env.fleet, "ops").await.expect("admin");
    let until = clock.now() + chrono::Duration::hours(24);
    let ack = |kind: VerdictKind, camera: &str, until: chrono::DateTime<chrono::Utc>| {
        AcknowledgeRequest {
            site: "loja".into(),
            kind: kind as i32,
            recorder: "nvr".into(),
            camera: camera.into(),
            until: Some(to_timestamp(until)),
            note: "camera replaced on Monday".into(),
            who: String::new(),
        }
    };
    // Bad requests name the field.
    let err = admin
        .acknowledge(ack(VerdictKind::Late, "", until))
        .await
        .expect_err("no such finding");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("VERDICT_KIND_LATE"),
        "{}",
        err.message()
    );
    let err = admin
        .acknowledge(ack(VerdictKind::CameraLate, "cam2", clock.now()))
        .await
        .expect_err("past");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("until"), "{}", err.message());
    let err = admin
        .acknowledge(ack(VerdictKind::Ok, "", until))
        .await
        .expect_err("OK");
    assert!(err.message().starts_with("kind"), "{}", err.message());

    let resp = admin
        .acknowledge(ack(VerdictKind::CameraLate, "cam2", until))
        .await
        .expect("acknowledge")
        .into_inner();
    assert_eq!(resp.covered, 1);
    let v = &resp.site.expect("site").verdicts[0];
    let a = v.acknowledgement.as_ref().expect("acknowledged");
    assert_eq!(
        (a.who.as_str(), a.note.as_str()),
        ("ops", "camera replaced on Monday")
    );

    let c = c.restart().await.expect("restart");
    let site = get(&c, &env, "loja").await;
    assert!(
        site.verdicts[0].acknowledgement.is_some(),
        "kept across a restart"
    );
    clock.advance(Duration::from_secs(25 * 3600));
    // A day later the site would be SILENT too; report again so only the camera remains.
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    let stopped = clock.now() - chrono::Duration::hours(29);
    let st = with_cameras(
        healthy("loja", "nvr", 2, clock.now()).camera_newest("cam2", stopped),
        &["cam1", "cam2"],
    );
    s.send(st).await;
    s.next().await.expect("ack");
    let site = get(&c, &env, "loja").await;
    assert_eq!(kinds(&site), [VerdictKind::CameraLate]);
    assert!(
        site.verdicts[0].acknowledgement.is_none(),
        "expired: the finding is back"
    );
    c.stop().await;
}
