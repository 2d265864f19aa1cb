//! The Windows build as a native service, under wine's Service Control Manager: `service
//! install`, `start` (the service reports running and delivers a status to a real collector on
//! loopback, over mutual TLS), `stop` (the same drain as Ctrl-C, written to the log file beside
//! probe.toml), `uninstall`. wine 8 lacks `ProcessPrng`, which Windows 10 provides; the test
//! builds a one-function stand-in DLL with mingw (tests/wine/bcryptprimitives.c).
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use vigia_collector::testkit::{TestCollector, TestFleet};

/// Longest any wine step may take (the first one creates the wine prefix).
const STEP: Duration = Duration::from_secs(120);

/// `target/x86_64-pc-windows-gnu/debug/vigia-probe.exe`, beside this test's own target folder.
fn windows_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let target = exe
        .ancestors()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n == "debug" || n == "release")
        })
        .and_then(Path::parent)
        .expect("target folder");
    let built = target.join("x86_64-pc-windows-gnu/debug/vigia-probe.exe");
    assert!(
        built.exists(),
        "{} missing: scripts/test builds it (cargo build -p vigia-probe --target x86_64-pc-windows-gnu)",
        built.display()
    );
    built
}

/// What the Windows program sees of a Linux path (wine maps `/` to drive `Z:`).
fn z(path: &Path) -> String {
    format!("Z:{}", path.display().to_string().replace('/', "\\"))
}

struct Wine {
    prefix: PathBuf,
    dir: PathBuf,
}

impl Wine {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.arg(STEP.as_secs().to_string())
            .arg("wine")
            .arg(self.dir.join("vigia-probe.exe"))
            .args(args)
            .current_dir(&self.dir)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY");
        cmd.output().expect("wine (Debian's wine64)")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "vigia-probe {args:?}: {text}");
        text
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_probe_runs_as_a_service_reports_and_stops_with_a_drain() {
    vigia::tls::install_crypto_provider();
    let tmp = tempfile::tempdir().expect("dir");
    let fleet = TestFleet::new(&tmp.path().join("certs")).expect("fleet");
    let probe = fleet.probe("loja-9").expect("probe cert");
    let collector = TestCollector::start(&fleet, &tmp.path().join("data"), |_| {})
        .await
        .expect("collector");

    let dir = tmp.path().join("site");
    std::fs::create_dir_all(dir.join("rec/cam1/2026-12-01")).expect("tree");
    std::fs::write(dir.join("rec/cam1/2026-12-01/a.mp4"), b"video").expect("file");
    std::fs::copy(windows_exe(), dir.join("vigia-probe.exe")).expect("copy exe");
    let dll = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/bcryptprimitives.c"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/bcryptprimitives.def"))
        .arg("-ladvapi32")
        .status()
        .expect("mingw gcc (Debian's gcc-mingw-w64-x86-64)");
    assert!(dll.success(), "the ProcessPrng stand-in builds");
    let config = dir.join("probe.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"loja-9\"\ntimezone = \"UTC\"\n\n[[recorder]]\nid = \"nvr\"\ntechnology = \"generic\"\npath = '{}'\n\n[collector]\nurl = \"https://127.0.0.1:{}\"\nserver_name = \"localhost\"\nca = '{}'\ncert = '{}'\nkey = '{}'\n\n[schedule]\nevery = \"5m\"\n\n[spool]\ndir = \"spool\"\n",
            z(&dir.join("rec")),
            collector.addr.port(),
            z(&probe.ca),
            z(&probe.cert),
            z(&probe.key),
        ),
    )
    .expect("probe.toml");
    let wine = Wine {
        prefix: tmp.path().join("wineprefix"),
        dir: dir.clone(),
    };

    let not_installed = wine.run(&["service", "status"]);
    assert!(!not_installed.status.success(), "nothing installed yet");
    assert!(
        String::from_utf8_lossy(&not_installed.stderr).contains("not installed"),
        "{}",
        String::from_utf8_lossy(&not_installed.stderr)
    );

    let installed = wine.ok(&["--config", &z(&config), "service", "install"]);
    assert!(installed.contains("installed VigiaProbe"), "{installed}");
    let started = wine.ok(&["service", "start"]);
    assert!(started.contains("running"), "{started}");
    assert!(wine.ok(&["service", "status"]).contains("Running"));

    // The service, started by wine's SCM, delivers to the collector.
    let mut q = collector.query_client(&fleet, "ops").await.expect("reader");
    let deadline = Instant::now() + STEP;
    loop {
        let sites = q
            .list_sites(vigia::pb::ListSitesRequest::default())
            .await
            .expect("list")
            .into_inner()
            .sites;
        if sites
            .iter()
            .any(|s| s.site == "loja-9" && !s.recorders.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no status from the service");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let stopped = wine.ok(&["service", "stop"]);
    assert!(stopped.contains("stopped"), "{stopped}");
    let log = std::fs::read_to_string(dir.join("vigia-probe.log")).expect("the service's log");
    for says in [
        "probe running",
        "delivered",
        "stop requested by Windows",
        "left_in_spool=0",
    ] {
        assert!(log.contains(says), "{says:?} not in the log:\n{log}");
    }
    assert!(!log.contains('\x1b'), "no colour codes in the log file");

    assert!(wine.ok(&["service", "uninstall"]).contains("removed"));
    assert!(!wine.run(&["service", "status"]).status.success());
    collector.stop().await;
}
