//! Re-sent statuses: a status whose ack was lost comes again and is stored once, found in the
//! site's history (no dedup mark is written for it); one whose write was cut short is stored
//! when it comes again; two probes reporting for one site (two spools) are told apart.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use vigia::pb::{RecordingStatus, Technology};
use vigia::status_builder::StatusBuilder;
use vigia_collector::store::Store;
use vigia_collector::writer::Writer;
use vigia_collector::Clock;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn status(recorder: &str, spool: &str, sequence: u64, t: DateTime<Utc>) -> RecordingStatus {
    StatusBuilder::new(t)
        .site("loja")
        .recorder(recorder)
        .technology(Technology::Digifort)
        .sequence(sequence)
        .spool_id(spool)
        .zone("UTC")
        .oldest(t - chrono::Duration::days(20))
        .newest(t - chrono::Duration::seconds(30))
        .cameras(["cam-1", "cam-2"])
        .files(100 + sequence, (100 + sequence) << 20)
        .build()
}

/// A store in a new folder (kept while the test holds it), its writer on a manual clock.
fn open() -> (tempfile::TempDir, Clock, Store, Writer) {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(start());
    let store = Store::open(dir.path(), 16 << 20).expect("open");
    let writer = Writer::start(store.clone(), clock.clone(), Arc::default());
    (dir, clock, store, writer)
}

/// Stores `s` and says whether the collector called it a duplicate.
async fn send(writer: &Writer, s: RecordingStatus) -> bool {
    writer
        .submit(s)
        .await
        .expect("submit")
        .await
        .expect("reply")
        .expect("stored")
        .duplicate
}

#[tokio::test]
async fn a_resent_status_is_stored_once_and_a_lost_write_is_stored_when_it_comes_again() {
    let (_dir, clock, store, writer) = open();
    let mut sent = Vec::new();
    for seq in 1..=20 {
        let s = status("nvr-a", "spool-a", seq, clock.now());
        assert!(!send(&writer, s.clone()).await, "sequence {seq} is new");
        sent.push(s);
        clock.advance(Duration::from_secs(300));
    }
    // The last five again (their acks lost), after a reconnect; and one from the middle.
    for s in sent[15..].iter().chain(&sent[7..8]) {
        assert!(
            send(&writer, s.clone()).await,
            "sequence {} again",
            s.sequence
        );
    }
    assert_eq!(store.history_len("loja"), 20);
    let seen = store.db().open_tree("seen").expect("seen");
    assert_eq!(seen.len(), 0, "no dedup mark written");

    // A write cut short: the site's sequence moved on, the record is not there. Coming again,
    // it is stored, not called a duplicate.
    let history = store.db().open_tree("history").expect("history");
    let key = history
        .iter()
        .keys()
        .filter_map(Result::ok)
        .nth(11)
        .expect("a twelfth record");
    history.remove(&key).expect("remove");
    assert_eq!(store.history_len("loja"), 19);
    assert!(!send(&writer, sent[11].clone()).await, "stored again");
    assert_eq!(store.history_len("loja"), 20);
    assert!(send(&writer, sent[11].clone()).await, "and then known");

    // A re-send past the horizon (a week) is stored again: its original is no longer looked for.
    clock.advance(vigia_collector::store::DEDUP_HORIZON);
    assert!(!send(&writer, sent[19].clone()).await, "a week later");
    writer.stop().await;
}

#[tokio::test]
async fn two_probes_of_one_site_are_told_apart() {
    let (_dir, clock, store, writer) = open();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for seq in 1..=10 {
        // The same sequence numbers from the other spool are other statuses.
        let sa = status("nvr-a", "spool-a", seq, clock.now());
        let sb = status("nvr-b", "spool-b", seq, clock.now());
        assert!(!send(&writer, sa.clone()).await, "a {seq} is new");
        assert!(!send(&writer, sb.clone()).await, "b {seq} is new");
        a.push(sa);
        b.push(sb);
        clock.advance(Duration::from_secs(300));
    }
    // Re-sends of both, interleaved, each recognised.
    for (sa, sb) in a[6..].iter().zip(&b[3..7]) {
        for s in [sa, sb] {
            let again = send(&writer, s.clone()).await;
            assert!(again, "{} {} again", s.spool_id, s.sequence);
        }
    }
    // And each probe's next status is new.
    for (recorder, spool) in [("nvr-b", "spool-b"), ("nvr-a", "spool-a")] {
        assert!(!send(&writer, status(recorder, spool, 11, clock.now())).await);
    }
    // A third spool (a probe reinstalled) starts again at 1: new, and the other two's
    // re-sends are still recognised after it.
    assert!(!send(&writer, status("nvr-a", "spool-c", 1, clock.now())).await);
    assert!(
        send(&writer, a[9].clone()).await,
        "spool-a 10 after spool-c"
    );
    assert!(
        send(&writer, b[9].clone()).await,
        "spool-b 10 after spool-c"
    );
    assert_eq!(store.history_len("loja"), 23);
    let rec = store.site("loja").expect("site").expect("record");
    assert_eq!((rec.spool_id.as_str(), rec.last_sequence), ("spool-c", 1));
    writer.stop().await;
}
