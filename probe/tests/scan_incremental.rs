//! Incremental rescans: what they skip, that the cache file survives a restart (and is refused
//! when corrupt or foreign), and a property test that a rescan always equals a full scan.

mod scan_support;

use chrono::{DateTime, Duration as CDuration, Utc};
use proptest::prelude::*;
use scan_support::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use vigia::pb::RecordingStatus;
use vigia_probe::config::ProbeConfig;
use vigia_probe::scan::cache::{self, CacheError};
use vigia_probe::scan::{scan_recorder, RecorderScan, Scanner};

const WINDOW: Duration = Duration::from_secs(2 * 3600);

fn intelbras_tree(days: u32, per_day: u32) -> (Tree, ProbeConfig) {
    let tree = Tree::new();
    let now = Utc::now();
    for d in 0..days {
        let base = now - CDuration::days(i64::from(days - d));
        let folder = base.format("rec/%Y/%m/%d").to_string();
        for i in 0..per_day {
            tree.file(
                &format!("{folder}/{i:04}.dav"),
                base + CDuration::seconds(i64::from(i)),
                10,
            );
        }
        // Folders last written when their day ended, as on a recorder.
        set_mtime(&tree.path(&folder), base + CDuration::hours(1));
    }
    for p in walk_dirs(&tree.path("rec")) {
        if p.components().count() < tree.path("rec/2000/01/01").components().count() {
            set_mtime(&p, now - CDuration::days(40));
        }
    }
    let cfg = tree.config(&format!(
        "site = \"loja\"\ntimezone = \"America/Sao_Paulo\"\n[scan]\nthreads = 2\n[[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = {}\n",
        toml_path(&tree.path("rec"))
    ));
    (tree, cfg)
}

fn walk_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

fn scan(cfg: &ProbeConfig, old: Option<&RecorderScan>) -> RecorderScan {
    scan_recorder(
        &cfg.recorders[0],
        cfg.tz(),
        WINDOW,
        2,
        SystemTime::now(),
        old.map(|s| &s.cache),
    )
}

#[track_caller]
fn assert_same_figures(a: &RecorderScan, b: &RecorderScan) {
    assert_eq!(a.outcome, b.outcome, "outcome");
    assert_eq!(a.total, b.total, "totals");
    assert_eq!(a.cameras, b.cameras, "cameras");
    assert_eq!(a.errors, b.errors, "errors");
}

#[test]
fn unchanged_tree_rescan_reads_no_listing_and_stats_no_file() {
    let (_tree, cfg) = intelbras_tree(10, 50);
    let full = scan(&cfg, None);
    assert_eq!(full.total.files, 500);
    assert_eq!(full.stats.files_stated, 500);
    let again = scan(&cfg, Some(&full));
    assert_same_figures(&again, &full);
    assert_eq!(again.stats.dirs_listed, 0, "{:?}", again.stats);
    assert_eq!(again.stats.files_stated, 0, "{:?}", again.stats);
    // Old folders keep aggregates only: no per-file entries in memory.
    assert_eq!(again.cache.file_entries(), 0);
}

#[test]
fn new_file_in_todays_folder_is_the_only_file_stated() {
    let (tree, cfg) = intelbras_tree(10, 50);
    let first = scan(&cfg, None);
    let now = Utc::now();
    let today = now.format("rec/%Y/%m/%d").to_string();
    tree.file(&format!("{today}/new.dav"), now, 77);
    let second = scan(&cfg, Some(&first));
    assert_eq!(second.total.files, 501);
    assert_eq!(second.total.bytes, first.total.bytes + 77);
    assert_eq!(second.stats.files_stated, 1, "{:?}", second.stats);
    // The new file is recent: it stays by name in the cache and is re-stat'ed next time.
    let third = scan(&cfg, Some(&second));
    assert_eq!(third.stats.files_stated, 1, "{:?}", third.stats);
    assert_same_figures(&third, &second);
    assert_same_figures(&third, &scan(&cfg, None));
}

#[test]
fn a_growing_recording_is_seen_without_its_folder_changing() {
    let (tree, cfg) = intelbras_tree(3, 5);
    let now = Utc::now();
    let today = now.format("rec/%Y/%m/%d").to_string();
    let p = tree.file(
        &format!("{today}/live.dav"),
        now - CDuration::minutes(30),
        10,
    );
    let dir = tree.path(&today);
    for d in walk_dirs(&tree.path("rec")) {
        set_mtime(&d, now - CDuration::days(5));
    }
    set_mtime(&dir, now - CDuration::minutes(30));
    let first = scan(&cfg, None);
    // The recorder appends: the file's mtime and size change, its folder's does not.
    std::fs::write(&p, vec![0u8; 5000]).expect("grow");
    set_mtime(&p, now);
    let second = scan(&cfg, Some(&first));
    assert_eq!(second.stats.dirs_listed, 0, "{:?}", second.stats);
    assert_eq!(second.total.newest.map(|t| t.secs), Some(now.timestamp()));
    assert_eq!(second.total.bytes, first.total.bytes - 10 + 5000);
    assert_same_figures(&second, &scan(&cfg, None));
}

#[test]
fn deleted_and_added_folders_are_seen() {
    let (tree, cfg) = intelbras_tree(5, 3);
    let first = scan(&cfg, None);
    let oldest_day = walk_dirs(&tree.path("rec"))
        .into_iter()
        .filter(|p| p.components().count() == tree.path("rec/y/m/d").components().count())
        .min()
        .expect("a day folder");
    std::fs::remove_dir_all(&oldest_day).expect("remove day");
    tree.file("rec/2031/01/01/x.dav", Utc::now(), 1);
    let second = scan(&cfg, Some(&first));
    assert_eq!(second.total.files, first.total.files - 3 + 1);
    assert_same_figures(&second, &scan(&cfg, None));
}

#[test]
fn cache_file_survives_a_restart() {
    let (tree, cfg) = intelbras_tree(6, 20);
    let cache_path = tree.path("state/scan.cache");
    let mut s1 = Scanner::with_cache_file(&cfg, &cache_path);
    let a = s1.scan_all();
    s1.save_cache().expect("save");
    let mut s2 = Scanner::with_cache_file(&cfg, &cache_path);
    let b = s2.scan_all();
    assert_eq!(strip(a), strip(b));
    // What the reloaded cache allowed: no listing, no file stat.
    let again = scan_from_cache_file(&cfg, &cache_path, "nvr");
    assert_eq!(again.stats.files_stated, 0);
    assert_eq!(again.stats.dirs_listed, 0);
}

#[test]
fn corrupt_foreign_and_outdated_cache_files_are_refused_and_the_scan_is_full() {
    let (tree, cfg) = intelbras_tree(4, 10);
    let cache_path = tree.path("scan.cache");
    let expected = scan_and_save(&cfg, &cache_path);
    let good = std::fs::read(&cache_path).expect("read cache");

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let mut version = good.clone();
    version[16] = 99;
    // A cache of the previous format (no newest non-empty times): refused, never misread.
    let mut previous = good.clone();
    previous[16..20].copy_from_slice(&(cache::VERSION - 1).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("foreign", b"[{\"not\": \"a cache\"}]".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", flipped),
        ("version", version),
        ("previous version", previous),
    ];
    for (name, bytes) in cases {
        std::fs::write(&cache_path, &bytes).expect("write");
        let err = cache::load(&cache_path).expect_err(name);
        match (name, &err) {
            ("empty" | "foreign", CacheError::Foreign(_))
            | ("version", CacheError::Version { found: 99, .. })
            | ("previous version", CacheError::Version { found: 3, .. })
            | ("truncated" | "flipped", CacheError::Corrupt { .. }) => {}
            _ => panic!("{name}: unexpected {err:?}"),
        }
        let got = strip(Scanner::with_cache_file(&cfg, &cache_path).scan_all());
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_changed_configuration_does_not_reuse_the_cache() {
    let (tree, cfg) = intelbras_tree(4, 10);
    let cache_path = tree.path("scan.cache");
    scan_and_save(&cfg, &cache_path);
    // Same recorder id, now counting only .mp4 files: the cached aggregates do not apply.
    let cfg2 = tree.config(&format!(
        "site = \"loja\"\ntimezone = \"America/Sao_Paulo\"\n[[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = {}\nextensions = [\"mp4\"]\n",
        toml_path(&tree.path("rec"))
    ));
    let st = Scanner::with_cache_file(&cfg2, &cache_path).scan_all();
    assert_eq!(st[0].file_count, 0);
}

/// A Digifort camera folder of 3,000 recordings, the last still being written.
fn big_digifort_tree() -> (Tree, ProbeConfig, DateTime<Utc>) {
    digifort_tree_of(3_000, "")
}

/// A Digifort camera folder of `n` recordings (names padded with `pad`), the last 8 written
/// within the hot window.
fn digifort_tree_of(n: i64, pad: &str) -> (Tree, ProbeConfig, DateTime<Utc>) {
    let tree = Tree::new();
    let now = Utc::now();
    let dados = tree.mkdir("rec/cam01/Dados");
    for i in 0..n {
        let t = now - CDuration::minutes(10) - CDuration::minutes(15 * i);
        write_file(&dados.join(format!("{pad}{i:06}.dar")), t, 100);
    }
    set_mtime(&dados, now - CDuration::minutes(10));
    set_mtime(&tree.path("rec/cam01"), now - CDuration::days(90));
    set_mtime(&tree.path("rec"), now - CDuration::days(90));
    let cfg = tree.config(&format!(
        "site = \"loja\"\ntimezone = \"America/Sao_Paulo\"\n[[recorder]]\nid = \"dvr\"\ntechnology = \"digifort\"\npath = {}\n",
        toml_path(&tree.path("rec"))
    ));
    (tree, cfg, now)
}

fn blocks_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_big_folders_name_hashes_live_in_one_block_written_only_when_it_changes() {
    let (tree, cfg, now) = big_digifort_tree();
    let cache_path = tree.path("state/scan.cache");
    let blocks = tree.path("state/scan.cache.blocks");
    scan_and_save(&cfg, &cache_path);
    let first = blocks_in(&blocks);
    assert_eq!(
        first.len(),
        1,
        "one block for the one big folder: {first:?}"
    );
    let index_len = std::fs::metadata(&cache_path).expect("cache").len();
    assert!(
        index_len < 3_000,
        "the cache file itself stays small ({index_len} bytes)"
    );

    // A new recording: the folder is listed again, only the new name is stat'ed, and the block
    // is reused as it is.
    tree.file("rec/cam01/Dados/new.dar", now, 5);
    let r = scan_from_cache_file(&cfg, &cache_path, "dvr");
    assert_eq!(r.stats.dirs_listed, 1, "{:?}", r.stats);
    // The new file, and the 8 written within the hot window (2 h), which are re-stat'ed.
    assert_eq!(r.stats.files_stated, 1 + 8, "{:?}", r.stats);
    assert_eq!(r.total.files, 3_001);
    let got = scan_and_save(&cfg, &cache_path);
    assert_eq!(
        blocks_in(&blocks),
        first,
        "the unchanged block is not rewritten"
    );
    assert_eq!(got, strip(Scanner::new(&cfg).scan_all()));

    // A deleted recording: the folder is read in full and a new block replaces the old one.
    std::fs::remove_file(tree.path("rec/cam01/Dados/000100.dar")).expect("rm");
    let got = scan_and_save(&cfg, &cache_path);
    assert_eq!(got, strip(Scanner::new(&cfg).scan_all()));
    let second = blocks_in(&blocks);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "the old block is removed");
}

#[test]
fn a_huge_folder_read_by_two_threads_gives_exactly_the_figures_of_one() {
    // 9,000 names of 30 bytes: more directory data than one thread is given on ext4.
    let (tree, cfg, now) = digifort_tree_of(9_000, "20261128_cam01_");
    let scan_with = |threads: usize, old: Option<&RecorderScan>| {
        scan_recorder(
            &cfg.recorders[0],
            cfg.tz(),
            WINDOW,
            threads,
            SystemTime::now(),
            old.map(|s| &s.cache),
        )
    };
    let one = scan_with(1, None);
    let two = scan_with(2, None);
    assert_eq!(one.total.files, 9_000);
    assert_eq!(one.total.bytes, 900_000);
    assert_same_figures(&two, &one);
    assert_eq!(one.stats.dirs_split, 0, "one thread never splits");
    let fs = std::process::Command::new("stat")
        .args(["-f", "-c", "%t"])
        .arg(tree.path("rec"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if cfg!(target_os = "linux") && fs == "ef53" {
        assert_eq!(two.stats.dirs_split, 1, "{:?}", two.stats);
    }
    // A rescan after a new recording: split again, only the new name and the hot ones stat'ed.
    tree.file("rec/cam01/Dados/zz-new.dar", now, 1);
    let again = scan_with(2, Some(&two));
    assert_eq!(again.total.files, 9_001);
    assert_eq!(again.stats.files_stated, 1 + 8, "{:?}", again.stats);
    assert_same_figures(&again, &scan_with(1, None));
}

#[test]
fn a_missing_or_altered_block_costs_a_full_listing_never_a_wrong_figure() {
    let (tree, cfg, now) = big_digifort_tree();
    let cache_path = tree.path("scan.cache");
    let blocks = tree.path("scan.cache.blocks");
    scan_and_save(&cfg, &cache_path);
    let name = blocks_in(&blocks).pop().expect("a block");
    let block = blocks.join(&name);
    let good = std::fs::read(&block).expect("read block");
    let mut altered = good.clone();
    altered[16] ^= 0x01;
    for (case, bytes) in [
        ("altered", Some(altered)),
        ("truncated", Some(good[..40].to_vec())),
        ("missing", None),
    ] {
        match bytes {
            Some(b) => std::fs::write(&block, b).expect("write"),
            None => std::fs::remove_file(&block).expect("rm"),
        }
        tree.file(&format!("rec/cam01/Dados/{case}.dar"), now, 9);
        let r = scan_from_cache_file(&cfg, &cache_path, "dvr");
        assert!(
            r.stats.files_stated > 3_000,
            "{case}: read in full, {:?}",
            r.stats
        );
        let full = scan(&cfg, None);
        assert_eq!(r.total, full.total, "{case}");
        // Put the good block back for the next case; the cache file still names it.
        std::fs::write(&block, &good).expect("restore");
        std::fs::remove_file(tree.path(&format!("rec/cam01/Dados/{case}.dar"))).expect("rm");
        set_mtime(&tree.path("rec/cam01/Dados"), now - CDuration::minutes(10));
    }
}

#[test]
fn a_cache_that_cannot_be_written_fails_the_command_but_the_figures_are_printed() {
    let (tree, _cfg, _now) = big_digifort_tree();
    // The cache's blocks folder would go under a regular file.
    std::fs::write(tree.path("not-a-folder"), b"x").expect("file");
    let cache = tree.path("not-a-folder/scan.cache");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-probe"))
        .arg("--config")
        .arg(tree.path("probe.toml"))
        .args(["scan", "--cache"])
        .arg(&cache)
        .env("VIGIA_LOG", "warn")
        .output()
        .expect("run vigia-probe scan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("3000"), "the table is printed: {stdout}");
    assert!(
        stderr.contains("writing the scan cache") && stderr.contains("not-a-folder"),
        "{stderr}"
    );
}

/// An iVMS tree of many small folders (`days` x `cams` x `per` files, days old), whose folders
/// were all written within the hot window, as after a copy or a restore: every folder keeps
/// its name hashes, the worst case for what a rescan could read and write.
fn many_small_folders(days: i64, cams: u32, per: u32) -> (Tree, ProbeConfig, DateTime<Utc>) {
    let tree = Tree::new();
    let now = Utc::now();
    for d in 0..days {
        let base = now - CDuration::days(days - d + 1);
        for c in 1..=cams {
            let folder = format!("rec/{}/cam{c:02}", base.format("%Y-%m-%d"));
            for i in 0..per {
                let t = base + CDuration::seconds(i64::from(c * 1000 + i));
                tree.file(&format!("{folder}/{i:08}.mp4"), t, 10);
            }
        }
    }
    for p in walk_dirs(&tree.path("rec")) {
        set_mtime(&p, now - CDuration::minutes(30));
    }
    let cfg = tree.config(&format!(
        "site = \"loja\"\ntimezone = \"America/Sao_Paulo\"\n[scan]\nthreads = 2\n[[recorder]]\nid = \"ivms\"\ntechnology = \"ivms\"\npath = {}\n",
        toml_path(&tree.path("rec"))
    ));
    (tree, cfg, now)
}

/// Every file of the cache (base, journal, heap, blocks) with its bytes.
fn cache_files(cache_path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = cache_path.parent().expect("parent");
    let name = cache_path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut out = Vec::new();
    for p in walk_dirs(dir) {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(dir)
                .expect("under")
                .to_string_lossy()
                .into_owned();
            if e.file_type().is_ok_and(|t| t.is_file()) && rel.starts_with(&name) {
                out.push((path.clone(), std::fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// Bytes that differ between two states of the cache's files: a file's growth when the old
/// bytes are a prefix of the new (an append), a new file's length, else its whole new length
/// (a rewrite, also listed).
fn bytes_written(
    before: &[(PathBuf, Vec<u8>)],
    after: &[(PathBuf, Vec<u8>)],
) -> (usize, Vec<String>) {
    let mut total = 0;
    let mut rewritten = Vec::new();
    for (p, new) in after {
        match before.iter().find(|(q, _)| q == p) {
            Some((_, old)) if new == old => {}
            Some((_, old)) if new.starts_with(old) => total += new.len() - old.len(),
            None => total += new.len(),
            Some(_) => {
                total += new.len();
                rewritten.push(p.display().to_string());
            }
        }
    }
    (total, rewritten)
}

#[test]
fn a_rescan_that_changes_one_folder_writes_bytes_in_proportion_to_that_folder() {
    // 60 days x 8 cameras x 48 files: 23,040 files in 540 folders, every folder with hashes.
    let (tree, cfg, now) = many_small_folders(60, 8, 48);
    let cache_path = tree.path("state/scan.cache");
    let first = scan_and_save(&cfg, &cache_path);
    let before = cache_files(&cache_path);
    let total: usize = before.iter().map(|(_, b)| b.len()).sum();
    assert!(total > 23_040 * 8, "every name hash is kept: {total} bytes");

    // One new recording in one folder of 48.
    let day = (now - CDuration::days(5)).format("%Y-%m-%d").to_string();
    tree.file(
        &format!("rec/{day}/cam03/new.mp4"),
        now - CDuration::days(3),
        7,
    );
    // Not "racy" (changed within the clock tick of the scan), so listed once, not twice.
    set_mtime(
        &tree.path(&format!("rec/{day}/cam03")),
        now - CDuration::minutes(20),
    );
    let r = scan_from_cache_file(&cfg, &cache_path, "ivms");
    assert_eq!(r.stats.dirs_listed, 1, "{:?}", r.stats);
    assert_eq!(r.stats.files_stated, 1, "{:?}", r.stats);
    let got = scan_and_save(&cfg, &cache_path);
    assert_eq!(got, strip(Scanner::new(&cfg).scan_all()));
    assert_eq!(got[0].file_count, first[0].file_count + 1);
    let after = cache_files(&cache_path);
    let (written, rewritten) = bytes_written(&before, &after);
    assert!(
        rewritten.is_empty(),
        "nothing rewritten whole: {rewritten:?}"
    );
    // The folder's entry (its path, times, aggregate, where its 49 hashes are) and its new
    // hash: a few hundred bytes, against a cache of about 200 KB.
    assert!(
        written <= 600,
        "one folder changed, {written} bytes written (cache {total} bytes)"
    );

    // An unchanged tree: nothing written at all.
    let before = after;
    scan_and_save(&cfg, &cache_path);
    let (written, _) = bytes_written(&before, &cache_files(&cache_path));
    assert_eq!(written, 0, "an unchanged rescan writes nothing");
}

#[test]
fn a_rescan_reads_the_name_hashes_of_changed_folders_only() {
    let (tree, cfg, now) = many_small_folders(20, 4, 30);
    let cache_path = tree.path("scan.cache");
    scan_and_save(&cfg, &cache_path);
    // Every piece of every folder's hashes made unreadable: had a rescan read the hashes of an
    // unchanged folder, it would have found them bad and listed that folder in full.
    let heap = tree.path("scan.cache.hashes");
    let len = std::fs::metadata(&heap)
        .expect("the heap holds the hashes")
        .len();
    assert!(len >= 20 * 4 * 30 * 8, "{len}");
    std::fs::write(&heap, vec![0u8; len as usize]).expect("scramble");
    let day = (now - CDuration::days(4)).format("%Y-%m-%d").to_string();
    tree.file(
        &format!("rec/{day}/cam02/new.mp4"),
        now - CDuration::days(3),
        7,
    );
    let r = scan_from_cache_file(&cfg, &cache_path, "ivms");
    // The changed folder alone: listed in full (its hashes do not check out), 30 + 1 files.
    assert_eq!(r.stats.dirs_listed, 1, "{:?}", r.stats);
    assert_eq!(r.stats.files_stated, 31, "{:?}", r.stats);
    assert_same_figures(&r, &scan(&cfg, None));
}

/// A scan of the first recorder from the cache file, as a restarted probe makes it.
fn scan_from_cache_file(cfg: &ProbeConfig, cache_path: &Path, id: &str) -> RecorderScan {
    let loaded = cache::load(cache_path).expect("valid").expect("present");
    scan_recorder(
        &cfg.recorders[0],
        cfg.tz(),
        cfg.scan.hot_window,
        2,
        SystemTime::now(),
        loaded.get(id),
    )
}

/// One scan whose cache is saved to `cache_path`; its statuses without what differs per scan.
fn scan_and_save(cfg: &ProbeConfig, cache_path: &Path) -> Vec<RecordingStatus> {
    let mut s = Scanner::with_cache_file(cfg, cache_path);
    let got = strip(s.scan_all());
    s.save_cache().expect("save");
    got
}

/// Statuses without the fields that differ between two scans of the same tree.
fn strip(list: Vec<RecordingStatus>) -> Vec<RecordingStatus> {
    list.into_iter()
        .map(|mut s| {
            s.observed_at = None;
            s.scan_duration = None;
            s.disk_free_bytes = 0;
            s.disk_total_bytes = 0;
            s
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Property test: random trees, random changes, incremental == full.

#[derive(Debug, Clone)]
enum Op {
    AddFile {
        dir: usize,
        kind: u8,
        offset: u32,
        size: u8,
        ext: u8,
    },
    RemoveFile {
        idx: usize,
    },
    TouchRecent {
        idx: usize,
        kind: u8,
        offset: u32,
    },
    AddDir {
        parent: usize,
    },
    RemoveDir {
        idx: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // One file in four is empty, so the newest non-empty time differs from the newest.
        4 => (any::<usize>(), 0u8..4, any::<u32>(), prop_oneof![1 => Just(0u8), 3 => any::<u8>()], 0u8..3)
            .prop_map(|(dir, kind, offset, size, ext)| Op::AddFile { dir, kind, offset, size, ext }),
        2 => any::<usize>().prop_map(|idx| Op::RemoveFile { idx }),
        2 => (any::<usize>(), 0u8..4, any::<u32>())
            .prop_map(|(idx, kind, offset)| Op::TouchRecent { idx, kind, offset }),
        2 => any::<usize>().prop_map(|parent| Op::AddDir { parent }),
        1 => any::<usize>().prop_map(|idx| Op::RemoveDir { idx }),
    ]
}

/// A file time of a kind: 0 recent (within the hot window), 1 days old, 2 before 1970, 3 future.
fn time_of(kind: u8, offset: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let o = i64::from(offset);
    match kind {
        0 => now - CDuration::seconds(o % 3600),
        1 => now - CDuration::days(1 + o % 40) - CDuration::seconds(o % 86_400),
        2 => DateTime::from_timestamp(-86_400 * (1 + o % 3000), 0).expect("time"),
        _ => now + CDuration::days(1 + o % 36_500),
    }
}

struct World {
    root: PathBuf,
    counter: u64,
    old_base: DateTime<Utc>,
}

impl World {
    fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in walk_dirs(&self.root) {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_file()) {
                        out.push(e.path());
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut d = walk_dirs(&self.root);
        d.sort();
        d
    }

    fn unique(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Applies ops; returns the folders whose listing changed.
    fn apply(&mut self, ops: &[Op], now: DateTime<Utc>) -> Vec<PathBuf> {
        let mut touched = Vec::new();
        for op in ops {
            match op {
                Op::AddFile {
                    dir,
                    kind,
                    offset,
                    size,
                    ext,
                } => {
                    let dirs = self.dirs();
                    let d = &dirs[dir % dirs.len()];
                    let ext = ["mp4", "MP4", "txt"][usize::from(*ext)];
                    let p = d.join(format!("f{}.{ext}", self.unique()));
                    write_file(&p, time_of(*kind, *offset, now), usize::from(*size));
                    touched.push(d.clone());
                }
                Op::RemoveFile { idx } => {
                    let files = self.files();
                    if !files.is_empty() {
                        let p = &files[idx % files.len()];
                        std::fs::remove_file(p).expect("remove file");
                        touched.push(p.parent().expect("parent").to_path_buf());
                    }
                }
                Op::TouchRecent { idx, kind, offset } => {
                    // Only files still being written (recent) change in place; see walk.rs.
                    let recent: Vec<PathBuf> = self
                        .files()
                        .into_iter()
                        .filter(|p| {
                            let m = std::fs::metadata(p).expect("stat");
                            let t: DateTime<Utc> = m.modified().expect("mtime").into();
                            t > now - CDuration::seconds(3600 + 600)
                        })
                        .collect();
                    if !recent.is_empty() {
                        let p = &recent[idx % recent.len()];
                        std::fs::write(p, vec![1u8; (*offset % 300) as usize]).expect("rewrite");
                        set_mtime(p, time_of(*kind, *offset, now));
                    }
                }
                Op::AddDir { parent } => {
                    let dirs = self.dirs();
                    let d = &dirs[parent % dirs.len()];
                    if d.components().count() - self.root.components().count() < 4 {
                        let n = d.join(format!("d{}", self.unique()));
                        std::fs::create_dir(&n).expect("mkdir");
                        touched.push(d.clone());
                        touched.push(n);
                    }
                }
                Op::RemoveDir { idx } => {
                    let dirs = self.dirs();
                    if dirs.len() > 1 {
                        let d = &dirs[1 + idx % (dirs.len() - 1)];
                        std::fs::remove_dir_all(d).expect("rm -r");
                        touched.push(d.parent().expect("parent").to_path_buf());
                    }
                }
            }
        }
        touched.sort();
        touched.dedup();
        touched.retain(|p| p.exists());
        touched
    }

    /// Gives changed folders an mtime: the kernel's "now", an old one, or a recent one; always
    /// a new value, as a real change would make (the kernel's clock tick may repeat a value,
    /// which the scanner must cope with too, hence mode 0).
    fn stamp(&mut self, dirs: &[PathBuf], mode: u8, now: DateTime<Utc>) {
        for d in dirs {
            let u = i64::try_from(self.unique()).expect("small");
            match mode % 3 {
                0 => {}
                1 => set_mtime(d, self.old_base + CDuration::seconds(u)),
                _ => set_mtime(d, now - CDuration::minutes(30) + CDuration::seconds(u)),
            }
        }
    }
}

fn prop_config(tree: &Tree) -> ProbeConfig {
    let root = toml_path(&tree.path("root"));
    tree.config(&format!(
        "site = \"loja\"\ntimezone = \"America/Sao_Paulo\"\n[scan]\nthreads = 2\n\
         [[recorder]]\nid = \"gen\"\ntechnology = \"generic\"\npath = {root}\nextensions = [\"mp4\"]\ncamera_depth = 1\n\
         [[recorder]]\nid = \"ivms\"\ntechnology = \"ivms\"\npath = {root}\n\
         [[recorder]]\nid = \"intelbras\"\ntechnology = \"intelbras\"\npath = {root}\n"
    ))
}

/// Runs the property: `big` files (days old, plus one being written) in a recently-written
/// folder first, so their name hashes go to a block file beside the cache; `small` folders of
/// `per` files (`DATE/camNN`, as iVMS makes them), half of them written recently, so their
/// hashes go to the heap. Returns the last full scan's statuses. The statuses are compared
/// whole, new fields included.
fn rescans_equal_full_scans(
    big: usize,
    initial: &[Op],
    steps: Vec<(Vec<Op>, u8)>,
) -> Result<Vec<RecordingStatus>, TestCaseError> {
    rescans_equal_full_scans_of(big, (0, 0), initial, steps)
}

fn rescans_equal_full_scans_of(
    big: usize,
    (small, per): (usize, usize),
    initial: &[Op],
    steps: Vec<(Vec<Op>, u8)>,
) -> Result<Vec<RecordingStatus>, TestCaseError> {
    let tree = Tree::new();
    let root = tree.mkdir("root");
    let now = Utc::now();
    let mut world = World {
        root: root.clone(),
        counter: 0,
        old_base: now - CDuration::days(60),
    };
    if big > 0 {
        let dir = tree.mkdir("root/big");
        for i in 0..big {
            let t = now - CDuration::days(1 + (i % 30) as i64) - CDuration::seconds(i as i64);
            write_file(&dir.join(format!("old{i}.mp4")), t, i % 7);
        }
        write_file(&dir.join("live.mp4"), now - CDuration::minutes(5), 3);
        set_mtime(&dir, now - CDuration::minutes(5));
    }
    for f in 0..small {
        let day = (now - CDuration::days(2 + (f / 4) as i64)).format("%Y-%m-%d");
        let dir = tree.mkdir(&format!("root/{day}/cam{:02}", f % 4));
        for i in 0..per {
            let t = now - CDuration::days(1 + (f % 30) as i64) - CDuration::seconds(i as i64);
            write_file(&dir.join(format!("{i:06}.mp4")), t, (i + f) % 5);
        }
        if f % 2 == 0 {
            set_mtime(&dir, now - CDuration::minutes(40));
        } else {
            set_mtime(&dir, now - CDuration::days(1 + (f % 30) as i64));
        }
    }
    let changed = world.apply(initial, now);
    world.stamp(&changed, 1, now);
    let cfg = prop_config(&tree);
    let cache_path = tree.path("scan.cache");
    let mut last = Vec::new();
    for (i, (ops, mode)) in std::iter::once((Vec::new(), 0)).chain(steps).enumerate() {
        let changed = world.apply(&ops, now);
        world.stamp(&changed, mode, now);
        // The incremental scanner starts from the cache file, as a restarted probe does.
        let mut inc = Scanner::with_cache_file(&cfg, &cache_path);
        let got = strip(inc.scan_all());
        inc.save_cache().expect("save cache");
        let want = strip(Scanner::new(&cfg).scan_all());
        prop_assert_eq!(&got, &want, "step {} after {:?}", i, ops);
        last = want;
    }
    Ok(last)
}

#[test]
fn the_compared_statuses_carry_newest_nonempty_times_and_camera_days() {
    let file = |kind, offset, size| Op::AddFile {
        dir: 2,
        kind,
        offset,
        size,
        ext: 0,
    };
    // root/d1/d2: a camera folder for both the generic (d1) and the iVMS (d2) recorder.
    let initial = [
        Op::AddDir { parent: 0 },
        Op::AddDir { parent: 1 },
        file(1, 5, 10),
        file(1, 100_000, 20),
        file(0, 60, 0),
    ];
    let steps = vec![(vec![file(0, 30, 0)], 0), (vec![file(1, 7, 3)], 1)];
    let last = rescans_equal_full_scans(0, &initial, steps).expect("rescans equal full scans");
    for id in ["gen", "ivms"] {
        let s = last.iter().find(|s| s.recorder == id).expect("recorder");
        assert_eq!(s.file_count, 5, "{id}");
        let (newest, nonempty) = (&s.newest_recording, &s.newest_nonempty_recording);
        assert!(
            nonempty.is_some()
                && newest.as_ref().map(|t| t.seconds) > nonempty.as_ref().map(|t| t.seconds),
            "{id}: {newest:?} {nonempty:?}"
        );
        assert_eq!(s.cameras.len(), 1, "{id}");
        let c = &s.cameras[0];
        assert_eq!(
            c.newest_nonempty_recording, s.newest_nonempty_recording,
            "{id}"
        );
        assert!(
            !c.first_day.is_empty() && !c.day_bitmap.is_empty(),
            "{id}: {c:?}"
        );
        let days = vigia::day_bitmap::decode(&c.first_day, &c.day_bitmap)
            .expect("a valid bitmap")
            .expect("per-camera days");
        assert_eq!(days.len(), c.days_recorded as usize, "{id}");
    }
}

/// Up to five rounds of changes, each with how changed folders get their mtime.
fn rounds() -> impl Strategy<Value = Vec<(Vec<Op>, u8)>> {
    prop::collection::vec((prop::collection::vec(op(), 1..8), 0u8..3), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_rescan_equals_a_full_scan(
        initial in prop::collection::vec(op(), 5..40),
        steps in rounds(),
    ) {
        rescans_equal_full_scans(0, &initial, steps)?;
    }
}

proptest! {
    // Fewer cases: each builds a folder of 1,500 files (its hashes go to a block file).
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn incremental_rescan_of_a_big_folder_equals_a_full_scan(
        initial in prop::collection::vec(op(), 0..10),
        steps in rounds(),
    ) {
        rescans_equal_full_scans(1_500, &initial, steps)?;
    }
}

/// Up to twelve rounds, enough for the journal to outgrow a small base and be folded into it.
fn many_rounds() -> impl Strategy<Value = Vec<(Vec<Op>, u8)>> {
    prop::collection::vec((prop::collection::vec(op(), 1..8), 0u8..3), 1..12)
}

proptest! {
    // Fewer cases: each builds 40 folders of 12 files.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn incremental_rescan_of_many_small_folders_equals_a_full_scan(
        initial in prop::collection::vec(op(), 0..10),
        steps in many_rounds(),
    ) {
        rescans_equal_full_scans_of(0, (40, 12), &initial, steps)?;
    }
}
