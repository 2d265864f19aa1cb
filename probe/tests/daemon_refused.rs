//! A status that cannot be delivered must not block the spool forever. One the probe knows is
//! invalid (it checks the collector's own rules, `vigia::validate`) is never spooled; one the
//! collector refuses anyway (here: bigger than that collector's `max_message_bytes`) is set
//! aside. Both are counted as dropped, and every later status still goes through.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;
use vigia_probe::daemon::{scanner_source, Daemon, StatusSource};

/// Files named `*.SUFFIX` in the spool folder.
fn spool_files(site: &SiteDir, suffix: &str) -> usize {
    std::fs::read_dir(site.spool_dir())
        .expect("spool dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_collector_refuses_is_set_aside_and_later_ones_are_delivered() {
    // Some 20 kB: over this collector's limit, under twice it, so the collector decodes it and
    // names its sequence.
    refused_then_delivered(1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_too_large_to_decode_is_set_aside_by_its_size() {
    // Some 80 kB: over twice the limit, never decoded, so the collector can only name the
    // largest frame it takes; the probe sets aside what it sent above that.
    refused_then_delivered(4000).await;
}

/// The real scanner, with `alter` applied to every status of its first scan only.
fn first_scan_altered(
    cfg: &vigia_probe::config::ProbeConfig,
    alter: impl Fn(&mut vigia::pb::RecordingStatus) + Send + 'static,
) -> impl FnMut() -> Vec<vigia::pb::RecordingStatus> + Send + 'static {
    let mut real = scanner_source(cfg);
    let mut first = true;
    move || {
        let mut statuses = real.scan();
        if std::mem::take(&mut first) {
            statuses.iter_mut().for_each(&alter);
        }
        statuses
    }
}

/// A first status with twenty error paths of `path_len` bytes, sent to a collector whose
/// `max_message_bytes` is 16 KiB: it is refused, set aside, counted, and the next run delivers.
async fn refused_then_delivered(path_len: usize) {
    let site = SiteDir::new();
    // A collector configured below the probe's limit (the default 1 MiB): the probe's check
    // passes, the collector's refuses.
    let collector =
        vigia_collector::testkit::TestCollector::start(&site.fleet, &site.data_dir(), |c| {
            c.max_message_bytes = 16 * 1024
        })
        .await
        .expect("collector starts");
    let cfg = site.config(
        &url_of(collector.addr),
        &site.probe_certs(),
        &Opts::default(),
    );
    let source = first_scan_altered(&cfg, move |s| {
        s.errors = (0..20)
            .map(|i| vigia::pb::ScanError {
                path: format!("/rec/{i}/{}", "x".repeat(path_len)),
                reason: "unreadable".into(),
            })
            .collect();
    });
    let daemon = Daemon::new(&cfg).expect("daemon");
    let acked = daemon
        .send_once(source, Duration::from_secs(10))
        .await
        .expect("send-once");
    assert!(!acked, "the refused status is not acknowledged");

    // Next run: the refused one is out of the way, and the new status reports it dropped.
    let daemon = Daemon::new(&cfg).expect("daemon");
    let acked = daemon
        .send_once(scanner_source(&cfg), Duration::from_secs(15))
        .await
        .expect("send-once");
    assert!(acked, "a later status is delivered past the refused one");
    let stored = stored(&collector, &site.fleet).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].sequence, 2);
    assert_eq!(
        stored[0].dropped_statuses, 1,
        "the refused status is counted"
    );
    assert_eq!(
        spool_files(&site, ".rejected"),
        1,
        "the refused status is kept aside for inspection"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_breaking_the_shared_rules_is_never_spooled_and_counted_dropped() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(
        &url_of(collector.addr),
        &site.probe_certs(),
        &Opts::default(),
    );
    // The first scan yields a camera name with a NUL in it (the collector would refuse it on
    // every reconnect).
    let source = first_scan_altered(&cfg, |s| {
        s.cameras.push(vigia::pb::CameraStatus {
            camera: "cam\0one".into(),
            ..Default::default()
        });
    });
    let daemon = Daemon::new(&cfg).expect("daemon");
    let stats = daemon.stats();
    let acked = daemon
        .send_once(source, Duration::from_secs(10))
        .await
        .expect("send-once");
    assert!(!acked, "an invalid status is not reported as delivered");
    assert_eq!(stats.invalid(), 1);
    assert_eq!(spool_files(&site, ".status"), 0, "nothing spooled");
    assert!(stored(&collector, &site.fleet).await.is_empty());

    let daemon = Daemon::new(&cfg).expect("daemon");
    let acked = daemon
        .send_once(scanner_source(&cfg), Duration::from_secs(15))
        .await
        .expect("send-once");
    assert!(acked);
    let stored = stored(&collector, &site.fleet).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].sequence, stored[0].dropped_statuses),
        (1, 1),
        "no sequence spent on the invalid status; the next one reports it dropped"
    );
    collector.stop().await;
}
