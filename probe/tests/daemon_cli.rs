//! The `run` and `send-once` commands as an operator or a task scheduler sees them: the real
//! binary, its exit status, SIGTERM; and the `[collector]`, `[schedule]`, `[spool]` checks of
//! `probe.toml`.

mod daemon_support;

use daemon_support::*;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;
use vigia::config::ConfigSource;
use vigia_collector::testkit::reserve_addr;
use vigia_probe::config::ProbeConfig;
use vigia_probe::daemon::{scanner_source, Daemon};
use vigia_probe::spool::Spool;

const BIN: &str = env!("CARGO_BIN_EXE_vigia-probe");

/// Runs the binary to completion, bounded by `WAIT`; returns its status and stderr.
async fn run_bin(args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env("VIGIA_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the command ends in time")
        .expect("the command runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_once_exits_0_when_acknowledged_and_1_when_the_status_stays_spooled() {
    let site = SiteDir::new();
    let addr = reserve_addr().expect("free port");
    let file = site.config_file(&url_of(addr), &site.probe_certs(), &Opts::default());
    let file = file.to_str().expect("utf-8 path");

    let (status, err) = run_bin(&["--config", file, "send-once", "--timeout", "1s"]).await;
    assert_eq!(status.code(), Some(1), "no collector: exit 1\n{err}");
    assert!(err.contains("stays in the spool"), "{err}");
    assert_eq!(Spool::open(&site.spool_dir(), 10).expect("spool").len(), 1);

    let collector = site.start_collector_on(addr).await;
    let (status, err) = run_bin(&["--config", file, "send-once", "--timeout", "10s"]).await;
    assert_eq!(status.code(), Some(0), "acknowledged: exit 0\n{err}");
    assert!(Spool::open(&site.spool_dir(), 10)
        .expect("spool")
        .is_empty());
    let stored = stored(&collector, &site.fleet).await;
    assert_contiguous_once(&stored, 2);
    assert_eq!(
        stored[1].report_interval,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 200_000_000
        })
    );
    collector.stop().await;
}

#[tokio::test]
async fn run_and_send_once_refuse_a_configuration_without_collector_with_exit_2() {
    let site = SiteDir::new();
    let p = site.path("probe.toml");
    std::fs::write(
        &p,
        format!(
            "site = \"{SITE}\"\n[[recorder]]\nid = \"nvr1\"\ntechnology = \"intelbras\"\npath = '{}'\n",
            site.path("rec").display()
        ),
    )
    .expect("write");
    let file = p.to_str().expect("utf-8");
    for args in [
        vec!["--config", file, "run"],
        vec!["--config", file, "send-once"],
    ] {
        let (status, err) = run_bin(&args).await;
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("invalid configuration") && err.contains("[collector]"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_configuration_error_naming_it() {
    let site = SiteDir::new();
    let mut certs = site.probe_certs();
    certs.key = site.path("certs/nope.key");
    let file = site.config_file("https://localhost:1", &certs, &Opts::default());
    let (status, err) = run_bin(&["--config", file.to_str().expect("utf-8"), "send-once"]).await;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid configuration") && err.contains("nope.key"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_on_sigterm_with_exit_0_leaving_nothing_behind() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let file = site.config_file(&collector.url(), &site.probe_certs(), &Opts::default());
    let mut child = tokio::process::Command::new(BIN)
        .args(["--config", file.to_str().expect("utf-8"), "run"])
        .env("VIGIA_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if stored(&collector, &site.fleet).await.len() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the running probe delivers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("stops in time after SIGTERM")
        .expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("stopping") && err.contains("stopped"), "{err}");
    // Whatever was not acknowledged is in the spool, the rest at the collector, all once.
    let spool = Spool::open(&site.spool_dir(), 10_000).expect("spool");
    let (left, made) = (spool.len() as u64, spool.next_sequence() - 1);
    let stored = stored(&collector, &site.fleet).await;
    assert_contiguous_once(&stored, made - left);
    collector.stop().await;
}

/// Loads `probe.toml` text; returns the error message.
fn config_error(site: &SiteDir, extra: &str) -> String {
    let p = site.path("bad.toml");
    let certs = site.probe_certs();
    std::fs::write(
        &p,
        format!(
            "site = \"{SITE}\"\n[collector]\nurl = \"https://localhost:1\"\ncert = '{}'\nkey = '{}'\n{extra}\n",
            certs.cert.display(),
            certs.key.display()
        ),
    )
    .expect("write");
    match ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![])) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_collector_schedule_and_spool_settings_are_refused_naming_the_key() {
    let site = SiteDir::new();
    let cases = [
        ("[schedule]\ncron = \"*/5 * * * *\"", "schedule.cron", "six"),
        (
            "[schedule]\ncron = \"0 0 25 * * *\"",
            "schedule.cron",
            "six-field",
        ),
        (
            "[schedule]\ncron = \"0 */5 * * * *\"\nevery = \"5m\"",
            "schedule.cron",
            "choose one",
        ),
        (
            "[schedule]\nevery = \"0s\"",
            "schedule.every",
            "longer than zero",
        ),
        (
            "[spool]\nmax_entries = 0",
            "spool.max_entries",
            "at least 1",
        ),
        (
            "backoff_max = \"0s\"",
            "collector.backoff_max",
            "longer than zero",
        ),
        ("backoff_max = \"60\"", "backoff_max", ""),
        (
            "connect_timeout = \"0s\"",
            "collector.connect_timeout",
            "longer than zero",
        ),
        ("[collector.extra]", "extra", ""),
    ];
    for (extra, key, words) in cases {
        let e = config_error(&site, extra);
        assert!(e.contains(key) && e.contains(words), "{extra:?} gave: {e}");
    }
    let p = site.path("http.toml");
    let certs = site.probe_certs();
    std::fs::write(
        &p,
        format!(
            "site = \"{SITE}\"\n[collector]\nurl = \"http://localhost:1\"\ncert = '{}'\nkey = '{}'\n",
            certs.cert.display(),
            certs.key.display()
        ),
    )
    .expect("write");
    let e = ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![]))
        .expect_err("http refused")
        .to_string();
    assert!(e.contains("collector.url") && e.contains("https://"), "{e}");
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let site = SiteDir::new();
    let p = site.path("min.toml");
    let certs = site.probe_certs();
    std::fs::write(
        &p,
        format!(
            "site = \"{SITE}\"\n[collector]\nurl = \"https://10.0.0.1:7443\"\nserver_name = \"collector.example\"\ncert = '{}'\nkey = '{}'\n",
            certs.cert.display(),
            certs.key.display()
        ),
    )
    .expect("write");
    let cfg = ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![])).expect("valid");
    let c = cfg.collector.clone().expect("collector");
    assert_eq!(c.backoff_max, Duration::from_secs(10));
    assert_eq!(c.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.server_name.as_deref(), Some("collector.example"));
    assert_eq!(
        c.ca,
        site.dir.path().join("certs/ca.pem"),
        "relative to the file"
    );
    assert_eq!(cfg.spool.max_entries, 10_000);
    assert_eq!(cfg.spool.dir, site.dir.path().join("vigia-spool"));
    assert!(cfg.schedule.every.is_none() && cfg.schedule.cron.is_none());
    let schedule = vigia_probe::schedule::ScanSchedule::from_config(&cfg.schedule, cfg.tz())
        .expect("schedule");
    assert_eq!(
        schedule.interval_after(chrono::Utc::now()),
        Duration::from_secs(300)
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_lets_a_probe_reach_the_collector_by_an_address_its_certificate_lacks() {
    // The test server certificate names localhost and 127.0.0.1; reach it as 127.0.0.2 (still
    // loopback on Linux), through a proxy listening there.
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let proxy = Proxy::start_on([127, 0, 0, 2], collector.addr).await;
    let url = format!("https://127.0.0.2:{}", proxy.addr.port());
    let mut cfg = site.config(&url, &site.probe_certs(), &Opts::default());
    let send_once = |cfg: &ProbeConfig, timeout: Duration| {
        let daemon = Daemon::new(cfg).expect("daemon");
        let stats = daemon.stats();
        let source = scanner_source(cfg);
        async move {
            let ok = daemon.send_once(source, timeout).await.expect("send-once");
            (ok, stats.last_error())
        }
    };
    let (ok, error) = send_once(&cfg, Duration::from_secs(2)).await;
    assert!(
        !ok,
        "an address the certificate does not name is not trusted"
    );
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("does not name the host") && e.contains("server_name")),
        "{error:?}"
    );
    if let Some(c) = cfg.collector.as_mut() {
        c.server_name = Some("localhost".into());
    }
    let (ok, error) = send_once(&cfg, Duration::from_secs(10)).await;
    assert!(ok, "with server_name = localhost it is: {error:?}");
    assert_contiguous_once(&stored(&collector, &site.fleet).await, 2);
    collector.stop().await;
}
