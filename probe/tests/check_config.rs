//! `vigia-probe check-config` as a technician runs it on site: each setup mistake that would
//! leave the site silently unreported makes it exit 1 naming the file and the key, and
//! `--connect` proves the collector accepts this probe (a dry-run status it acknowledges
//! without storing), or says why not.

mod daemon_support;

use daemon_support::*;
use std::path::Path;
use std::process::{Command, Output};
use vigia_collector::testkit::CertPaths;

fn check(config: &Path, extra: &[&str]) -> (i32, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_vigia-probe"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .args(extra)
        .env_remove("VIGIA_SITE")
        .output()
        .expect("run vigia-probe");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[track_caller]
fn fails_saying(site: &SiteDir, certs: &CertPaths, says: &[&str]) {
    let config = site.config_file("https://localhost:1", certs, &Opts::default());
    let (code, text) = check(&config, &[]);
    assert_eq!(code, 1, "{text}");
    for s in says {
        assert!(text.contains(s), "{s:?} not in:\n{text}");
    }
}

#[test]
fn a_good_setup_passes_and_shows_the_certificate_days() {
    let site = SiteDir::new();
    let config = site.config_file("https://localhost:1", &site.probe_certs(), &Opts::default());
    let (code, text) = check(&config, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("probe \"loja-1\" (valid until"), "{text}");
    assert!(text.contains("more days"), "{text}");
    // The test fleet's certificates last 30 days: renewing names this site.
    assert!(
        text.contains("renew it soon (vigia-collector ca issue --force probe --site loja-1)"),
        "{text}"
    );
    assert!(
        text.contains("everything `run` needs is in place"),
        "{text}"
    );
}

#[test]
fn each_certificate_mistake_is_named_with_its_file() {
    let site = SiteDir::new();
    let good = site.probe_certs();

    let missing_key = CertPaths {
        key: site.path("certs/nope.key"),
        ..good.clone()
    };
    fails_saying(&site, &missing_key, &["nope.key", "not found"]);

    let other = site.fleet.probe("loja-2").expect("other cert");
    let mismatched = CertPaths {
        key: other.key.clone(),
        ..good.clone()
    };
    fails_saying(&site, &mismatched, &["loja-2.key", "does not match"]);

    fails_saying(&site, &other, &["loja-2.pem", "key `site`", "\"loja-1\""]);

    let expired = site.fleet.expired_probe("loja-1").expect("expired");
    fails_saying(&site, &expired, &["expired-loja-1.pem", "expired on"]);

    let foreign = site.fleet.foreign_probe("loja-1").expect("foreign");
    let wrong_ca = CertPaths {
        ca: good.ca.clone(),
        ..foreign
    };
    fails_saying(
        &site,
        &wrong_ca,
        &["foreign-loja-1.pem", "not issued by the CA", "ca.pem"],
    );

    let reader = site.fleet.reader("ops").expect("reader");
    fails_saying(&site, &reader, &["ops.pem", "needs a probe certificate"]);
}

#[test]
fn a_missing_recording_folder_fails_unless_allowed() {
    let site = SiteDir::new();
    let config = site.config_file("https://localhost:1", &site.probe_certs(), &Opts::default());
    std::fs::remove_dir_all(site.path("rec")).expect("remove the recordings");
    let (code, text) = check(&config, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("key `recorder[0].path`") && text.contains("does not exist"),
        "{text}"
    );
    let (code, text) = check(&config, &["--allow-missing"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning:") && text.contains("--allow-missing"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_proves_the_collector_accepts_this_probe_or_says_why_not() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let config = site.config_file(
        &url_of(collector.addr),
        &site.probe_certs(),
        &Opts::default(),
    );
    let (code, text) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || check(&config, &["--connect"])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("acknowledged a dry-run status"), "{text}");
    assert!(
        stored(&collector, &site.fleet).await.is_empty(),
        "a dry run stores nothing"
    );

    // A certificate from a CA the collector does not trust (this probe trusts both).
    let foreign = site.fleet.foreign_probe("loja-1").expect("foreign");
    let both = site.path("certs/both-cas.pem");
    let ca_text = |p: &Path| std::fs::read_to_string(p).expect("read CA");
    let foreign_ca = site.path("certs/foreign-loja-1-ca.pem");
    std::fs::write(
        &both,
        format!(
            "{}{}",
            ca_text(&site.probe_certs().ca),
            ca_text(&foreign_ca)
        ),
    )
    .expect("both CAs");
    let refused = CertPaths {
        ca: both,
        ..foreign
    };
    let config = site.config_file(&url_of(collector.addr), &refused, &Opts::default());
    let (code, text) = tokio::task::spawn_blocking(move || check(&config, &["--connect"]))
        .await
        .expect("join");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error: ") && text.contains("refused this probe's certificate"),
        "{text}"
    );
    assert!(!text.contains("acknowledged"), "{text}");

    let addr = collector.addr;
    collector.stop().await;
    let config = site.config_file(&url_of(addr), &site.probe_certs(), &Opts::default());
    let (code, text) = tokio::task::spawn_blocking(move || check(&config, &["--connect"]))
        .await
        .expect("join");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("nothing accepts connections"), "{text}");
}
