//! `collector.toml`: documented defaults with no file at all, the example file, environment
//! overrides, and errors that name the key and the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigia::config::{ConfigError, ConfigSource};
use vigia_collector::CollectorConfig;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("collector.toml");
    std::fs::write(&p, text).expect("write");
    p
}

fn load(path: &Path) -> Result<CollectorConfig, ConfigError> {
    CollectorConfig::load(&ConfigSource::file(path).with_env(Vec::new()))
}

#[track_caller]
fn refused(text: &str, says: &[&str]) {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), text);
    let e = load(&p).expect_err("must refuse").to_string();
    assert!(e.contains("collector.toml"), "no file named: {e}");
    for s in says {
        assert!(e.contains(s), "{s:?} missing from: {e}");
    }
}

#[test]
fn no_file_means_the_documented_defaults() {
    let dir = tempfile::tempdir().expect("dir");
    let src = ConfigSource::file(dir.path().join("collector.toml"))
        .optional()
        .with_env(Vec::new());
    let c = CollectorConfig::load(&src).expect("defaults");
    assert_eq!(
        c.listen,
        "127.0.0.1:50051".parse::<SocketAddr>().expect("addr")
    );
    // Relative, so under the (absent) file's folder.
    assert_eq!(c.data_dir, dir.path().join("vigia-data"));
    assert_eq!(c.tls.ca, dir.path().join("certs/ca.pem"));
    assert_eq!(c.tls.cert, dir.path().join("certs/server.pem"));
    assert_eq!(c.tls.key, dir.path().join("certs/server.key"));
    assert_eq!(c.tls.crl_path(), dir.path().join("certs/crl.pem"));
    assert_eq!(c.history.keep, Duration::from_secs(90 * 86_400));
    assert_eq!(c.history.full_for, Duration::from_secs(7 * 86_400));
    assert_eq!(c.history.hourly_for, Duration::from_secs(30 * 86_400));
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.max_message_bytes, 1 << 20);
    assert!(c.expected_sites.is_empty() && c.sites.is_empty());
    assert_eq!(c.rules, vigia::rules::Rules::default());
    assert_eq!(c.cache_bytes(), 64 << 20);

    // Named explicitly, a missing file is an error.
    let e = load(&dir.path().join("nope.toml")).expect_err("missing");
    assert!(matches!(e, ConfigError::Missing { .. }), "{e}");
}

#[test]
fn relative_paths_are_relative_to_the_files_folder() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("etc");
    std::fs::create_dir_all(&conf).expect("etc");
    let abs = dir.path().join("abs-data");
    let p = write(
        &conf,
        "data_dir = \"data\"\n[tls]\nca = \"certs/ca.pem\"\ncert = \"../server.pem\"\ncrl = \"crl/fleet.pem\"\n",
    );
    let c = load(&p).expect("loads");
    assert_eq!(c.data_dir, conf.join("data"));
    assert_eq!(c.tls.ca, conf.join("certs/ca.pem"));
    assert_eq!(c.tls.cert, conf.join("../server.pem"));
    assert_eq!(c.tls.key, conf.join("certs/server.key"), "a default too");
    assert_eq!(c.tls.crl_path(), conf.join("crl/fleet.pem"));

    // Absolute paths stay as written; an environment override reads like the file.
    let c = CollectorConfig::load(&ConfigSource::file(&p).with_env(vec![
        ("VIGIA_DATA_DIR".into(), abs.display().to_string()),
        ("VIGIA_TLS__KEY".into(), "keys/server.key".into()),
    ]))
    .expect("loads");
    assert_eq!(c.data_dir, abs);
    assert_eq!(c.tls.key, conf.join("keys/server.key"));
}

#[test]
fn the_example_file_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/collector.toml");
    let c = load(&p).expect("example");
    assert_eq!(c.expected_sites, ["loja-centro", "loja-norte"]);
    assert_eq!(c.rules_for("loja-norte").min_retention_days, 60);
    assert_eq!(
        c.rules_for("loja-norte").late_after,
        Duration::from_secs(4 * 3600)
    );
    assert_eq!(c.rules_for("loja-centro").min_retention_days, 30);
}

#[test]
fn an_unset_cache_is_sized_to_the_store_found() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(dir.path(), "data_dir = \"data\"\n");
    let c = load(&p).expect("load");
    // No store yet: the smallest.
    assert_eq!(c.cache_bytes(), 64 << 20);
    // Sparse files stand in for a store on disk; sled keeps blobs one folder down.
    let blobs = c.data_dir.join("blobs");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let sized = |path: &Path, bytes: u64| {
        let f = std::fs::File::create(path).expect("create");
        f.set_len(bytes).expect("set_len");
    };
    sized(&c.data_dir.join("db"), 150 << 20);
    sized(&blobs.join("1"), 50 << 20);
    assert_eq!(c.cache_bytes(), 300 << 20, "1.5x the store's 200 MiB");
    sized(&c.data_dir.join("db"), 2 << 30);
    assert_eq!(c.cache_bytes(), 1 << 30, "at most sled's own default");
    // A store whose folders are links to another disk counts what they hold.
    #[cfg(unix)]
    {
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        sized(&elsewhere.join("1"), 100 << 20);
        let linked = dir.path().join("linked");
        std::fs::create_dir_all(&linked).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, linked.join("blobs")).expect("symlink");
        let p = write(dir.path(), "data_dir = \"linked\"\n");
        assert_eq!(
            load(&p).expect("load").cache_bytes(),
            150 << 20,
            "through the link"
        );
    }
    // Never more than a quarter of the machine's memory, never less than the smallest.
    use vigia_collector::config::auto_cache;
    assert_eq!(
        auto_cache(2 << 30, Some(2 << 30)),
        512 << 20,
        "a 2 GiB server"
    );
    assert_eq!(auto_cache(200 << 20, Some(16 << 30)), 300 << 20);
    assert_eq!(auto_cache(2 << 30, None), 1 << 30, "memory unknown");
    assert_eq!(
        auto_cache(2 << 30, Some(128 << 20)),
        64 << 20,
        "a tiny machine"
    );
    // A size set in the file is kept whatever the store's size.
    let p = write(
        dir.path(),
        "data_dir = \"data\"\n[store]\ncache_capacity = \"96MiB\"\n",
    );
    assert_eq!(load(&p).expect("load").cache_bytes(), 96 << 20);
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let p = write(
        dir.path(),
        "listen = \"127.0.0.1:6000\"\n[rules]\nlate_after = \"2h\"\n",
    );
    let src = ConfigSource::file(&p).with_env(vec![
        ("VIGIA_RULES__LATE_AFTER".into(), "3h".into()),
        ("VIGIA_EXPECTED_SITES".into(), "loja-1,loja-2".into()),
        ("VIGIA_METRICS__LISTEN".into(), "127.0.0.1:9464".into()),
    ]);
    let c = CollectorConfig::load(&src).expect("load");
    assert_eq!(c.rules.late_after, Duration::from_secs(3 * 3600));
    assert_eq!(c.expected_sites, ["loja-1", "loja-2"]);
    assert_eq!(
        c.metrics.listen,
        Some("127.0.0.1:9464".parse().expect("addr"))
    );
    assert_eq!(c.listen.port(), 6000);
}

#[test]
fn errors_name_the_key() {
    refused("lisen = \"127.0.0.1:1\"\n", &["lisen"]);
    refused("[rules]\nlate_afer = \"2h\"\n", &["late_afer"]);
    refused("[history]\nkeep = 90\n", &["history.keep", "bare number"]);
    refused("[history]\nkeep = \"10m\"\n", &["history.keep", "1h"]);
    refused(
        "[history]\nfull_for = \"2h\"\n",
        &["history.full_for", "1d"],
    );
    refused(
        "[history]\nfull_for = \"10d\"\nhourly_for = \"9d\"\n",
        &["history.hourly_for", "history.full_for"],
    );
    refused(
        "expected_sites = [\"loja 1\"]\n",
        &["expected_sites", "loja 1"],
    );
    refused("[sites.\"a/b\"]\nmin_retention_days = 3\n", &["sites.a/b"]);
    refused("max_message_bytes = 10\n", &["max_message_bytes"]);
    refused(
        "[store]\ncache_capacity = \"5%\"\n",
        &["store.cache_capacity"],
    );
    refused("[store]\ncompression = \"maybe\"\n", &["store.compression"]);
    refused("listen = \"localhost\"\n", &["listen"]);
    refused("[tls]\ncert = \n", &["line 2"]);
}
