//! The archive (`vigia_collector::archive`): the hourly pass moves history past its first hour
//! out of the store's own `history` tree. A pass stopped between writing the archive and
//! removing what it moved leaves statuses in both trees, and every reader still sees each once;
//! the next pass finishes the move. A layout-4 store (history, blocks included, all in the
//! store's own tree) opens as layout 5 and reads the same before and after its history moves.

mod replay;

use chrono::{DateTime, Duration as Span, Utc};
use replay::{open, start};
use std::collections::HashSet;
use std::time::Duration;
use vigia::pb::HistoryEntry;
use vigia_collector::store::{Store, LAYOUT_VERSION};
use vigia_collector::thin::compact;
use vigia_collector::writer::Writer;
use vigia_collector::{Clock, CollectorConfig};

fn at(h: i64) -> DateTime<Utc> {
    start() + Span::hours(h)
}

/// Moving and folding alone: nothing is old enough to thin or prune.
fn config() -> CollectorConfig {
    let mut c = CollectorConfig::default();
    c.history.full_for = c.history.keep;
    c.history.hourly_for = c.history.keep;
    c
}

fn hot(store: &Store) -> usize {
    store.db().open_tree("history").expect("tree").len()
}

fn archived(store: &Store) -> usize {
    store.archive_db().open_tree("history").expect("tree").len()
}

/// Every status of the site, newest first.
fn everything(store: &Store) -> Vec<HistoryEntry> {
    let page = store
        .history("loja", None, None, None, 100_000, None)
        .expect("history");
    assert!(page.next_token.is_none());
    page.entries
}

/// Two recorders reporting every 5 minutes from the start until `until`, into both writers.
async fn report(clock: &Clock, writers: [&Writer; 2], until: DateTime<Utc>, sequence: &mut u64) {
    while clock.now() < until {
        let now = clock.now();
        let mut pending = Vec::new();
        for recorder in ["nvr-a", "nvr-b"] {
            *sequence += 1;
            let status = replay::built(replay::scan(recorder, now, *sequence), now);
            for w in writers {
                pending.push(w.submit(status.clone()).await.expect("submit"));
            }
        }
        for p in pending {
            assert!(!p.await.expect("reply").expect("stored").duplicate);
        }
        clock.advance(Duration::from_secs(300));
    }
}

#[tokio::test]
async fn a_move_stopped_half_way_reads_each_status_once_and_the_next_pass_finishes_it() {
    let moved_dir = tempfile::tempdir().expect("dir");
    let plain_dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(start());
    let (moved, moved_writer) = open(moved_dir.path(), &clock);
    let (plain, plain_writer) = open(plain_dir.path(), &clock);
    let mut sequence = 0;
    report(&clock, [&moved_writer, &plain_writer], at(6), &mut sequence).await;
    let all = everything(&plain);
    assert_eq!(all.len(), 2 * 6 * 12);
    assert_eq!(archived(&moved), 0, "nothing moves before a pass");

    // The pass's first write, the archive's, and not its second (the removal from the store's
    // own tree): every status is then in both trees.
    let before = u64::try_from(at(5).timestamp_micros()).expect("time");
    let mut half = vigia_collector::fold::Moved::default();
    let n = vigia_collector::fold::fold(
        &moved,
        "loja",
        (before, 0),
        &HashSet::new(),
        &mut half,
        &mut None,
    )
    .expect("fold");
    assert_eq!(n, 2 * 5 * 12, "five hours moved");
    moved.flush_archive().expect("flush");
    drop(half);
    moved_writer.stop().await;
    drop(moved_writer);
    drop(moved);
    let (moved, moved_writer) = open(moved_dir.path(), &clock);
    assert_eq!(
        hot(&moved),
        all.len(),
        "nothing removed from the store's own tree"
    );
    assert_eq!(
        archived(&moved),
        5 + 2,
        "an hour block each, and the first (full) statuses"
    );
    assert_eq!(everything(&moved), all, "each status once");
    assert_eq!(moved.history_len("loja"), all.len());
    assert_eq!(
        moved.latest("loja").expect("latest"),
        plain.latest("loja").expect("latest")
    );

    // The next pass moves the rest and removes what the stopped one had moved.
    let done = compact(&moved, &config(), at(6) + Span::minutes(1), None).expect("compact");
    assert!(done.finished && done.folded > 0, "{done:?}");
    assert_eq!(everything(&moved), all);
    // Left in the store's own tree: the last hour (not yet past `fold::LAG`; what `latest`
    // names is in it) and the full statuses the latest heartbeats are built on (the fleet view
    // reads nothing else).
    assert_eq!(hot(&moved), 2 * 12 + 2, "the last hour and the bases");
    assert_eq!(archived(&moved), 5 + 2);
    let again = compact(&moved, &config(), at(6) + Span::minutes(1), None).expect("compact");
    assert_eq!(again.folded, 0, "{again:?}");

    // A re-send of a status the pass moved is recognised, from the archive.
    let resent = replay::built(replay::scan("nvr-a", at(1), 25), at(1));
    let reply = moved_writer.submit(resent).await.expect("submit");
    assert!(reply.await.expect("reply").expect("stored").duplicate);
    assert_eq!(moved.history_len("loja"), all.len());
    moved_writer.stop().await;
    plain_writer.stop().await;
}

#[tokio::test]
async fn a_layout_4_store_opens_as_layout_5_and_its_history_moves_to_the_archive() {
    let dir = tempfile::tempdir().expect("dir");
    let plain_dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(start());
    let (store, writer) = open(dir.path(), &clock);
    let (plain, plain_writer) = open(plain_dir.path(), &clock);
    let mut sequence = 0;
    report(&clock, [&writer, &plain_writer], at(30), &mut sequence).await;
    compact(&store, &config(), clock.now(), None).expect("compact");
    writer.stop().await;
    drop(writer);
    // What a layout-4 collector's passes left: the same blocks and records, in the store's own
    // tree, and no archive.
    let history = store.db().open_tree("history").expect("tree");
    for kv in store
        .archive_db()
        .open_tree("history")
        .expect("tree")
        .iter()
    {
        let (k, v) = kv.expect("record");
        history.insert(k, v).expect("insert");
    }
    let meta = store.db().open_tree("meta").expect("meta");
    meta.insert("layout_version", &4u32.to_be_bytes())
        .expect("insert");
    store.flush().expect("flush");
    let blocks = archived(&store);
    assert!(blocks >= 29, "{blocks} records moved");
    drop((history, meta, store));
    std::fs::remove_dir_all(vigia_collector::archive::dir(dir.path())).expect("remove");

    let (store, writer) = open(dir.path(), &clock);
    let meta = store.db().open_tree("meta").expect("meta");
    let version = meta.get("layout_version").expect("get").expect("set");
    assert_eq!(version.as_ref(), LAYOUT_VERSION.to_be_bytes());
    assert_eq!(LAYOUT_VERSION, 5);
    assert_eq!(archived(&store), 0);
    let all = everything(&plain);
    assert_eq!(everything(&store), all, "read as it is");
    let done = compact(&store, &config(), clock.now(), None).expect("compact");
    assert!(done.finished && done.folded > 0, "{done:?}");
    assert_eq!(everything(&store), all, "read the same once moved");
    assert!(
        hot(&store) <= 2 * 12 + 2,
        "{} records left in place",
        hot(&store)
    );
    assert!(archived(&store) >= 29);
    writer.stop().await;
    plain_writer.stop().await;
}
