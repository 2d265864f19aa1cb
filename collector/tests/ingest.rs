//! Ingest end to end: statuses over mutual TLS, acks only once durable, duplicates stored once,
//! bad statuses refused with the field named while other streams keep flowing.

mod support;

use support::{probe_stream, status, Env};
use tonic::Code;
use vigia::days::to_timestamp;
use vigia::pb::{CameraStatus, HistoryRequest, RecordingStatus};
use vigia_collector::store::Store;
use vigia_collector::testkit::TestCollector;
use vigia_collector::Clock;

#[tokio::test]
async fn acked_statuses_survive_a_restart_and_duplicates_are_stored_once() {
    let env = Env::new();
    let c = env.collector().await;
    let probe = env.fleet.probe("loja-1").expect("probe cert");
    let now = chrono::Utc::now();
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    for seq in 1..=50 {
        s.send(status(
            "loja-1",
            if seq % 2 == 0 { "nvr-a" } else { "nvr-b" },
            seq,
            now,
        ))
        .await;
    }
    for seq in 1..=50 {
        let ack = s.next().await.expect("ack");
        assert_eq!(ack.sequence, seq, "acks come in order");
        assert!(!ack.duplicate);
    }
    // Re-send the first ten, as a probe does after a reconnect.
    for seq in 1..=10 {
        s.send(status("loja-1", "nvr-b", seq, now)).await;
    }
    for seq in 1..=10 {
        let ack = s.next().await.expect("ack");
        assert_eq!(ack.sequence, seq);
        assert!(ack.duplicate, "sequence {seq} was stored before");
    }
    drop(s);
    let data = c.data_dir.clone();
    c.stop().await;

    let store = Store::open(&data, 8 << 20).expect("reopen store");
    assert_eq!(store.history_len("loja-1"), 50, "every acked status, once");
    let latest = store.latest("loja-1").expect("latest");
    assert_eq!(latest.len(), 2);
    let rec = store.site("loja-1").expect("site").expect("known");
    assert_eq!(rec.last_sequence, 50);
    drop(store);

    let c = TestCollector::start(&env.fleet, &data, |_| {})
        .await
        .expect("restart");
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let sites = support::list_sites(&mut q).await;
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].recorders.len(), 2);
    let page = q
        .history(HistoryRequest {
            site: "loja-1".into(),
            recorder: "nvr-a".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(page.entries.len(), 10);
    assert!(!page.next_page_token.is_empty());
    c.stop().await;
}

#[tokio::test]
async fn a_bad_status_is_refused_naming_the_field_and_other_streams_keep_flowing() {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.max_message_bytes = 64 * 1024;
    })
    .await
    .expect("start");
    let now = chrono::Utc::now();
    let good = env.fleet.probe("loja-2").expect("probe");
    let mut steady = probe_stream(&c, &good).await.expect("stream");
    steady.send(status("loja-2", "nvr", 1, now)).await;
    assert_eq!(steady.next().await.expect("ack").sequence, 1);

    let bad = env.fleet.probe("loja-1").expect("probe");
    let cases: Vec<(RecordingStatus, &str)> = vec![
        (
            RecordingStatus {
                recorder: String::new(),
                ..status("loja-1", "x", 2, now)
            },
            "recorder: empty",
        ),
        (
            RecordingStatus {
                recorded_days: vec!["2024-01-01".into(); 5000],
                ..status("loja-1", "nvr", 2, now)
            },
            "recorded_days: 5000 entries, at most 3660",
        ),
        (
            RecordingStatus {
                observed_at: None,
                ..status("loja-1", "nvr", 2, now)
            },
            "observed_at: missing",
        ),
        (
            RecordingStatus {
                technology: 0,
                ..status("loja-1", "nvr", 2, now)
            },
            "technology: ",
        ),
        (
            // Stored, this would have made every ListSites, GetSite and History fail for the
            // whole fleet (protobuf JSON refuses it when grpcurl prints it).
            RecordingStatus {
                report_interval: Some(prost_types::Duration {
                    seconds: 5,
                    nanos: -1,
                }),
                ..status("loja-1", "nvr", 2, now)
            },
            "report_interval: seconds 5 and nanos -1 disagree in sign",
        ),
        (
            RecordingStatus {
                scan_duration: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 1_000_000_000,
                }),
                ..status("loja-1", "nvr", 2, now)
            },
            "scan_duration: nanos 1000000000 out of range",
        ),
        (
            RecordingStatus {
                cameras: (0..1000)
                    .map(|i| CameraStatus {
                        camera: format!("{i:0>100}"),
                        ..Default::default()
                    })
                    .collect(),
                ..status("loja-1", "nvr", 2, now)
            },
            "max_message_bytes",
        ),
    ];
    let mut seq = 1;
    for (st, says) in cases {
        let mut s = probe_stream(&c, &bad).await.expect("stream");
        // One good status first: its ack must still arrive before the refusal.
        s.send(status("loja-1", "nvr", 1, now)).await;
        let st_seq = st.sequence;
        s.send(st).await;
        let ack = s.next().await.expect("the good status is acknowledged");
        assert_eq!(ack.sequence, 1);
        let e = s.next().await.expect_err("refused");
        assert_eq!(e.code(), Code::InvalidArgument, "{says}: {e:?}");
        let named = e
            .metadata()
            .get(vigia::pb::REFUSED_SEQUENCE_METADATA)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            named,
            Some(st_seq.to_string()),
            "{says}: the trailer names the status"
        );
        assert!(
            e.message().contains(says),
            "{says:?} not in {:?}",
            e.message()
        );

        // The other probe's stream is undisturbed.
        seq += 1;
        steady.send(status("loja-2", "nvr", seq, now)).await;
        let ack = steady.next().await.expect("other stream still flows");
        assert_eq!(ack.sequence, seq);
    }
    c.stop().await;
}

#[tokio::test]
async fn history_pages_newest_first_without_overlap() {
    let env = Env::new();
    let clock = Clock::manual(chrono::Utc::now() - chrono::Duration::hours(10));
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |_| {})
        .await
        .expect("start");
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    for seq in 1..=25u64 {
        let rec = if seq % 5 == 0 { "b" } else { "a" };
        s.send(status("loja-1", rec, seq, clock.now())).await;
        assert_eq!(s.next().await.expect("ack").sequence, seq);
        clock.advance(std::time::Duration::from_secs(60));
    }
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = q
            .history(HistoryRequest {
                site: "loja-1".into(),
                page_size: 7,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("history")
            .into_inner();
        assert!(page.entries.len() <= 7);
        seen.extend(
            page.entries
                .iter()
                .map(|e| e.status.as_ref().expect("status").sequence),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        (1..=25).rev().collect::<Vec<_>>(),
        "newest first, each once"
    );

    // One recorder, and a time range.
    let only_b = q
        .history(HistoryRequest {
            site: "loja-1".into(),
            recorder: "b".into(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    let seqs = sequences(&only_b);
    assert_eq!(seqs, [25, 20, 15, 10, 5]);
    let start = clock.now() - chrono::Duration::minutes(25);
    let ranged = q
        .history(HistoryRequest {
            site: "loja-1".into(),
            from: Some(to_timestamp(start + chrono::Duration::minutes(10))),
            to: Some(to_timestamp(start + chrono::Duration::minutes(12))),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    let seqs = sequences(&ranged);
    assert_eq!(seqs, [13, 12, 11]);

    let e = q
        .history(HistoryRequest {
            site: "loja-1".into(),
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("page_token"), "{}", e.message());
    let e = q
        .history(HistoryRequest::default())
        .await
        .expect_err("no site");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "site: empty");
    c.stop().await;
}

#[tokio::test]
async fn shutdown_is_bounded_while_probes_keep_streams_open() {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.shutdown_grace = std::time::Duration::from_secs(1);
    })
    .await
    .expect("start");
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
    assert_eq!(s.next().await.expect("ack").sequence, 1);
    let started = std::time::Instant::now();
    c.stop_result().await.expect("clean stop");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The open stream is told to go away rather than left hanging.
    let e = s.next().await.expect_err("stream closed");
    assert_ne!(e.code(), Code::Ok);
}

#[tokio::test]
async fn a_restart_on_the_same_address_keeps_the_store_and_closes_open_streams() {
    let env = Env::new();
    let addr = vigia_collector::testkit::reserve_addr().expect("addr");
    let c = TestCollector::start_on(&env.fleet, &env.data(), addr, |_| {})
        .await
        .expect("start");
    assert_eq!(c.addr, addr);
    let probe = env.fleet.probe("loja-1").expect("probe");
    let now = chrono::Utc::now();
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 1, now)).await;
    assert_eq!(s.next().await.expect("ack").sequence, 1);

    // The probe keeps its stream open across the restart.
    let c = tokio::time::timeout(support::STEP * 3, c.restart())
        .await
        .expect("restart is bounded")
        .expect("restart");
    assert_eq!(c.addr, addr, "same address");
    let e = s.next().await.expect_err("the old stream is closed");
    assert_ne!(e.code(), Code::Ok);

    let mut s = probe_stream(&c, &probe).await.expect("reconnect");
    s.send(status("loja-1", "nvr", 1, now)).await;
    s.send(status("loja-1", "nvr", 2, now)).await;
    let first = s.next().await.expect("ack");
    assert!(first.duplicate && first.sequence == 1, "{first:?}");
    let second = s.next().await.expect("ack");
    assert!(!second.duplicate && second.sequence == 2, "{second:?}");
    c.stop().await;
}

#[tokio::test]
async fn two_streams_of_one_probe_racing_the_same_sequences_store_each_once() {
    let env = Env::new();
    let c = env.collector().await;
    let probe = env.fleet.probe("loja-1").expect("probe");
    let now = chrono::Utc::now();
    // A reconnecting probe whose old connection is still alive: both replay the same spool.
    let mut a = probe_stream(&c, &probe).await.expect("stream a");
    let mut b = probe_stream(&c, &probe).await.expect("stream b");
    for seq in 1..=200u64 {
        let rec = if seq % 3 == 0 { "nvr-b" } else { "nvr-a" };
        a.send(status("loja-1", rec, seq, now)).await;
        b.send(status("loja-1", rec, seq, now)).await;
    }
    let mut stored_once = 0;
    for seq in 1..=200u64 {
        let x = a.next().await.expect("ack a");
        let y = b.next().await.expect("ack b");
        assert_eq!((x.sequence, y.sequence), (seq, seq));
        // Exactly one of the two stored it; the other was told it was a duplicate.
        assert!(x.duplicate != y.duplicate, "sequence {seq}: {x:?} {y:?}");
        stored_once += 1;
    }
    drop((a, b));
    let data = c.data_dir.clone();
    c.stop().await;
    let store = Store::open(&data, 8 << 20).expect("reopen");
    assert_eq!(store.history_len("loja-1"), stored_once);
    let latest = store.latest("loja-1").expect("latest");
    let seqs: Vec<u64> = latest
        .iter()
        .map(|e| e.status.as_ref().expect("s").sequence)
        .collect();
    assert_eq!(seqs.len(), 2);
}

#[tokio::test]
async fn recordings_dated_before_1970_or_far_ahead_are_stored_and_flagged_clock_skew() {
    let env = Env::new();
    let c = env.collector().await;
    let now = chrono::Utc::now();
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    let ancient = chrono::DateTime::parse_from_rfc3339("1969-07-20T20:17:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    s.send(RecordingStatus {
        oldest_recording: Some(to_timestamp(ancient)),
        ..status("loja-1", "nvr", 1, now)
    })
    .await;
    assert_eq!(s.next().await.expect("pre-1970 accepted").sequence, 1);
    let future = now + chrono::Duration::days(365 * 80);
    s.send(RecordingStatus {
        newest_recording: Some(to_timestamp(future)),
        ..status("loja-1", "nvr", 2, now)
    })
    .await;
    assert_eq!(s.next().await.expect("far future accepted").sequence, 2);
    // Outside what a protobuf Timestamp may hold is still refused, naming the field.
    s.send(RecordingStatus {
        newest_recording: Some(prost_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        }),
        ..status("loja-1", "nvr", 3, now)
    })
    .await;
    let e = s.next().await.expect_err("year 10000 refused");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("newest_recording"), "{}", e.message());

    let mut q = c.query_client(&env.fleet, "ops").await.expect("reader");
    let sites = support::list_sites(&mut q).await;
    let site = sites.iter().find(|x| x.site == "loja-1").expect("site");
    assert!(
        site.verdicts
            .iter()
            .any(|v| v.kind() == vigia::pb::VerdictKind::ClockSkew),
        "{:?}",
        site.verdicts
    );
    c.stop().await;
}

/// The sequences of a History page, newest first.
fn sequences(page: &vigia::pb::HistoryResponse) -> Vec<u64> {
    page.entries
        .iter()
        .map(|e| e.status.as_ref().expect("status").sequence)
        .collect()
}
