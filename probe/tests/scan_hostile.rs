//! Hostile trees never crash or hang a scan, and each is reported for what it is.

mod scan_support;

use chrono::{DateTime, Utc};
use scan_support::*;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use vigia::pb::{RecordingStatus, ScanOutcome};
use vigia_probe::config::ProbeConfig;
use vigia_probe::scan::Scanner;

fn recorder_toml(tech: &str, path: &Path, extra: &str) -> String {
    format!(
        "site = \"loja\"\ntimezone = \"UTC\"\n[[recorder]]\nid = \"r\"\ntechnology = \"{tech}\"\npath = {}\n{extra}",
        toml_path(path)
    )
}

/// Scans on another thread and fails the test if that takes more than a minute (a hang).
#[track_caller]
fn scan_bounded(cfg: &ProbeConfig) -> RecordingStatus {
    let cfg = cfg.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Scanner::new(&cfg).scan_all().remove(0));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the scan finished within a minute")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

#[test]
fn missing_root_is_path_missing() {
    let tree = Tree::new();
    let cfg = tree.config(&recorder_toml("intelbras", &tree.path("nope"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::PathMissing as i32);
    assert_eq!(s.file_count, 0);
    assert_eq!(s.errors.len(), 1);
    assert!(s.errors[0].path.ends_with("nope"), "{:?}", s.errors);
    assert_eq!(s.errors[0].reason, "not found");
}

#[test]
fn root_that_is_a_file_is_path_missing() {
    let tree = Tree::new();
    tree.file("rec", t("2026-01-01T00:00:00Z"), 1);
    let cfg = tree.config(&recorder_toml("intelbras", &tree.path("rec"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::PathMissing as i32);
    assert_eq!(s.errors[0].reason, "not a folder");
}

#[test]
fn zero_byte_files_count_with_zero_bytes() {
    let tree = Tree::new();
    tree.file("rec/2026/01/01/a.dav", t("2026-01-01T10:00:00Z"), 0);
    tree.file("rec/2026/01/02/b.dav", t("2026-01-02T10:00:00Z"), 0);
    let cfg = tree.config(&recorder_toml("intelbras", &tree.path("rec"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!((s.file_count, s.total_bytes, s.days_recorded), (2, 0, 2));
}

#[test]
fn empty_tree_is_empty() {
    let tree = Tree::new();
    tree.mkdir("rec/2026/01/01");
    let cfg = tree.config(&recorder_toml("intelbras", &tree.path("rec"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Empty as i32);
    assert_eq!(s.oldest_recording, None);
}

#[test]
fn dados_that_is_a_file_counts_nothing_for_that_camera() {
    let tree = Tree::new();
    tree.file("dig/cam1/Dados", t("2026-01-01T10:00:00Z"), 10);
    tree.file("dig/cam2/Dados/a.dar", t("2026-01-02T10:00:00Z"), 3);
    let cfg = tree.config(&recorder_toml("digifort", &tree.path("dig"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 1);
    let cams: Vec<(&str, u64)> = s
        .cameras
        .iter()
        .map(|c| (c.camera.as_str(), c.file_count))
        .collect();
    assert_eq!(cams, [("cam1", 0), ("cam2", 1)]);
}

#[test]
fn mtimes_before_1970_and_far_in_the_future_are_counted_and_flagged() {
    let tree = Tree::new();
    let old = t("1969-07-20T20:17:00Z");
    let future = t("2300-01-01T00:00:00Z");
    tree.file("rec/2026/01/01/a.dav", old, 1);
    tree.file("rec/2026/01/01/b.dav", t("2026-01-01T10:00:00Z"), 1);
    tree.file("rec/2026/01/01/c.dav", future, 1);
    let cfg = tree.config(&recorder_toml("intelbras", &tree.path("rec"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 3);
    assert_eq!(s.oldest_recording, ts(old));
    assert_eq!(s.newest_recording, ts(future));
    assert_eq!(
        s.recorded_days,
        vec!["1969-07-20", "2026-01-01", "2300-01-01"]
    );
    let verdicts =
        vigia::rules::recorder_verdicts(&s, chrono::Utc::now(), &vigia::rules::Rules::default());
    let skew = verdicts
        .iter()
        .find(|v| v.kind == vigia::pb::VerdictKind::ClockSkew as i32)
        .expect("CLOCK_SKEW verdict");
    assert!(skew.detail.contains("1969"), "{}", skew.detail);
    assert!(skew.detail.contains("2300"), "{}", skew.detail);
}

#[test]
fn hundred_thousand_entries_in_one_folder() {
    let tree = Tree::new();
    let dir = tree.mkdir("dig/cam/Dados");
    for i in 0..100_000u32 {
        std::fs::write(dir.join(format!("{i:06}.dar")), b"").expect("write");
    }
    let cfg = tree.config(&recorder_toml("digifort", &tree.path("dig"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 100_000);
    assert_eq!(s.cameras[0].file_count, 100_000);
}

#[test]
fn files_deleted_or_replaced_during_the_scan_are_not_errors() {
    let tree = Tree::new();
    let dir = tree.mkdir("gen/a");
    let n = 6_000u32;
    for i in 0..n {
        std::fs::write(dir.join(format!("{i}.mp4")), b"x").expect("write");
    }
    let cfg = tree.config(&recorder_toml("generic", &tree.path("gen"), ""));
    let churn_dir = dir.clone();
    let churn = std::thread::spawn(move || {
        for i in 0..n {
            let p = churn_dir.join(format!("{i}.mp4"));
            match i % 3 {
                0 => {
                    let _ = std::fs::remove_file(&p);
                }
                1 => {
                    // Replaced: a new file renamed over the old one.
                    let tmp = churn_dir.join(format!("{i}.tmp"));
                    let _ = std::fs::write(&tmp, b"yy");
                    let _ = std::fs::rename(&tmp, &p);
                }
                _ => {
                    // Replaced by a folder.
                    let _ = std::fs::remove_file(&p);
                    let _ = std::fs::create_dir(&p);
                }
            }
        }
    });
    let mut scans = 0;
    while (!churn.is_finished() && scans < 8) || scans == 0 {
        let s = scan_bounded(&cfg);
        assert!(
            s.outcome == ScanOutcome::Ok as i32 || s.outcome == ScanOutcome::Empty as i32,
            "outcome {} errors {:?}",
            s.outcome,
            s.errors
        );
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert!(s.file_count <= u64::from(n) * 2);
        scans += 1;
    }
    churn.join().expect("churn thread");
    let s = scan_bounded(&cfg);
    // After the churn: a third deleted, a third replaced by files, a third by folders.
    let replaced_by_files = (0..n).filter(|i| i % 3 == 1).count() as u64;
    assert_eq!(s.file_count, replaced_by_files, "{scans} scans");
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_counted_and_shown_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let tree = Tree::new();
    let cam = tree
        .path("dig")
        .join(std::ffi::OsStr::from_bytes(b"c\xe2mera"));
    let file = cam
        .join("Dados")
        .join(std::ffi::OsStr::from_bytes(b"gravac\xe3o.dar"));
    write_file(&file, t("2026-01-01T10:00:00Z"), 4);
    let cfg = tree.config(&recorder_toml("digifort", &tree.path("dig"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 1);
    assert_eq!(s.cameras[0].camera, "c\u{fffd}mera");
}

#[cfg(unix)]
#[test]
fn fifos_and_sockets_are_never_opened_or_counted() {
    let tree = Tree::new();
    tree.file("gen/cam/a.bin", t("2026-01-01T10:00:00Z"), 1);
    let fifo = tree.path("gen/cam/pipe.bin");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let _sock = std::os::unix::net::UnixListener::bind(tree.path("gen/cam/sock.bin"))
        .expect("bind a unix socket");
    let cfg = tree.config(&recorder_toml("generic", &tree.path("gen"), ""));
    // Opening the FIFO for reading would block forever: scan_bounded turns that into a failure.
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 1);
}

#[cfg(unix)]
#[test]
fn symlinks_are_not_followed_by_default() {
    let tree = Tree::new();
    tree.file("gen/a/x.mp4", t("2026-01-01T10:00:00Z"), 1);
    tree.file("elsewhere/y.mp4", t("2026-01-02T10:00:00Z"), 1);
    std::os::unix::fs::symlink(tree.path("gen"), tree.path("gen/a/loop")).expect("symlink");
    std::os::unix::fs::symlink(tree.path("elsewhere"), tree.path("gen/out")).expect("symlink");
    std::os::unix::fs::symlink(tree.path("elsewhere/y.mp4"), tree.path("gen/link.mp4"))
        .expect("symlink");
    let cfg = tree.config(&recorder_toml("generic", &tree.path("gen"), ""));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 1);
    assert!(s.errors.is_empty());
}

#[cfg(unix)]
#[test]
fn followed_symlink_loops_are_detected_and_reported() {
    let tree = Tree::new();
    tree.file("gen/a/x.mp4", t("2026-01-01T10:00:00Z"), 1);
    tree.file("elsewhere/y.mp4", t("2026-01-02T10:00:00Z"), 1);
    // A loop to the root two levels up, one to the folder itself, and a link out of the tree.
    std::os::unix::fs::symlink(tree.path("gen"), tree.path("gen/a/loop")).expect("symlink");
    std::os::unix::fs::symlink(".", tree.path("gen/a/self")).expect("symlink");
    std::os::unix::fs::symlink(tree.path("elsewhere"), tree.path("gen/out")).expect("symlink");
    let cfg = tree.config(&recorder_toml(
        "generic",
        &tree.path("gen"),
        "follow_links = true\n",
    ));
    let s = scan_bounded(&cfg);
    assert_eq!(s.outcome, ScanOutcome::Partial as i32);
    // Each file once: x through a/, y through the followed link.
    assert_eq!(s.file_count, 2);
    assert_eq!(s.errors.len(), 2, "{:?}", s.errors);
    for e in &s.errors {
        assert!(e.reason.contains("loop"), "{e:?}");
    }
    assert!(s.errors.iter().any(|e| e.path.ends_with("a/loop")));
    assert!(s.errors.iter().any(|e| e.path.ends_with("a/self")));
}

/// Runs `vigia-probe scan --format json` as an unprivileged user when this process can read
/// folders whatever their permissions (root): chmod 000 means nothing to root, so the EACCES
/// case would not be tested at all otherwise.
#[cfg(unix)]
fn scan_json_respecting_permissions(cfg_path: &Path) -> serde_json::Value {
    scan_json_as_unprivileged(cfg_path, &[])
}

#[cfg(unix)]
fn scan_json_as_unprivileged(cfg_path: &Path, extra: &[&str]) -> serde_json::Value {
    let bin = env!("CARGO_BIN_EXE_vigia-probe");
    let mut cmd = if permissions_ignored() {
        // Mode 000 means nothing to us (root): drop to nobody for the scan.
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin,
        ]);
        c
    } else {
        std::process::Command::new(bin)
    };
    let out = cmd
        .arg("--config")
        .arg(cfg_path)
        .args(["scan", "--format", "json"])
        .args(extra)
        .env("VIGIA_LOG", "warn")
        .output()
        .expect("run vigia-probe scan (setpriv needed when tests run as root)");
    assert!(
        out.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// True when this process reads a folder of mode 000 anyway (root, CAP_DAC_OVERRIDE).
#[cfg(unix)]
fn permissions_ignored() -> bool {
    let probe = tempfile::tempdir().expect("temp dir");
    let d = probe.path().join("locked");
    std::fs::create_dir(&d).expect("mkdir");
    lock(&d);
    let ignored = std::fs::read_dir(&d).is_ok();
    open_up(&d);
    ignored
}

/// The config of one recorder, readable by the unprivileged user the scan may run as.
#[cfg(unix)]
fn config_for_anyone(tree: &Tree, technology: &str, root: &Path) -> std::path::PathBuf {
    tree.config(&recorder_toml(technology, root, ""));
    let cfg_path = tree.path("probe.toml");
    open_up(&cfg_path);
    cfg_path
}

/// A scan (see [`scan_json_respecting_permissions`]) while `locked` is mode 000.
#[cfg(unix)]
fn scan_json_with_locked(cfg_path: &Path, locked: &Path) -> serde_json::Value {
    lock(locked);
    let v = scan_json_respecting_permissions(cfg_path);
    open_up(locked);
    v
}

#[cfg(unix)]
fn open_up(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
}

#[cfg(unix)]
fn lock(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
}

#[cfg(unix)]
#[test]
fn unreadable_folder_below_the_root_is_partial_and_the_rest_counted() {
    let tree = Tree::new();
    open_up(tree.dir.path());
    tree.file("ivms/2026-01-01/ch1/a.mp4", t("2026-01-01T10:00:00Z"), 5);
    tree.file("ivms/2026-01-02/ch1/b.mp4", t("2026-01-02T10:00:00Z"), 5);
    tree.file("ivms/2026-01-02/ch2/c.mp4", t("2026-01-02T11:00:00Z"), 5);
    for d in ["ivms", "ivms/2026-01-01", "ivms/2026-01-02"] {
        open_up(&tree.path(d));
    }
    for d in [
        "ivms/2026-01-01/ch1",
        "ivms/2026-01-02/ch1",
        "ivms/2026-01-02/ch2",
    ] {
        open_up(&tree.path(d));
    }
    let locked = tree.path("ivms/2026-01-02/ch2");
    let cfg_path = config_for_anyone(&tree, "ivms", &tree.path("ivms"));
    let v = scan_json_with_locked(&cfg_path, &locked);
    let s = &v[0];
    assert_eq!(s["outcome"], "SCAN_OUTCOME_PARTIAL", "{s}");
    assert_eq!(s["fileCount"], "2");
    assert_eq!(s["errors"][0]["path"], locked.display().to_string());
    assert_eq!(s["errors"][0]["reason"], "permission denied");
    assert_eq!(s["errorsOmitted"], "0");
    assert_eq!(
        s["recordedDays"],
        serde_json::json!(["2026-01-01", "2026-01-02"])
    );
}

#[cfg(unix)]
#[test]
fn a_folder_made_unreadable_after_a_cached_scan_is_reported_by_the_rescan() {
    // chmod leaves the folder's mtime alone; the cache must notice all the same (ctime).
    let tree = Tree::new();
    open_up(tree.dir.path());
    tree.file("ivms/2026-01-01/ch1/a.mp4", t("2026-01-01T10:00:00Z"), 5);
    tree.file("ivms/2026-01-01/ch2/b.mp4", t("2026-01-01T11:00:00Z"), 5);
    for d in [
        "ivms",
        "ivms/2026-01-01",
        "ivms/2026-01-01/ch1",
        "ivms/2026-01-01/ch2",
    ] {
        open_up(&tree.path(d));
        set_mtime(&tree.path(d), t("2026-01-01T12:00:00Z"));
    }
    let cfg_path = config_for_anyone(&tree, "ivms", &tree.path("ivms"));
    let state = tree.mkdir("state");
    open_up(&state);
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).expect("chown state");
    let cache = state.join("scan.cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let locked = tree.path("ivms/2026-01-01/ch2");
    let first = scan_json_as_unprivileged(&cfg_path, &["--cache", &cache_arg]);
    assert_eq!(first[0]["outcome"], "SCAN_OUTCOME_OK", "{}", first[0]);
    assert!(cache.exists(), "the first scan wrote its cache");
    lock(&locked);
    let v = scan_json_as_unprivileged(&cfg_path, &["--cache", &cache_arg]);
    open_up(&locked);
    let s = &v[0];
    assert_eq!(s["outcome"], "SCAN_OUTCOME_PARTIAL", "{s}");
    assert_eq!(s["fileCount"], "1");
    assert_eq!(s["errors"][0]["path"], locked.display().to_string());
}

#[cfg(unix)]
#[test]
fn unreadable_root_is_permission_denied() {
    let tree = Tree::new();
    open_up(tree.dir.path());
    tree.file("rec/2026/01/01/a.dav", t("2026-01-01T10:00:00Z"), 5);
    let root = tree.path("rec");
    let cfg_path = config_for_anyone(&tree, "intelbras", &root);
    let v = scan_json_with_locked(&cfg_path, &root);
    let s = &v[0];
    assert_eq!(s["outcome"], "SCAN_OUTCOME_PERMISSION_DENIED", "{s}");
    assert_eq!(s["fileCount"], "0");
    assert_eq!(s["errors"][0]["path"], root.display().to_string());
    assert_eq!(s["errors"][0]["reason"], "permission denied");
}

#[test]
fn errors_are_bounded_to_twenty_with_the_rest_counted() {
    // Loops are the portable way to make many errors without permissions.
    #[cfg(unix)]
    {
        let tree = Tree::new();
        tree.file("gen/a.mp4", t("2026-01-01T10:00:00Z"), 1);
        for i in 0..25 {
            let d = tree.mkdir(&format!("gen/d{i:02}"));
            std::os::unix::fs::symlink(tree.path("gen"), d.join("up")).expect("symlink");
        }
        let cfg = tree.config(&recorder_toml(
            "generic",
            &tree.path("gen"),
            "follow_links = true\n",
        ));
        let s = scan_bounded(&cfg);
        assert_eq!(s.outcome, ScanOutcome::Partial as i32);
        assert_eq!(s.errors.len(), 20);
        assert_eq!(s.errors_omitted, 5);
        // The first twenty by path, whatever the thread timing.
        assert!(s.errors[0].path.ends_with("d00/up"), "{:?}", s.errors[0]);
        assert!(s.errors[19].path.ends_with("d19/up"), "{:?}", s.errors[19]);
        assert_eq!(s.file_count, 1);
    }
}
