//! Heartbeat storage of repeated statuses: every answer of `History` and `latest` equals the
//! stream as sent, across a restart mid-way, while repeats take a fraction of the space.

use std::sync::Arc;
use std::time::Duration;
use vigia::days::to_timestamp;
use vigia::pb::{RecordingStatus, Technology};
use vigia::status_builder::StatusBuilder;
use vigia_collector::store::Store;
use vigia_collector::writer::Writer;
use vigia_collector::Clock;

/// Five-minute reports of one recorder with two cameras: new recordings at every scan, camera 2
/// stopping for a while, a day deleted, and a new day starting.
fn stream(clock_start: chrono::DateTime<chrono::Utc>, n: u64) -> Vec<RecordingStatus> {
    let deleted = (clock_start - chrono::Duration::days(19)).date_naive();
    (1..=n)
        .map(|seq| {
            let at = clock_start + chrono::Duration::minutes(5 * seq as i64);
            // The days kept move only where the stream says: 30 up to its first day, one of
            // them deleted after 200 reports, the next day recorded too after 250.
            let mut calendar = if seq > 250 {
                StatusBuilder::new(clock_start + chrono::Duration::days(1)).days(31)
            } else {
                StatusBuilder::new(clock_start).days(30)
            };
            if seq > 200 {
                calendar = calendar.missing_day(deleted);
            }
            if (100..150).contains(&seq) {
                let stopped = clock_start + chrono::Duration::minutes(5 * 100);
                calendar = calendar.camera_newest("cam2", stopped);
            }
            let status = calendar
                .site("loja")
                .technology(Technology::Ivms)
                .sequence(seq)
                .spool_id("s")
                .zone("UTC")
                .interval(None)
                .oldest(clock_start - chrono::Duration::days(30))
                .newest(at)
                .cameras(["cam1", "cam2"])
                .files(1000 + seq * 2, (1000 + seq * 2) << 20)
                .disk((1 << 39) - seq, 1 << 40)
                .build();
            RecordingStatus {
                observed_at: Some(to_timestamp(at)),
                scan_duration: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: (seq * 1000) as i32,
                }),
                ..status
            }
        })
        .collect()
}

async fn send(writer: &Writer, clock: &Clock, statuses: &[RecordingStatus]) {
    for s in statuses {
        let pending = writer.submit(s.clone()).await.expect("submit");
        assert!(!pending.await.expect("reply").expect("stored").duplicate);
        clock.advance(Duration::from_secs(300));
    }
}

#[tokio::test]
async fn history_and_latest_equal_the_stream_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let start = chrono::Utc::now() - chrono::Duration::days(3);
    let all = stream(start, 300);
    let clock = Clock::manual(start);

    let store = Store::open(dir.path(), 8 << 20).expect("open");
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    send(&writer, &clock, &all[..170]).await;
    writer.stop().await;
    drop(writer);
    drop(store);

    // A restart mid-way: the first status after it is stored in full, the rest repeat it.
    let store = Store::open(dir.path(), 8 << 20).expect("reopen");
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    send(&writer, &clock, &all[170..]).await;

    let mut got = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .history("loja", None, None, None, 37, token.as_deref())
            .expect("history");
        got.extend(page.entries.into_iter().map(|e| e.status.expect("status")));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    got.reverse();
    assert_eq!(got.len(), all.len());
    for (g, s) in got.iter().zip(&all) {
        assert_eq!(g, s, "sequence {}", s.sequence);
    }
    let latest = store.latest("loja").expect("latest");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].status.as_ref(), all.last());

    // A range in the middle (around the restart) answers the same statuses.
    let from = vigia_collector::store::received_at(&{
        let p = store
            .history("loja", None, None, None, 140, None)
            .expect("history");
        p.entries.last().cloned().expect("entry")
    });
    let mid = store
        .history("loja", None, from, None, 1000, None)
        .expect("range");
    assert_eq!(mid.entries.len(), 140);
    assert_eq!(
        mid.entries.last().and_then(|e| e.status.clone()).as_ref(),
        all.get(160)
    );

    // Repeats take a fraction of the space: full statuses only at the start, at the restart and
    // when the days changed (seq 201, 251).
    let full: usize = store
        .db()
        .open_tree("history")
        .expect("tree")
        .iter()
        .values()
        .filter(|v| v.as_ref().is_ok_and(|v| v.first() != Some(&0)))
        .count();
    assert_eq!(full, 4, "full statuses stored");
    writer.stop().await;
}

#[tokio::test]
async fn pruning_keeps_the_base_of_every_heartbeat_it_keeps() {
    let dir = tempfile::tempdir().expect("dir");
    let start = chrono::Utc::now() - chrono::Duration::days(3);
    let all = stream(start, 60);
    let clock = Clock::manual(start);
    let store = Store::open(dir.path(), 8 << 20).expect("open");
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    send(&writer, &clock, &all).await;
    // Cut after the first (full) status: its heartbeats stay, so it stays too.
    let cut = start + chrono::Duration::minutes(30);
    let removed = store.prune(cut).expect("prune");
    assert_eq!(removed, 5, "statuses 2..=6 went, the base stayed");
    let page = store
        .history("loja", None, None, None, 1000, None)
        .expect("history");
    assert_eq!(page.entries.len(), 55);
    let first = page.entries.last().and_then(|e| e.status.clone());
    assert_eq!(first.as_ref(), all.first());
    writer.stop().await;
}
