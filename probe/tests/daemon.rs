//! The probe daemon against a real collector (from `vigia_collector::testkit`), with
//! certificates minted by the fleet CA code, the real scanner on a small intelbras tree, and
//! the real on-disk spool: nothing is lost while the collector is away, nothing is stored
//! twice, and a refused probe neither crashes nor hammers the collector.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;
use vigia_collector::testkit::reserve_addr;
use vigia_probe::daemon::{scanner_source, Daemon};
use vigia_probe::spool::Spool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_absent_at_start_then_started_receives_every_status_in_order_once() {
    let site = SiteDir::new();
    let addr = reserve_addr().expect("free port");
    let cfg = site.config(&url_of(addr), &site.probe_certs(), &Opts::default());
    let probe = Running::start(&cfg, Duration::from_secs(5));
    let stats = probe.stats.clone();

    wait_until("four scans spooled with no collector", || {
        stats.scans() >= 4
    })
    .await;
    wait_until("a failed connection attempt", || {
        stats.connect_attempts() >= 1
    })
    .await;
    assert_eq!(stats.acknowledged(), 0);
    assert!(
        stats
            .last_error()
            .is_some_and(|e| e.contains("unreachable")),
        "{:?}",
        stats.last_error()
    );

    let collector = site.start_collector_on(addr).await;
    let before = stats.scans();
    wait_until("the backlog and two more scans acknowledged", || {
        stats.scans() >= before + 2 && stats.acknowledged() >= before + 2
    })
    .await;
    probe.stop().await;

    let left = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    let scanned = stats.scans();
    assert_eq!(
        stats.acknowledged() + left,
        scanned,
        "every status acked or spooled"
    );
    let stored = stored(&collector, &site.fleet).await;
    assert_contiguous_once(&stored, scanned - left);
    assert!(
        stored
            .iter()
            .all(|s| s.recorder == "nvr1" && s.file_count == 3),
        "{:?}",
        stored.first()
    );
    assert!(stored.iter().all(|s| s.report_interval
        == Some(prost_types::Duration {
            seconds: 0,
            nanos: 200_000_000
        })));
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_restarted_between_scans_the_probe_reconnects_and_delivers() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(&collector.url(), &site.probe_certs(), &Opts::default());
    let probe = Running::start(&cfg, Duration::from_secs(5));
    let stats = probe.stats.clone();
    wait_until("two statuses acknowledged", || stats.acknowledged() >= 2).await;
    assert_eq!(stats.streams_opened(), 1);

    let collector = collector.restart().await.expect("restart on the same port");
    let acked = stats.acknowledged();
    wait_until("a new stream and three more acknowledgements", || {
        stats.streams_opened() >= 2 && stats.acknowledged() >= acked + 3
    })
    .await;
    probe.stop().await;

    let left = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    assert_contiguous_once(&stored(&collector, &site.fleet).await, stats.scans() - left);
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_stopped_between_spooling_and_ack_then_restarted_loses_nothing_stores_nothing_twice()
{
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let proxy = Proxy::start(collector.addr).await;
    let certs = site.probe_certs();
    let cfg = site.config(&url_of(proxy.addr), &certs, &Opts::default());
    let probe = Running::start(&cfg, Duration::from_millis(300));
    let stats = probe.stats.clone();
    wait_until("two statuses acknowledged", || stats.acknowledged() >= 2).await;

    // From now on the collector stores what the probe sends, but its acks never arrive.
    proxy.swallow_answers();
    let acked = stats.acknowledged();
    let mut stored_now = 0;
    for _ in 0..1000 {
        stored_now = stored(&collector, &site.fleet).await.len() as u64;
        if stored_now >= acked + 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored_now >= acked + 3, "collector stored {stored_now}");
    probe.stop().await;
    let first_run_scans = stats.scans();
    let unacked = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    assert!(
        unacked >= 3,
        "stored-but-unacknowledged statuses stay spooled ({unacked})"
    );
    assert_eq!(stats.acknowledged() + unacked, first_run_scans);
    drop(proxy);

    // Restart, this time straight to the collector: the spool is sent again, the collector
    // acknowledges what it already had without storing it twice.
    let cfg = site.config(&collector.url(), &certs, &Opts::default());
    let probe = Running::start(&cfg, Duration::from_secs(5));
    let stats2 = probe.stats.clone();
    wait_until("the old spool acknowledged and a new scan too", || {
        stats2.acknowledged() > unacked && stats2.scans() >= 1
    })
    .await;
    probe.stop().await;
    let left = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    let total = first_run_scans + stats2.scans();
    let stored = stored(&collector, &site.fleet).await;
    assert_contiguous_once(&stored, total - left);
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_the_next_status_reports_how_many() {
    let site = SiteDir::new();
    let addr = reserve_addr().expect("free port");
    let opts = Opts {
        max_entries: 5,
        ..Opts::default()
    };
    let cfg = site.config(&url_of(addr), &site.probe_certs(), &opts);
    // Eight scans while the collector is away: each `send-once` gives up quickly.
    for _ in 0..8 {
        let daemon = Daemon::new(&cfg).expect("daemon");
        let acked = daemon
            .send_once(scanner_source(&cfg), Duration::from_millis(300))
            .await
            .expect("send-once");
        assert!(!acked, "nothing can be acknowledged without a collector");
    }
    let spool = Spool::open(&site.spool_dir(), 5).expect("spool");
    assert_eq!(spool.sequences().collect::<Vec<_>>(), vec![4, 5, 6, 7, 8]);
    drop(spool);

    let collector = site.start_collector_on(addr).await;
    let daemon = Daemon::new(&cfg).expect("daemon");
    let acked = daemon
        .send_once(scanner_source(&cfg), Duration::from_secs(15))
        .await
        .expect("send-once");
    assert!(acked, "the ninth status is acknowledged");

    let stored = stored(&collector, &site.fleet).await;
    let got: Vec<(u64, u64)> = stored
        .iter()
        .map(|s| (s.sequence, s.dropped_statuses))
        .collect();
    // The five spooled ones are delivered, and the next status reports the three dropped.
    assert_eq!(got, vec![(4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 3)]);
    assert!(Spool::open(&site.spool_dir(), 5).expect("spool").is_empty());
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_outlasts_its_interval_is_not_started_twice() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let site = SiteDir::new();
    let addr = reserve_addr().expect("free port");
    let opts = Opts {
        every: "50ms",
        ..Opts::default()
    };
    let cfg = site.config(&url_of(addr), &site.probe_certs(), &opts);
    // A walk that takes 300 ms, six times the interval.
    let (running, most, count) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (r, m, c) = (running.clone(), most.clone(), count.clone());
    let mut scanner = scanner_source(&cfg);
    let slow = move || {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        let out = scanner.scan_all();
        r.fetch_sub(1, Ordering::SeqCst);
        c.fetch_add(1, Ordering::SeqCst);
        out
    };
    let daemon = Daemon::new(&cfg).expect("daemon");
    let stats = daemon.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(slow, async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let _ = tx.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("run");
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two scans at once");
    let scans = count.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&scans),
        "{scans} scans of 300 ms in 1 s: back to back, no burst of missed ticks"
    );
    assert_eq!(stats.scans() as usize, scans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dead_connection_is_noticed_by_keepalive_and_replaced() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let proxy = Proxy::start(collector.addr).await;
    let opts = Opts {
        every: "1h",
        ..Opts::default()
    };
    let cfg = site.config(&url_of(proxy.addr), &site.probe_certs(), &opts);
    let daemon = Daemon::new(&cfg)
        .expect("daemon")
        .with_keepalive(Duration::from_millis(300), Duration::from_millis(300));
    let stats = daemon.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(scanner_source(&cfg), async move {
        let _ = rx.await;
    }));
    wait_until("the first status acknowledged", || {
        stats.acknowledged() >= 1
    })
    .await;
    // The link goes silent (no FIN, no RST): only the keepalive can tell.
    proxy.swallow_answers();
    let silent = std::time::Instant::now();
    wait_until("the dead connection noticed", || stats.failures() >= 1).await;
    // PING every 300 ms, dead after 300 ms unanswered: noticed within about a second (with
    // the 20 s defaults, within 40 s), while no status is due for an hour.
    assert!(
        silent.elapsed() < Duration::from_secs(3),
        "noticed after {:?}: {:?}",
        silent.elapsed(),
        stats.last_error()
    );
    proxy.pass_answers();
    wait_until("a new stream", || stats.streams_opened() >= 2).await;
    let _ = tx.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("run");
    assert!(proxy.accepted() >= 2);
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_many_windows_long_drains_in_order_once() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let cfg = site.config(&collector.url(), &site.probe_certs(), &Opts::default());
    // 300 statuses of a long outage, spooled as the daemon would have.
    let scanned = scanner_source(&cfg).scan_all().remove(0);
    {
        let mut spool = Spool::open(&site.spool_dir(), 10_000).expect("spool");
        for _ in 0..300 {
            spool.push(scanned.clone()).expect("push");
        }
    }
    let daemon = Daemon::new(&cfg).expect("daemon").with_in_flight(16);
    let stats = daemon.stats();
    let acked = daemon
        .send_once(scanner_source(&cfg), Duration::from_secs(15))
        .await
        .expect("send-once");
    assert!(acked);
    assert_eq!(stats.acknowledged(), 301);
    assert_eq!(stats.streams_opened(), 1, "one stream carried it all");
    assert_contiguous_once(&stored(&collector, &site.fleet).await, 301);
    collector.stop().await;
}

/// The promise of `collector.backoff_max` (default 10 s): however long the outage, the probe is
/// back within that long of the collector's return. The outage here lasts 30 s, long enough for
/// the backoff ceiling (1 s, doubling) to reach the cap; the test takes about 45 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_the_probe_is_back_within_ten_seconds_of_the_collectors_return() {
    const OUTAGE: Duration = Duration::from_secs(30);
    // Full jitter draws each delay from [0, 10 s]; the margin is for the handshake and the ack.
    const BACK_WITHIN: Duration = Duration::from_secs(10);
    const MARGIN: Duration = Duration::from_secs(1);
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let addr = collector.addr;
    let opts = Opts {
        backoff_max: "",
        every: "1s",
        ..Opts::default()
    };
    let cfg = site.config(&collector.url(), &site.probe_certs(), &opts);
    assert_eq!(
        cfg.collector.as_ref().map(|c| c.backoff_max),
        Some(BACK_WITHIN),
        "the default backoff cap"
    );
    let probe = Running::start(&cfg, Duration::from_secs(5));
    let stats = probe.stats.clone();
    wait_until("a first status acknowledged", || stats.acknowledged() >= 1).await;

    collector.stop().await;
    let failures_before = stats.failures();
    tokio::time::sleep(OUTAGE).await;
    let failed = stats.failures() - failures_before;
    // Ceilings 1, 2, 4, 8 s, then 10 s: a fifth failure means the cap was reached.
    assert!(
        failed >= 5,
        "{failed} failed attempts during the outage: the backoff did not reach its cap"
    );
    let error = stats.last_error().unwrap_or_default();
    assert!(
        error.contains("unreachable") && !error.contains("certificate"),
        "a stopped collector is unreachable, not a certificate problem: {error}"
    );

    let acked = stats.acknowledged();
    let collector = site.start_collector_on(addr).await;
    let back = tokio::time::Instant::now();
    while stats.acknowledged() <= acked {
        assert!(
            back.elapsed() <= BACK_WITHIN + MARGIN,
            "no status delivered within {BACK_WITHIN:?} of the collector's return (last error: {:?})",
            stats.last_error()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = back.elapsed();
    probe.stop().await;

    let left = Spool::open(&site.spool_dir(), 10_000).expect("spool").len() as u64;
    assert_contiguous_once(&stored(&collector, &site.fleet).await, stats.scans() - left);
    collector.stop().await;
    eprintln!("delivered {took:?} after the collector's return");
}
