//! What the daemon says in its log: one line per scan and per delivery, and, for a probe the
//! collector refuses (certificate from another CA, or for another site), a clear error once per
//! backoff step, with no crash, no busy loop, and everything kept in the spool. A test binary
//! of its own: the log capture is per thread, and tracing's per-callsite caches are shared by
//! every thread of a process, so threads without the capture must not run beside it.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;
use vigia_probe::spool::Spool;

/// Runs a refused probe for a few seconds behind a counting proxy; returns (attempts, logs).
async fn refused_probe(
    certs_for: impl FnOnce(&SiteDir) -> vigia_collector::testkit::CertPaths,
) -> (u64, Logs, Option<String>) {
    let (logs, _guard) = Logs::capture();
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let proxy = Proxy::start(collector.addr).await;
    let certs = certs_for(&site);
    let opts = Opts {
        backoff_max: "60s",
        ..Opts::default()
    };
    let cfg = site.config(&url_of(proxy.addr), &certs, &opts);
    let probe = Running::start(&cfg, Duration::from_millis(200));
    let stats = probe.stats.clone();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts = proxy.accepted();
    assert!(stats.scans() >= 10, "scanning goes on meanwhile");
    assert_eq!(stats.acknowledged(), 0);
    assert_eq!(
        stats.connect_attempts(),
        attempts,
        "every attempt reached the proxy"
    );
    probe.stop().await;
    let spooled = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    assert_eq!(spooled, stats.scans(), "everything stays spooled");
    assert!(stored(&collector, &site.fleet).await.is_empty());
    collector.stop().await;
    (attempts, logs, stats.last_error())
}

/// One failure line per attempt; the attempt the proxy accepted as the probe was being stopped
/// may end without its line (the stop cuts it), so one fewer is fine, one more never.
fn one_line_per_attempt(lines: u64, attempts: u64) -> bool {
    lines <= attempts && lines + 1 >= attempts && lines >= 1
}

#[tokio::test]
async fn a_probe_certificate_from_another_ca_is_logged_clearly_without_a_busy_loop() {
    let (attempts, logs, last) =
        refused_probe(|s| s.fleet.foreign_probe(SITE).expect("cert")).await;
    // Full jitter from 1 s: a handful of attempts in 4 s, never dozens.
    assert!(
        (1..=8).contains(&attempts),
        "{attempts} connection attempts in 4 s"
    );
    let failures = logs.lines_with("collector connection failed");
    assert!(
        one_line_per_attempt(failures.len() as u64, attempts),
        "{} lines for {attempts} attempts:\n{}",
        failures.len(),
        logs.text()
    );
    assert!(
        failures[0].contains("certificate") && failures[0].contains("retry_in_ms"),
        "{}",
        failures[0]
    );
    assert!(last.is_some_and(|e| e.contains("certificate")));
}

#[tokio::test]
async fn a_probe_certificate_for_another_site_is_logged_clearly_without_a_busy_loop() {
    let (attempts, logs, last) =
        refused_probe(|s| s.fleet.probe("other-site").expect("cert")).await;
    assert!(
        (1..=8).contains(&attempts),
        "{attempts} connection attempts in 4 s"
    );
    let text = logs.text();
    assert!(
        text.contains("certificate is for site \"other-site\""),
        "the start-up check names the mismatch:\n{text}"
    );
    let failures = logs.lines_with("collector connection failed");
    assert!(
        one_line_per_attempt(failures.len() as u64, attempts),
        "{} lines for {attempts} attempts:\n{text}",
        failures.len()
    );
    assert!(
        failures[0].contains("PermissionDenied") || failures[0].contains("refused"),
        "{}",
        failures[0]
    );
    assert!(last.is_some());
}

#[tokio::test]
async fn one_line_per_scan_and_per_delivery() {
    let (logs, _guard) = Logs::capture();
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(&collector.url(), &site.probe_certs(), &Opts::default());
    let probe = Running::start(&cfg, Duration::from_secs(5));
    let stats = probe.stats.clone();
    wait_until("three statuses acknowledged", || stats.acknowledged() >= 3).await;
    probe.stop().await;
    collector.stop().await;

    let scans = logs.lines_with("scan done");
    assert!(scans.len() >= 3, "{}", logs.text());
    for field in [
        "recorder=nvr1",
        "outcome=SCAN_OUTCOME_OK",
        "files=3",
        "days=1",
        "newest=20",
        "elapsed_ms=",
        "sequence=",
    ] {
        assert!(scans[0].contains(field), "{field} missing: {}", scans[0]);
    }
    let deliveries = logs.lines_with(" delivered ");
    assert!(!deliveries.is_empty(), "{}", logs.text());
    assert!(
        deliveries[0].contains("from=1") && deliveries[0].contains("spool_depth="),
        "{}",
        deliveries[0]
    );
    assert_eq!(logs.lines_with("stopping").len(), 1);
    assert_eq!(logs.lines_with("stopped left_in_spool=").len(), 1);
    assert!(logs.lines_with("collector connection failed").is_empty());
}

#[tokio::test]
async fn a_status_the_collector_would_refuse_is_logged_with_the_field_at_fault() {
    let (logs, _guard) = Logs::capture();
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(&collector.url(), &site.probe_certs(), &Opts::default());
    let mut real = vigia_probe::daemon::scanner_source(&cfg);
    // A scan duration whose seconds and nanos disagree in sign: protobuf JSON cannot print it.
    let source = move || {
        let mut statuses = vigia_probe::daemon::StatusSource::scan(&mut real);
        for s in &mut statuses {
            s.scan_duration = Some(prost_types::Duration {
                seconds: 5,
                nanos: -1,
            });
        }
        statuses
    };
    let daemon = vigia_probe::daemon::Daemon::new(&cfg).expect("daemon");
    let acked = daemon
        .send_once(source, Duration::from_secs(5))
        .await
        .expect("send-once");
    assert!(!acked);
    collector.stop().await;
    let lines = logs.lines_with("status not spooled");
    assert_eq!(lines.len(), 1, "{}", logs.text());
    for part in [
        "recorder=nvr1",
        "field=\"scan_duration\"",
        "disagree in sign",
        "counted as dropped",
    ] {
        assert!(lines[0].contains(part), "{part} missing: {}", lines[0]);
    }
    assert!(logs.lines_with("scan done").is_empty(), "{}", logs.text());
}
