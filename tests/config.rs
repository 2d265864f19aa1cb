//! Config errors name the culprit (key, value, file or variable); env overrides apply.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use vigia::config::{ConfigError, ConfigSource};
use vigia::rules::{RuleOverrides, Rules};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Conf {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default)]
    rules: Rules,
    #[serde(default)]
    sites: BTreeMap<String, RuleOverrides>,
    #[serde(default)]
    expected_sites: Vec<String>,
}

fn default_listen() -> String {
    "127.0.0.1:50051".into()
}

struct Case {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn file(text: &str) -> Case {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("collector.toml");
    std::fs::write(&file, text).expect("write");
    Case { _dir: dir, file }
}

fn load(case: &Case, env: &[(&str, &str)]) -> Result<Conf, ConfigError> {
    ConfigSource::file(&case.file)
        .with_env(
            env.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
        .with_list_keys(&["expected_sites"])
        .load()
}

#[test]
fn a_full_file_loads_with_durations_and_overrides() {
    let c = file(
        r#"
listen = "0.0.0.0:50051"
expected_sites = ["loja-1", "loja-2"]
[rules]
late_after = "90m"
disk_min_free = "5%"
[sites.loja-1]
min_retention_days = 7
"#,
    );
    let conf = load(&c, &[]).expect("loads");
    assert_eq!(conf.listen, "0.0.0.0:50051");
    assert_eq!(conf.rules.late_after, Duration::from_secs(90 * 60));
    assert_eq!(conf.rules.min_retention_days, 30, "default kept");
    assert_eq!(conf.sites["loja-1"].min_retention_days, Some(7));
    assert_eq!(conf.expected_sites, vec!["loja-1", "loja-2"]);
}

#[test]
fn unknown_key_is_named_with_the_file() {
    let c = file("listen = \"x\"\nlisten_adress = \"y\"\n");
    let e = load(&c, &[]).expect_err("unknown key").to_string();
    assert!(e.contains("listen_adress"), "{e}");
    assert!(e.contains("collector.toml"), "{e}");

    let c = file("[rules]\nlate_afer = \"2h\"\n");
    let e = load(&c, &[]).expect_err("unknown nested key").to_string();
    assert!(
        e.contains("`rules.late_afer`") && e.contains("collector.toml"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_key_and_value() {
    let c = file("[rules]\nlate_after = \"two hours\"\n");
    let e = load(&c, &[]).expect_err("bad duration").to_string();
    assert!(e.contains("key `rules.late_after`"), "{e}");
    assert!(e.contains("two hours"), "{e}");
    assert!(e.contains("\"2h\""), "says what is expected: {e}");

    let c = file("[rules]\nsilent_grace = 300\n");
    let e = load(&c, &[]).expect_err("bare number").to_string();
    assert!(
        e.contains("silent_grace") && e.contains("bare number"),
        "{e}"
    );
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nowhere.toml");
    let e = ConfigSource::file(&path)
        .with_env(vec![])
        .load::<Conf>()
        .expect_err("missing");
    assert!(matches!(e, ConfigError::Missing { .. }));
    assert!(e.to_string().contains("nowhere.toml"), "{e}");
    // An optional file that is missing means defaults.
    let conf: Conf = ConfigSource::file(&path)
        .optional()
        .with_env(vec![])
        .load()
        .expect("defaults");
    assert_eq!(conf.listen, "127.0.0.1:50051");
}

#[test]
fn invalid_toml_names_file_and_line() {
    let c = file("listen = \"a\"\n[rules\n");
    let e = load(&c, &[]).expect_err("syntax").to_string();
    assert!(
        e.contains("collector.toml") && e.contains("not valid TOML at line 2"),
        "{e}"
    );
}

#[test]
fn env_overrides_apply_over_the_file() {
    let c = file("listen = \"0.0.0.0:1\"\n[rules]\nlate_after = \"2h\"\n");
    let conf = load(
        &c,
        &[
            ("VIGIA_LISTEN", "127.0.0.1:9"),
            ("VIGIA_RULES__LATE_AFTER", "30m"),
            ("VIGIA_RULES__MIN_RETENTION_DAYS", "15"),
            ("VIGIA_EXPECTED_SITES", "a,b,c"),
            ("VIGIA_LOG", "debug"),
            ("PATH", "/usr/bin"),
        ],
    )
    .expect("loads");
    assert_eq!(conf.listen, "127.0.0.1:9");
    assert_eq!(conf.rules.late_after, Duration::from_secs(1800));
    assert_eq!(conf.rules.min_retention_days, 15);
    assert_eq!(conf.expected_sites, vec!["a", "b", "c"]);
}

#[test]
fn a_bad_env_override_names_the_variable() {
    let c = file("listen = \"0.0.0.0:1\"\n");
    let e = load(&c, &[("VIGIA_RULES__LATE_AFTER", "soon")])
        .expect_err("bad env")
        .to_string();
    assert!(e.contains("VIGIA_RULES__LATE_AFTER"), "{e}");
    assert!(e.contains("soon"), "{e}");
    let e = load(&c, &[("VIGIA_LISTN", "x")])
        .expect_err("unknown env")
        .to_string();
    assert!(e.contains("VIGIA_LISTN") && e.contains("listn"), "{e}");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WithList {
    recorder: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Item {
    id: String,
    path: String,
}

#[test]
fn keys_inside_tables_of_arrays_read_with_a_dot() {
    let c = file("[[recorder]]\nid = \"a\"\npath = \"/x\"\n[[recorder]]\nid = \"b\"\n");
    let e = ConfigSource::file(&c.file)
        .with_env(vec![])
        .load::<WithList>()
        .expect_err("missing path")
        .to_string();
    assert!(e.contains("missing key `recorder[1].path`"), "{e}");
    let c = file("[[recorder]]\nid = \"a\"\npath = \"/x\"\npaht = \"/y\"\n");
    let e = ConfigSource::file(&c.file)
        .with_env(vec![])
        .load::<WithList>()
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("paht"), "{e}");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WithSecret {
    smtp: Smtp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Smtp {
    host: String,
    password_env: String,
}

#[test]
fn a_variable_the_file_names_as_a_secret_source_is_not_an_override() {
    let c = file("[smtp]\nhost = \"mail\"\npassword_env = \"VIGIA_SMTP_PASSWORD\"\n");
    let conf: WithSecret = ConfigSource::file(&c.file)
        .with_env(vec![
            ("VIGIA_SMTP_PASSWORD".into(), "s3cret".into()),
            ("VIGIA_SMTP__HOST".into(), "relay".into()),
        ])
        .load()
        .expect("the password variable is not taken for a key");
    assert_eq!(conf.smtp.host, "relay", "other overrides still apply");
    // A stray variable the file does not name is still refused, by name.
    let e = ConfigSource::file(&c.file)
        .with_env(vec![("VIGIA_SMTP_PASWORD".into(), "x".into())])
        .load::<WithSecret>()
        .expect_err("stray variable")
        .to_string();
    assert!(e.contains("VIGIA_SMTP_PASWORD"), "{e}");
}
