//! A status the collector refuses as invalid must not block the spool forever: it is set aside,
//! counted as dropped, and every later status still goes through.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;
use vigia_probe::daemon::{scanner_source, Daemon, StatusSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_status_is_set_aside_and_later_ones_are_delivered() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(
        &url_of(collector.addr),
        &site.probe_certs(),
        &Opts::default(),
    );
    let mut real = scanner_source(&cfg);
    let mut first = true;
    // The first scan yields a status the collector must refuse (an empty recorder id).
    let source = move || {
        let mut statuses = real.scan();
        if std::mem::take(&mut first) {
            for s in &mut statuses {
                s.recorder.clear();
            }
        }
        statuses
    };
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
    let aside: Vec<_> = std::fs::read_dir(site.spool_dir())
        .expect("spool dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rejected"))
        .collect();
    assert_eq!(
        aside.len(),
        1,
        "the refused status is kept aside for inspection"
    );
    collector.stop().await;
}
