//! History blocks (`vigia_collector::fold`): after the hourly passes fold a stream's heartbeats
//! into hour records — one pass stopped mid-way and the store reopened — `History` answers
//! exactly what the same stream never folded answers, page by page and at any instant, a
//! re-send of a folded status is still recognised, and the store holds a fraction of the
//! records.

mod replay;

use chrono::{DateTime, Duration as Span, Utc};
use replay::{open, start};
use std::time::Duration;
use vigia::pb::{HistoryEntry, RecordingStatus};
use vigia_collector::store::Store;
use vigia_collector::thin::compact;
use vigia_collector::{Clock, CollectorConfig};

fn at(h: i64, m: i64) -> DateTime<Utc> {
    start() + Span::hours(h) + Span::minutes(m)
}

/// A recorder's scan: cam-2 of nvr-a stopped from 10:00 to 14:00 on the first day (a new day
/// at midnight).
fn scan(recorder: &str, t: DateTime<Utc>, sequence: u64) -> RecordingStatus {
    let mut s = replay::scan(recorder, t, sequence);
    if recorder == "nvr-a" && t >= at(10, 0) && t < at(14, 0) {
        s = s.camera_newest("cam-2", at(10, 0));
    }
    replay::built(s, t)
}

/// Folding alone: nothing is old enough to thin or prune.
fn config() -> CollectorConfig {
    let mut c = CollectorConfig::default();
    c.history.full_for = c.history.keep;
    c.history.hourly_for = c.history.keep;
    c
}

/// Every status of the site, newest first, read in pages of `size` (of one recorder or all).
fn paged(store: &Store, recorder: Option<&str>, size: usize) -> Vec<HistoryEntry> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .history("loja", recorder, None, None, size, token.as_deref())
            .expect("history");
        out.extend(page.entries);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

/// sled records holding history, in the store's own tree and the archive's.
fn records(store: &Store) -> usize {
    store.db().open_tree("history").expect("tree").len()
        + store.archive_db().open_tree("history").expect("tree").len()
}

#[tokio::test]
async fn folded_history_answers_exactly_what_was_received() {
    let folded_dir = tempfile::tempdir().expect("dir");
    let plain_dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(start());
    let config = config();
    let (mut folded, mut folded_writer) = open(folded_dir.path(), &clock);
    let (plain, plain_writer) = open(plain_dir.path(), &clock);
    let mut sequence = 0;
    let mut first_of_day_two = None;
    let mut interrupted = false;
    let end = at(40, 0);
    while clock.now() < end {
        let now = clock.now();
        let mut pending = Vec::new();
        for recorder in ["nvr-a", "nvr-b"] {
            sequence += 1;
            let status = scan(recorder, now, sequence);
            if now == at(24, 0) && recorder == "nvr-a" {
                first_of_day_two = Some(status.clone());
            }
            pending.push(folded_writer.submit(status.clone()).await.expect("submit"));
            pending.push(plain_writer.submit(status).await.expect("submit"));
        }
        for p in pending {
            assert!(!p.await.expect("reply").expect("stored").duplicate);
        }
        // The hourly pass, as the collector runs it (not from 15:00 to 19:00: the collector
        // was down, five hours wait).
        let down = now >= at(15, 0) && now < at(20, 0);
        if now.timestamp() % 3600 == 0 && now > start() && !down {
            if !interrupted && now >= at(20, 0) {
                // Stopped after two of the five hours (a window is moved to the archive whole or
                // not at all: 24 records each), the store closed and reopened.
                let first = compact(&folded, &config, now, Some(30)).expect("compact");
                assert!(!first.finished && first.folded == 48, "{first:?}");
                folded_writer.stop().await;
                drop(folded_writer);
                drop(folded);
                (folded, folded_writer) = open(folded_dir.path(), &clock);
                interrupted = true;
            }
            let done = compact(&folded, &config, now, None).expect("compact");
            assert!(done.finished && done.pruned + done.thinned == 0, "{done:?}");
        }
        clock.advance(Duration::from_secs(300));
    }
    let now = clock.now();
    let again = compact(&folded, &config, now, None).expect("compact");
    let last = compact(&folded, &config, now, None).expect("compact");
    assert!(
        again.folded > 0 && last.folded == 0,
        "{again:?} then {last:?}"
    );
    // Passes read only the archive windows that can have changed: one reading it all, with
    // the site's fold record gone, finds nothing they left.
    let marks = folded.db().open_tree("thinned").expect("tree");
    assert!(marks.remove(b"loja\0fold").expect("remove").is_some());
    let whole = compact(&folded, &config, now, None).expect("compact");
    assert_eq!(whole.folded, 0, "{whole:?}");

    // Every status, in order, byte for byte; pages of any size walk through blocks.
    let everything = paged(&plain, None, 100_000);
    assert_eq!(everything.len(), 2 * 40 * 12);
    assert_eq!(paged(&folded, None, 100_000), everything);
    assert_eq!(paged(&folded, None, 7), everything);
    assert_eq!(
        paged(&folded, Some("nvr-b"), 13),
        paged(&plain, Some("nvr-b"), 13)
    );
    assert_eq!(folded.history_len("loja"), everything.len());
    // What each recorder looked like at T, and the statuses of a range inside one hour.
    let mut t = start() + Span::minutes(1);
    while t < now {
        for recorder in ["nvr-a", "nvr-b"] {
            let ask = |s: &Store| {
                s.history("loja", Some(recorder), None, Some(t), 1, None)
                    .expect("history")
                    .entries
            };
            assert_eq!(ask(&folded), ask(&plain), "{recorder} at {t}");
        }
        let range = |s: &Store| {
            s.history(
                "loja",
                None,
                Some(t + Span::minutes(9)),
                Some(t + Span::minutes(31)),
                100,
                None,
            )
            .expect("history")
            .entries
        };
        assert_eq!(range(&folded), range(&plain), "from {t}");
        t += Span::minutes(53);
    }
    assert_eq!(
        folded.latest("loja").expect("latest"),
        plain.latest("loja").expect("latest")
    );

    // A re-send of a status folded a day ago is recognised, and stored nowhere twice.
    let resent = first_of_day_two.expect("sent");
    let reply = folded_writer.submit(resent).await.expect("submit");
    assert!(reply.await.expect("reply").expect("stored").duplicate);
    assert_eq!(folded.history_len("loja"), everything.len());

    // 40 hours of two recorders: about two records an hour (full statuses where verdicts
    // change, the latest, the hours not yet folded) against 24.
    let (kept, all) = (records(&folded), records(&plain));
    assert!(kept * 5 < all, "{kept} records of {all}");
    folded_writer.stop().await;
    plain_writer.stop().await;
}
