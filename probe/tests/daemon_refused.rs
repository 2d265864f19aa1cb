//! A probe the collector refuses (certificate from another CA, or for another site): a clear
//! error in the log once per backoff step, no crash, no busy loop, everything kept in the
//! spool. A test binary of its own: the log capture is per thread, and tracing's per-callsite
//! caches are shared by every thread of a process.

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
    assert_eq!(
        failures.len() as u64,
        attempts,
        "one line per attempt:\n{}",
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
    assert_eq!(
        failures.len() as u64,
        attempts,
        "one line per attempt:\n{text}"
    );
    assert!(
        failures[0].contains("PermissionDenied") || failures[0].contains("refused"),
        "{}",
        failures[0]
    );
    assert!(last.is_some());
}
