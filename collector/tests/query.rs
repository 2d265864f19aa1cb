//! Query and Admin: verdicts from the root crate's rules with `[rules]` and `[sites.<id>]`,
//! SILENT once the clock passes interval + grace, NEVER_REPORTED for expected sites, retiring,
//! and the `/metrics` view of the same verdicts.

mod support;

use std::time::Duration;
use support::{probe_stream, status, Env};
use tonic::Code;
use vigia::pb::{
    ExpectSiteRequest, GetSiteRequest, ListSitesRequest, RetireSiteRequest, SiteReport, SiteState,
    VerdictKind,
};
use vigia::rules::RuleOverrides;
use vigia_collector::testkit::TestCollector;
use vigia_collector::Clock;

fn kinds(site: &SiteReport) -> Vec<VerdictKind> {
    site.verdicts.iter().map(|v| v.kind()).collect()
}

#[track_caller]
fn find<'a>(sites: &'a [SiteReport], name: &str) -> &'a SiteReport {
    sites.iter().find(|s| s.site == name).unwrap_or_else(|| {
        panic!(
            "{name} not listed in {:?}",
            sites.iter().map(|s| &s.site).collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn list_sites_judges_silent_never_reported_overrides_and_retired() {
    let env = Env::new();
    let clock = Clock::manual(chrono::Utc::now());
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |cfg| {
        cfg.expected_sites = vec!["loja-1".into(), "loja-cfg".into()];
        cfg.sites.insert(
            "loja-2".into(),
            RuleOverrides {
                min_retention_days: Some(60),
                ..Default::default()
            },
        );
    })
    .await
    .expect("start");
    let mut admin = c.admin_client(&env.fleet, "ops").await.expect("admin");
    let mut query = c.query_client(&env.fleet, "ops").await.expect("query");

    let resp = admin
        .expect_site(ExpectSiteRequest {
            site: "loja-admin".into(),
            note: "Padaria do Zé".into(),
            report_interval: Some(prost_types::Duration {
                seconds: 600,
                nanos: 0,
            }),
        })
        .await
        .expect("expect")
        .into_inner();
    let site = resp.site.expect("report");
    assert_eq!(site.state(), SiteState::Expected);
    assert_eq!(kinds(&site), [VerdictKind::NeverReported]);
    assert_eq!(site.note, "Padaria do Zé");

    for name in ["loja-1", "loja-2"] {
        let probe = env.fleet.probe(name).expect("probe");
        let mut s = probe_stream(&c, &probe).await.expect("stream");
        s.send(status(name, "nvr", 1, clock.now())).await;
        assert_eq!(s.next().await.expect("ack").sequence, 1);
    }

    let sites = support::list_sites(&mut query).await;
    let names: Vec<_> = sites.iter().map(|s| s.site.as_str()).collect();
    assert_eq!(
        names,
        ["loja-1", "loja-2", "loja-admin", "loja-cfg"],
        "sorted, expected included"
    );
    let l1 = find(&sites, "loja-1");
    assert_eq!(l1.state(), SiteState::Active);
    assert_eq!(kinds(l1), [VerdictKind::Ok]);
    assert_eq!(l1.min_retention_days, 30);
    assert_eq!(l1.recorders.len(), 1);
    assert!(l1.last_contact.is_some() && l1.first_contact.is_some());
    // 41 days recorded, but loja-2 must keep 60.
    let l2 = find(&sites, "loja-2");
    assert_eq!(kinds(l2), [VerdictKind::ShortRetention]);
    assert_eq!(l2.min_retention_days, 60);
    assert_eq!(
        kinds(find(&sites, "loja-cfg")),
        [VerdictKind::NeverReported]
    );
    assert_eq!(
        kinds(find(&sites, "loja-admin")),
        [VerdictKind::NeverReported]
    );

    // Interval (5 min) + grace (15 min) not yet passed: still fine.
    clock.advance(Duration::from_secs(19 * 60));
    let sites = support::list_sites(&mut query).await;
    assert!(!kinds(find(&sites, "loja-1")).contains(&VerdictKind::Silent));
    // Past it: SILENT, with the time of the last contact.
    clock.advance(Duration::from_secs(2 * 60));
    let list = query
        .list_sites(ListSitesRequest::default())
        .await
        .expect("list")
        .into_inner();
    let l1 = find(&list.sites, "loja-1");
    assert_eq!(kinds(l1), [VerdictKind::Silent]);
    assert_eq!(l1.verdicts[0].since, l1.last_contact);
    assert_eq!(
        list.evaluated_at.map(|t| t.seconds),
        Some(clock.now().timestamp())
    );

    // Retire: gone from the list unless asked, judged no more.
    let retired = admin
        .retire_site(RetireSiteRequest {
            site: "loja-1".into(),
        })
        .await
        .expect("retire")
        .into_inner()
        .site
        .expect("report");
    assert_eq!(retired.state(), SiteState::Retired);
    assert!(retired.verdicts.is_empty());
    let sites = support::list_sites(&mut query).await;
    assert!(sites.iter().all(|s| s.site != "loja-1"));
    let list = query
        .list_sites(ListSitesRequest {
            include_retired: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(find(&list.sites, "loja-1").state(), SiteState::Retired);

    // GetSite, and the refusals of Admin and Query.
    let one = query
        .get_site(GetSiteRequest {
            site: "loja-2".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(one.site, "loja-2");
    let e = query
        .get_site(GetSiteRequest {
            site: "nowhere".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);
    let e = query
        .get_site(GetSiteRequest { site: "a/b".into() })
        .await
        .expect_err("bad name");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("site: "), "{}", e.message());
    let e = admin
        .expect_site(ExpectSiteRequest {
            site: "bad name".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad name");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("site: "), "{}", e.message());
    let e = admin
        .retire_site(RetireSiteRequest {
            site: "nowhere".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);

    // Admin changes are durable: they survive a restart.
    let c = c.restart().await.expect("restart");
    let mut query = c.query_client(&env.fleet, "ops").await.expect("query");
    let list = query
        .list_sites(ListSitesRequest {
            include_retired: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(find(&list.sites, "loja-1").state(), SiteState::Retired);
    assert_eq!(find(&list.sites, "loja-admin").note, "Padaria do Zé");

    // Retiring revokes: the retired site's certificate may no longer report.
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 9, clock.now())).await;
    let e = s
        .next()
        .await
        .expect_err("a retired site's status is refused");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("retired"), "{}", e.message());
    let history = query
        .history(vigia::pb::HistoryRequest {
            site: "loja-1".into(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    assert!(
        history
            .entries
            .iter()
            .all(|e| e.status.as_ref().map(|s| s.sequence) != Some(9)),
        "nothing stored"
    );
    c.stop().await;
}

#[tokio::test]
async fn metrics_show_the_same_verdicts_and_the_counters() {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.metrics.listen = Some("127.0.0.1:0".parse().expect("addr"));
        cfg.expected_sites = vec!["loja-9".into()];
    })
    .await
    .expect("start");
    let metrics_addr = c.metrics_addr.expect("metrics bound");
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
    s.next().await.expect("ack");
    s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
    assert!(s.next().await.expect("ack").duplicate);
    // The probe's spool overflowed while it was cut off: 34 statuses lost.
    let mut st = status("loja-1", "nvr", 2, chrono::Utc::now());
    st.dropped_statuses = 34;
    s.send(st.clone()).await;
    s.next().await.expect("ack");
    s.send(st).await;
    assert!(
        s.next().await.expect("ack").duplicate,
        "a re-send counts once"
    );

    let body = tokio::time::timeout(support::STEP, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(metrics_addr)
            .await
            .expect("connect");
        sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        sock.read_to_string(&mut out).await.expect("read");
        out
    })
    .await
    .expect("bounded");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for line in [
        "vigia_statuses_ingested_total 2",
        "vigia_statuses_duplicate_total 2",
        "vigia_site_statuses_dropped_total{site=\"loja-1\"} 34",
        "vigia_site_verdict{site=\"loja-1\",verdict=\"DATA_DROPPED\"} 1",
        "vigia_site_verdict{site=\"loja-9\",verdict=\"NEVER_REPORTED\"} 1",
        "vigia_site_last_contact_age_seconds{site=\"loja-1\"}",
        "vigia_recorder_newest_recording_age_seconds{site=\"loja-1\",recorder=\"nvr\"}",
        "vigia_rejections_total{reason=\"invalid_argument\"} 0",
    ] {
        assert!(body.contains(line), "{line:?} missing from:\n{body}");
    }
    c.stop().await;
}

/// Every page of a listing, following next_page_token.
async fn all_pages(
    q: &mut vigia::pb::query_client::QueryClient<tonic::transport::Channel>,
    req: ListSitesRequest,
) -> Vec<vigia::pb::ListSitesResponse> {
    let mut pages = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let page = q
            .list_sites(ListSitesRequest {
                page_token: token.clone(),
                ..req.clone()
            })
            .await
            .expect("page")
            .into_inner();
        token = page.next_page_token.clone();
        pages.push(page);
        if token.is_empty() {
            return pages;
        }
    }
    panic!("more than 100 pages");
}

/// One status from each of `sites`, every `late_every`-th (from the first) stopped recording six
/// hours before `now`: LATE.
async fn report_sites(
    c: &TestCollector,
    env: &Env,
    sites: &[String],
    late_every: usize,
    now: chrono::DateTime<chrono::Utc>,
) {
    for (i, site) in sites.iter().enumerate() {
        let probe = env.fleet.probe(site).expect("probe");
        let mut s = probe_stream(c, &probe).await.expect("stream");
        let mut st = status(site, "nvr", 1, now);
        if i % late_every == 0 {
            st.newest_recording = Some(vigia::days::to_timestamp(now - chrono::Duration::hours(6)));
        }
        s.send(st).await;
        assert_eq!(s.next().await.expect("ack").sequence, 1);
    }
}

#[tokio::test]
async fn list_sites_pages_in_name_order_at_one_instant_and_filters() {
    let env = Env::new();
    let clock = Clock::manual(chrono::Utc::now());
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |cfg| {
        // One expected site sorts between stored ones, one after them all.
        cfg.expected_sites = vec!["norte-never".into(), "loja-05-nova".into()];
    })
    .await
    .expect("start");
    let now = clock.now();
    let names: Vec<String> = (0..12).map(|i| format!("loja-{i:02}")).collect();
    report_sites(&c, &env, &names, 4, now).await;
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let whole = support::list_sites(&mut q).await;
    assert_eq!(
        whole.len(),
        14,
        "an unpaged request still gets the whole fleet"
    );

    clock.advance(Duration::from_secs(60));
    let pages = all_pages(
        &mut q,
        ListSitesRequest {
            page_size: 5,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        pages.iter().map(|p| p.sites.len()).collect::<Vec<_>>(),
        vec![5, 5, 4]
    );
    let names: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.sites.iter().map(|s| s.site.as_str()))
        .collect();
    let expected: Vec<&str> = whole.iter().map(|s| s.site.as_str()).collect();
    assert_eq!(names, expected, "every site once, by name");
    assert!(
        pages
            .iter()
            .all(|p| p.evaluated_at == pages[0].evaluated_at),
        "every page is evaluated at the first page's instant"
    );
    assert!(pages.last().is_some_and(|p| p.next_page_token.is_empty()));

    let problems: Vec<String> = all_pages(
        &mut q,
        ListSitesRequest {
            page_size: 2,
            only_problems: true,
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .flat_map(|p| p.sites.into_iter().map(|s| s.site))
    .collect();
    assert_eq!(
        problems,
        [
            "loja-00",
            "loja-04",
            "loja-05-nova",
            "loja-08",
            "norte-never"
        ]
    );

    let late: Vec<String> = all_pages(
        &mut q,
        ListSitesRequest {
            kinds: vec![VerdictKind::Late as i32],
            name_prefix: "loja-0".into(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .flat_map(|p| p.sites.into_iter().map(|s| s.site))
    .collect();
    assert_eq!(late, ["loja-00", "loja-04", "loja-08"]);

    for (req, says) in [
        (
            ListSitesRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListSitesRequest {
                kinds: vec![0],
                ..Default::default()
            },
            "kinds[0]",
        ),
    ] {
        let e = q.list_sites(req).await.expect_err("refused");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(says), "{says} in {}", e.message());
    }
    c.stop().await;
}

/// Pages of more sites than the collector evaluates on one thread (it splits a batch of 64 or
/// more among threads): the same sites, in the same order, with the same verdicts as one
/// unpaged answer, filtered or not, and for each of two readers walking the pages at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_evaluated_on_several_threads_equal_the_unpaged_answer() {
    let env = Env::new();
    let clock = Clock::manual(chrono::Utc::now());
    let c = TestCollector::start_with_clock(&env.fleet, &env.data(), clock.clone(), |_| {})
        .await
        .expect("start");
    let now = clock.now();
    let names: Vec<String> = (0..150).map(|i| format!("site-{i:03}")).collect();
    report_sites(&c, &env, &names, 3, now).await;
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let whole = support::list_sites(&mut q).await;
    assert_eq!(whole.len(), 150);
    let summary = |sites: &[SiteReport]| -> Vec<(String, Vec<VerdictKind>)> {
        sites.iter().map(|s| (s.site.clone(), kinds(s))).collect()
    };
    for (page_size, only_problems) in [(70, false), (100, false), (40, true), (0, true)] {
        let pages = all_pages(
            &mut q,
            ListSitesRequest {
                page_size,
                only_problems,
                ..Default::default()
            },
        )
        .await;
        let paged: Vec<SiteReport> = pages.into_iter().flat_map(|p| p.sites).collect();
        let want: Vec<SiteReport> = whole
            .iter()
            .filter(|s| !only_problems || kinds(s).iter().any(|k| *k != VerdictKind::Ok))
            .cloned()
            .collect();
        assert_eq!(
            summary(&paged),
            summary(&want),
            "page_size {page_size}, only_problems {only_problems}"
        );
    }
    assert_eq!(
        whole
            .iter()
            .filter(|s| kinds(s).iter().any(|k| *k != VerdictKind::Ok))
            .count(),
        50,
        "one site in three is late"
    );
    // The collector builds each next page ahead for the request that will ask for it: two
    // readers walking the same listing at once (the same requests, page for page) each get
    // every page, the one that finds no page built ahead building its own.
    let mut q2 = c.query_client(&env.fleet, "ops").await.expect("query");
    let req = ListSitesRequest {
        page_size: 40,
        ..Default::default()
    };
    let (a, b) = tokio::join!(all_pages(&mut q, req.clone()), all_pages(&mut q2, req));
    for pages in [a, b] {
        let paged: Vec<SiteReport> = pages.into_iter().flat_map(|p| p.sites).collect();
        assert_eq!(summary(&paged), summary(&whole), "a reader among two");
    }
    // An operator's write between two pages shows on the next one, though it was built ahead
    // (given time to be) before the write.
    let first = q
        .list_sites(ListSitesRequest {
            page_size: 40,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admin = c.admin_client(&env.fleet, "ops").await.expect("admin");
    admin
        .retire_site(RetireSiteRequest {
            site: "site-050".into(),
        })
        .await
        .expect("retired");
    let second = q
        .list_sites(ListSitesRequest {
            page_size: 40,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let names: Vec<&str> = second.sites.iter().map(|s| s.site.as_str()).collect();
    assert!(names.contains(&"site-051"), "{names:?}");
    assert!(
        !names.contains(&"site-050"),
        "retired before the page was asked for: {names:?}"
    );
    c.stop().await;
}
