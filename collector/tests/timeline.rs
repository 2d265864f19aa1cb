//! Query/Timeline over a real mTLS gRPC server: a site's verdict intervals from its history
//! (OK, a recorder LATE, the site SILENT through a gap in its reports), paged, equal to the
//! rules applied to the stream sent; requests are validated naming the field.

mod support;

use std::time::Duration;
use support::{probe_stream, status, Env};
use tonic::Code;
use vigia::days::to_timestamp;
use vigia::pb::{HistoryEntry, TimelineRequest, VerdictInterval, VerdictKind};
use vigia_collector::testkit::TestCollector;
use vigia_collector::timeline::{evaluate, instant, nanos, stitch};
use vigia_collector::Clock;

fn nanos_of(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref()
        .map(|t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
        .unwrap_or_default()
}

#[tokio::test]
async fn timeline_answers_each_verdicts_intervals_paged_and_validates_requests() {
    let env = Env::new();
    let t0 = chrono::Utc::now() - chrono::Duration::days(1);
    let clock = Clock::manual(t0);
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |_| {})
        .await
        .expect("start");
    let probe = env.fleet.probe("loja").expect("probe");
    let mut stream = probe_stream(&c, &probe).await.expect("stream");
    let mut sent = Vec::new();
    let mut sequence = 0;
    let mut send = |sequence: u64, late: bool| {
        let now = clock.now();
        let mut s = status("loja", "nvr", sequence, now);
        if late {
            s.newest_recording = Some(to_timestamp(now - chrono::Duration::hours(3)));
        }
        sent.push(HistoryEntry {
            status: Some(s.clone()),
            received_at: Some(to_timestamp(now)),
        });
        s
    };
    // An hour of reports, an hour of silence, a late scan, then two healthy ones.
    let mut plan = vec![false; 12];
    plan.extend([true, false, false]);
    for (i, late) in plan.into_iter().enumerate() {
        if i == 12 {
            clock.advance(Duration::from_secs(3600));
        }
        sequence += 1;
        stream.send(send(sequence, late)).await;
        assert_eq!(stream.next().await.expect("ack").sequence, sequence);
        clock.advance(Duration::from_secs(300));
    }
    let end = clock.now();

    let mut query = c.query_client(&env.fleet, "ops").await.expect("query");
    let from = t0 - chrono::Duration::hours(1);
    let whole = query
        .timeline(TimelineRequest {
            site: "loja".into(),
            from: Some(to_timestamp(from)),
            ..Default::default()
        })
        .await
        .expect("timeline")
        .into_inner();
    assert_eq!(nanos_of(&whole.to), nanos(end), "to unset: now");
    assert!(whole.next_page_token.is_empty());
    let got: Vec<(VerdictKind, String, i64, i64)> = whole
        .intervals
        .iter()
        .map(|i| {
            (
                i.kind(),
                i.recorder.clone(),
                nanos_of(&i.start),
                nanos_of(&i.end),
            )
        })
        .collect();
    let at = |i: usize| {
        sent.get(i)
            .and_then(vigia_collector::store::received_at)
            .map(nanos)
            .unwrap_or_default()
    };
    let quiet = Duration::from_secs(300 + 15 * 60).as_nanos() as i64;
    assert!(
        got.contains(&(
            VerdictKind::Silent,
            String::new(),
            at(11) + quiet + 1,
            at(12)
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(VerdictKind::Late, "nvr".into(), at(12), at(13))),
        "{got:?}"
    );
    assert!(got.contains(&(VerdictKind::Ok, String::new(), at(13), nanos(end))));
    assert_eq!(
        got.first().map(|g| g.2),
        Some(at(0)),
        "nothing before the first report"
    );
    let rules = c.running_config().rules_for("loja");
    let reference = stitch(
        evaluate(
            &sent,
            from,
            instant(nanos(end)),
            &rules,
            Duration::from_secs(300),
        ),
        nanos(from),
        nanos(end),
    );
    let expected: Vec<(VerdictKind, String, i64, i64)> = reference
        .iter()
        .map(|f| {
            (
                VerdictKind::try_from(f.subject.0).unwrap_or_default(),
                f.subject.1.clone(),
                f.start,
                f.end,
            )
        })
        .collect();
    assert_eq!(got, expected);

    // In pages of two, evaluated to the same end even though the clock moves on.
    let mut paged: Vec<VerdictInterval> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = query
            .timeline(TimelineRequest {
                site: "loja".into(),
                from: Some(to_timestamp(from)),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.intervals.len() <= 2);
        paged.extend(page.intervals);
        pages += 1;
        clock.advance(Duration::from_secs(3600));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(pages > 1);
    assert_eq!(paged, whole.intervals);

    let refused = |req: TimelineRequest, field: &'static str| {
        let mut q = query.clone();
        async move {
            let e = q.timeline(req).await.expect_err("refused");
            assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
            assert!(e.message().starts_with(field), "{field}: {}", e.message());
        }
    };
    let base = TimelineRequest {
        site: "loja".into(),
        from: Some(to_timestamp(from)),
        ..Default::default()
    };
    refused(
        TimelineRequest {
            site: String::new(),
            ..base.clone()
        },
        "site",
    )
    .await;
    refused(
        TimelineRequest {
            from: None,
            ..base.clone()
        },
        "from",
    )
    .await;
    refused(
        TimelineRequest {
            to: Some(to_timestamp(from - chrono::Duration::hours(1))),
            ..base.clone()
        },
        "from",
    )
    .await;
    refused(
        TimelineRequest {
            page_token: "nonsense".into(),
            ..base.clone()
        },
        "page_token",
    )
    .await;

    // Reflection (what grpcurl reads) describes the new call.
    let reader = env.fleet.reader("ops").expect("reader");
    let channel = c.channel(&reader).await.expect("channel");
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let ask = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "vigia.v1.Query.Timeline".into(),
            ),
        ),
    };
    let mut answers = tokio::time::timeout(
        support::STEP,
        reflection.server_reflection_info(tokio_stream::iter([ask])),
    )
    .await
    .expect("bounded")
    .expect("reflection")
    .into_inner();
    let answer = tokio::time::timeout(support::STEP, answers.message())
        .await
        .expect("bounded")
        .expect("answer")
        .expect("one");
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::FileDescriptorResponse(
            files,
        ),
    ) = answer.message_response
    else {
        panic!("unexpected answer {answer:?}");
    };
    assert!(files
        .file_descriptor_proto
        .iter()
        .any(|f| f.windows(15).any(|w| w == b"TimelineRequest")));

    // A probe certificate may not read the fleet.
    let channel = c.channel(&probe).await.expect("channel");
    let e = vigia::pb::query_client::QueryClient::new(channel)
        .timeline(base)
        .await
        .expect_err("probe refused");
    assert_eq!(e.code(), Code::PermissionDenied);
    c.stop().await;
}
