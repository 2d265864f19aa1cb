//! Ingest end to end: statuses over mutual TLS, acks only once durable, duplicates stored once,
//! bad statuses refused with the field named while other streams keep flowing.

mod support;

use support::{probe_stream, status, Env};
use vigia::pb::{HistoryRequest, ListSitesRequest};
use vigia_collector::store::Store;
use vigia_collector::testkit::TestCollector;

#[tokio::test]
async fn acked_statuses_survive_a_restart_and_duplicates_are_stored_once() {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |_| {})
        .await
        .expect("start");
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
    let sites = q
        .list_sites(ListSitesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .sites;
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
