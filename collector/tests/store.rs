//! The store's guards: a layout written by another version is refused, naming both versions,
//! and a second opener is told the folder is in use rather than corrupting it.

mod support;

use support::{probe_stream, status, Env};
use vigia::pb::GetSiteRequest;
use vigia_collector::store::{Store, StoreError, LAYOUT_VERSION};
use vigia_collector::testkit::TestCollector;

#[test]
fn another_layout_version_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    drop(Store::open(&data, 8 << 20).expect("create"));
    {
        // sled releases the lock a moment after the store is dropped.
        let db = (0..100)
            .find_map(|_| {
                sled::open(&data).ok().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    None
                })
            })
            .expect("raw open");
        let meta = db.open_tree("meta").expect("meta");
        meta.insert("layout_version", &99u32.to_be_bytes())
            .expect("write");
        db.flush().expect("flush");
    }
    let e = match Store::open(&data, 8 << 20) {
        Err(e) => e,
        Ok(_) => panic!("a version-99 store must be refused"),
    };
    assert!(matches!(e, StoreError::Version { found: 99, .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("version 99") && msg.contains(&format!("version {LAYOUT_VERSION}")),
        "{msg}"
    );
    assert!(msg.contains("data"), "{msg}");
}

/// `[store] compression` applies to a store being created; an existing store keeps opening
/// with the setting it was made with (sled refuses a reopen with the other), with its records,
/// and `store salvage` copies an uncompressed store into a compressed one.
#[test]
fn a_store_keeps_the_compression_it_was_created_with() {
    let dir = tempfile::tempdir().expect("dir");
    // sled's `conf` is text followed by a checksum.
    let conf = |data: &std::path::Path| {
        String::from_utf8_lossy(&std::fs::read(data.join("conf")).expect("conf")).into_owned()
    };
    // sled releases a folder's lock a moment after its store is dropped.
    fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        (0..100)
            .find_map(|_| {
                f().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    None
                })
            })
            .unwrap_or_else(|| panic!("{what}"))
    }
    let plain = dir.path().join("plain");
    drop(Store::open(&plain, 8 << 20).expect("create"));
    assert!(
        conf(&plain).contains("use_compression: false"),
        "{}",
        conf(&plain)
    );
    {
        let store = retry(
            "an uncompressed store reopens with compression asked for",
            || Store::open_as(&plain, 8 << 20, true).ok(),
        );
        let inventory = store.db().open_tree("inventory").expect("inventory");
        inventory.insert("loja\0nvr", "x").expect("write");
        store.flush().expect("flush");
    }
    assert!(
        conf(&plain).contains("use_compression: false"),
        "{}",
        conf(&plain)
    );
    let packed = dir.path().join("packed");
    drop(Store::open_as(&packed, 8 << 20, true).expect("create compressed"));
    assert!(
        conf(&packed).contains("use_compression: true"),
        "{}",
        conf(&packed)
    );
    drop(retry(
        "a compressed store reopens without compression asked for",
        || Store::open(&packed, 8 << 20).ok(),
    ));
    // What the docs say to do for a compressed copy of an old store.
    let copy = dir.path().join("copy");
    let report = retry("salvaged", || {
        vigia_collector::salvage::salvage(&plain, &copy, 8 << 20, true).ok()
    });
    assert!(report.lost.is_empty(), "{:?}", report.lost);
    assert!(
        conf(&copy).contains("use_compression: true"),
        "{}",
        conf(&copy)
    );
    let copied = retry("the copy opens", || Store::open(&copy, 8 << 20).ok());
    let inventory = copied.db().open_tree("inventory").expect("inventory");
    assert_eq!(
        inventory.get("loja\0nvr").expect("read").as_deref(),
        Some(&b"x"[..])
    );
}

/// `[store] compression = true` through the running collector: a new store is compressed,
/// its acknowledged status is served, and a restart without the key still reads it.
#[tokio::test]
async fn a_collector_configured_to_compress_creates_a_compressed_store_it_serves() {
    let env = Env::new();
    let now = chrono::Utc::now();
    let c = TestCollector::start(&env.fleet, &env.data(), |c| c.store.compression = true)
        .await
        .expect("start");
    let probe = env.fleet.probe("loja").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja", "nvr", 1, now)).await;
    assert_eq!(s.next().await.expect("ack").sequence, 1);
    drop(s);
    c.stop().await;
    let conf = std::fs::read(env.data().join("conf")).expect("sled conf");
    assert!(
        String::from_utf8_lossy(&conf).contains("use_compression: true"),
        "{}",
        String::from_utf8_lossy(&conf)
    );
    let c = TestCollector::start(&env.fleet, &env.data(), |_| {})
        .await
        .expect("restart without the key");
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let site = q
        .get_site(GetSiteRequest {
            site: "loja".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(site.recorders.len(), 1, "{site:?}");
    c.stop().await;
}

#[test]
fn a_second_opener_is_told_the_store_is_in_use() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Store::open(dir.path(), 8 << 20).expect("first");
    let e = match Store::open(dir.path(), 8 << 20) {
        Err(e) => e,
        Ok(_) => panic!("second open must fail"),
    };
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("in use"), "{e}");
    drop(first);
    Store::open(dir.path(), 8 << 20).expect("free again");
}

#[tokio::test]
async fn pruning_drops_old_history_but_never_a_recorders_latest_status() {
    use std::sync::Arc;
    use vigia::days::to_timestamp;
    use vigia::pb::{RecordingStatus, Technology};
    use vigia::status_builder::StatusBuilder;
    use vigia_collector::writer::Writer;
    use vigia_collector::Clock;

    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path(), 8 << 20).expect("open");
    let clock = Clock::manual(chrono::Utc::now() - chrono::Duration::days(200));
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    // Every status scanned at the first instant, then dated now: each recorder's next one
    // repeats its last but for the time and the sequence (the days kept cannot move on).
    let first = clock.now();
    let status = |recorder: &str, sequence: u64| RecordingStatus {
        observed_at: Some(to_timestamp(clock.now())),
        ..StatusBuilder::new(first)
            .technology(Technology::Ivms)
            .recorder(recorder)
            .sequence(sequence)
            .spool_id("s")
            .build()
    };
    let mut seq = 0;
    for recorder in ["a", "b", "a", "b"] {
        seq += 1;
        let pending = writer.submit(status(recorder, seq)).await.expect("submit");
        assert!(!pending.await.expect("reply").expect("stored").duplicate);
        clock.advance(std::time::Duration::from_secs(3600));
    }
    // 100 days later only recorder a reports again.
    clock.advance(std::time::Duration::from_secs(100 * 86_400));
    seq += 1;
    writer
        .submit(status("a", seq))
        .await
        .expect("submit")
        .await
        .expect("reply")
        .expect("stored");
    assert_eq!(store.history_len("loja-1"), 5);

    let removed = store
        .prune(clock.now() - chrono::Duration::days(90))
        .expect("prune");
    // The older statuses go; b's latest stays although it is old, and so does the full status
    // it repeats (b's second status is stored as a heartbeat of its first).
    assert_eq!(removed, 2);
    assert_eq!(store.history_len("loja-1"), 3);
    let latest = store.latest("loja-1").expect("latest");
    let seqs: Vec<u64> = latest
        .iter()
        .map(|e| e.status.as_ref().expect("s").sequence)
        .collect();
    assert_eq!(seqs, [5, 4], "a's newest and b's newest, by recorder id");
    // Dedup marks of pruned statuses go too: sequence 1 would be stored anew.
    let again = writer
        .submit(status("a", 1))
        .await
        .expect("submit")
        .await
        .expect("reply")
        .expect("stored");
    assert!(!again.duplicate);
    writer.stop().await;
}
