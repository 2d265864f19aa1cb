//! The configuration: the example file loads, each mistake is named with its key and file, and
//! the binary exits 2 with `invalid configuration: ...`; `preview` renders without sending.

use std::path::{Path, PathBuf};
use std::process::Command;
use vigia::config::{ConfigError, ConfigSource};
use vigia_mailer::config::{AuthMechanism, Security};
use vigia_mailer::{Language, Settings};

const MINIMAL: &str = r#"
[collector]
url = "https://collector.example:50051"
ca = "ca.pem"
cert = "mailer.pem"
key = "mailer.key"

[smtp]
host = "smtp.example.com"
from = "vigia@example.com"
to = ["ops@example.com"]
"#;

fn write(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("mailer.toml");
    std::fs::write(&file, text).expect("write");
    file
}

/// A secret file readable by its owner only (the mailer refuses others on Unix).
fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("secret file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

fn load(text: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().expect("dir");
    let file = write(dir.path(), text);
    Settings::load(&ConfigSource::file(&file).with_env(Vec::new()))
}

#[track_caller]
fn load_err(text: &str) -> String {
    load(text).expect_err("must be refused").to_string()
}

#[test]
fn example_file_loads() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/mailer.toml");
    let s = Settings::load(&ConfigSource::file(&file).with_env(Vec::new())).expect("example");
    assert_eq!(s.raw.language, Language::PtBr);
    assert_eq!(s.raw.smtp.auth, [AuthMechanism::Login]);
    assert_eq!(s.tz.name(), "America/Sao_Paulo");
    assert!(s.alerts_schedule.is_some());
    assert_eq!(s.alerts_to[0].email.to_string(), "plantao@example.com");
}

#[test]
fn defaults() {
    let s = load(MINIMAL).expect("minimal");
    assert_eq!(s.raw.digest.schedule, "0 0 7 * * *");
    assert_eq!(s.raw.language, Language::En);
    // Relative paths, the defaults included, are relative to the file's folder.
    let folder = s.file.parent().expect("folder").to_path_buf();
    assert_eq!(s.raw.state_dir, folder.join("./vigia-mailer-state"));
    assert_eq!(s.raw.collector.ca, folder.join("ca.pem"));
    assert_eq!(s.raw.smtp.security, Security::Starttls);
    assert_eq!(s.smtp_port(), 587);
    assert_eq!(
        s.raw.smtp.auth,
        [AuthMechanism::Plain, AuthMechanism::Login]
    );
    assert!(s.alerts_schedule.is_none());
    assert_eq!(
        s.alerts_to, s.to,
        "alerts go to the digest's recipients by default"
    );
    assert_eq!(s.date_format, "%d/%m/%Y %H:%M");
    // Only the relay and the addresses are required.
    let s = load(
        "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"v@example.com\"\nto = [\"o@example.com\"]\n",
    )
    .expect("smtp only");
    assert_eq!(s.raw.collector.url, "https://localhost:50051");
    assert_eq!(
        s.raw.collector.cert,
        s.file.parent().expect("folder").join("certs/mailer.pem")
    );
    for missing in ["host", "from", "to"] {
        let text = "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"v@example.com\"\nto = [\"o@example.com\"]\n"
            .lines()
            .filter(|l| !l.starts_with(missing))
            .collect::<Vec<_>>()
            .join("\n");
        let e = load_err(&text);
        assert!(e.contains(missing), "{missing}: {e}");
    }
}

#[test]
fn environment_overrides_apply() {
    let dir = tempfile::tempdir().expect("dir");
    let file = write(dir.path(), MINIMAL);
    let s = Settings::load(&ConfigSource::file(&file).with_env(vec![
        ("VIGIA_SMTP__HOST".into(), "relay.internal".into()),
        (
            "VIGIA_SMTP__TO".into(),
            "a@example.com,b@example.com".into(),
        ),
        ("VIGIA_LANGUAGE".into(), "pt-BR".into()),
    ]))
    .expect("loads");
    assert_eq!(s.raw.smtp.host, "relay.internal");
    assert_eq!(s.to.len(), 2);
    assert_eq!(s.raw.language, Language::PtBr);
    assert_eq!(s.date_format, "%d/%m/%Y %Hh%M");
}

#[test]
fn five_field_schedule_is_refused_and_says_why() {
    let e = load_err(&format!("{MINIMAL}\n[digest]\nschedule = \"0 7 * * *\"\n"));
    assert!(e.contains("digest.schedule"), "{e}");
    assert!(
        e.contains("five fields") && e.contains("seconds first"),
        "{e}"
    );
    assert!(e.contains("mailer.toml"), "{e}");
    let e = load_err(&format!(
        "{MINIMAL}\n[alerts]\nschedule = \"every ten minutes\"\n"
    ));
    assert!(e.contains("alerts.schedule"), "{e}");
}

#[test]
fn mistakes_are_named() {
    let cases: &[(&str, &str)] = &[
        ("[smtp]\npassword = \"x\"", "password"),
        ("timezone = \"Mars/Olympus\"", "Mars/Olympus"),
        ("language = \"fr\"", "fr"),
        ("date_format = \"%Q\"", "date_format"),
    ];
    for (extra, needle) in cases {
        let text = if extra.starts_with("[smtp]") {
            MINIMAL.replace("[smtp]\n", &format!("{extra}\n"))
        } else {
            format!("{extra}\n{MINIMAL}")
        };
        let e = load_err(&text);
        assert!(e.contains(needle), "{extra}: {e}");
    }
    let e = load_err(&MINIMAL.replace("vigia@example.com", "not an address"));
    assert!(
        e.contains("smtp.from") && e.contains("not an address"),
        "{e}"
    );
    let e = load_err(&MINIMAL.replace("to = [\"ops@example.com\"]", "to = []"));
    assert!(e.contains("smtp.to"), "{e}");
    let e = load_err(&MINIMAL.replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\nusername = \"u\"",
    ));
    assert!(
        e.contains("password_env") && e.contains("password_file"),
        "{e}"
    );
    let e = load_err(&MINIMAL.replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\nusername = \"u\"\npassword_env = \"A\"\npassword_file = \"b\"",
    ));
    assert!(e.contains("not both"), "{e}");
    let e = load_err(&MINIMAL.replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\nauth = [\"CRAM-MD5\"]",
    ));
    assert!(e.contains("CRAM-MD5"), "{e}");
    let e = load_err(&MINIMAL.replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\nsecurity = \"none\"\nusername = \"u\"\npassword_env = \"A\"",
    ));
    assert!(e.contains("in clear"), "{e}");
    let s = load(&MINIMAL.replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\nsecurity = \"none\"",
    ))
    .expect("an open local relay is fine");
    assert_eq!(s.smtp_port(), 25);
    let e = load_err(&MINIMAL.replace("https://", "http://"));
    assert!(e.contains("collector.url"), "{e}");
    let e = load_err(&MINIMAL.replace("timeout", "x").replace(
        "host = \"smtp.example.com\"",
        "host = \"smtp.example.com\"\ntimeout = 30",
    ));
    assert!(e.contains("bare number"), "{e}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigia-mailer"))
}

#[test]
fn binary_exits_2_on_a_bad_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    let file = write(
        dir.path(),
        &format!("{MINIMAL}\n[digest]\nschedule = \"0 7 * * *\"\n"),
    );
    let out = bin()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .env_remove("VIGIA_LOG")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("invalid configuration: "), "{err}");
    assert!(err.contains("five fields"), "{err}");
    // Missing certificates load as a configuration but would fail at run time: exit 1.
    let file = write(dir.path(), MINIMAL);
    let out = bin()
        .current_dir(dir.path())
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ca.pem") && err.contains("not found"), "{err}");
}

/// Run from another working directory, as a service is, the mailer finds its certificates,
/// password file and state folder under the configuration file's folder.
#[test]
fn relative_paths_are_relative_to_the_configuration_file() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    let fleet = vigia_collector::testkit::TestFleet::new(&conf.join("certs")).expect("fleet");
    let reader = fleet.reader("mailer").expect("reader");
    write_secret(&conf.join("pw"), "secret\n");
    let rel = |p: &Path| {
        p.strip_prefix(&conf)
            .expect("under the configuration's folder")
            .to_string_lossy()
            .replace('\\', "/")
    };
    let text = format!(
        r#"
state_dir = "state"
[collector]
url = "https://localhost:1"
ca = "{ca}"
cert = "{cert}"
key = "{key}"
[smtp]
host = "smtp.example.com"
username = "u"
password_file = "pw"
from = "vigia@example.com"
to = ["ops@example.com"]
"#,
        ca = rel(&reader.ca),
        cert = rel(&reader.cert),
        key = rel(&reader.key),
    );
    assert!(text.contains("ca = \"certs/"), "{text}");
    let file = write(&conf, &text);

    let s = Settings::load(&ConfigSource::file(&file).with_env(Vec::new())).expect("loads");
    assert_eq!(s.raw.state_dir, conf.join("state"));
    assert_eq!(s.raw.collector.key, reader.key);
    assert_eq!(s.raw.smtp.password_file, Some(conf.join("pw")));

    let out = bin()
        .current_dir(&elsewhere)
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("reader \"mailer\""), "{stdout}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).expect("list").count(),
        0,
        "nothing is made in the working directory"
    );
}

#[test]
fn check_config_and_preview_with_real_certificates() {
    let dir = tempfile::tempdir().expect("dir");
    let fleet = vigia_collector::testkit::TestFleet::new(&dir.path().join("certs")).expect("fleet");
    let reader = fleet.reader("mailer").expect("reader");
    let pw = dir.path().join("pw");
    write_secret(&pw, "secret\n");
    // A collector port where nothing listens: preview still renders, saying so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let text = format!(
        r#"
timezone = "Europe/Berlin"
[collector]
url = "https://localhost:{port}"
ca = {ca:?}
cert = {cert:?}
key = {key:?}
timeout = "3s"
[smtp]
host = "smtp.example.com"
username = "u"
password_file = {pw:?}
from = "vigia@example.com"
to = ["ops@example.com"]
"#,
        ca = reader.ca,
        cert = reader.cert,
        key = reader.key,
    );
    let file = write(dir.path(), &text);
    let out = bin()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("loads"), "{stdout}");
    assert!(stdout.contains("reader \"mailer\""), "{stdout}");
    assert!(
        stdout.contains("07:00:00 CET") || stdout.contains("07:00:00 CEST"),
        "{stdout}"
    );

    // A probe certificate is not a reader's.
    let probe = fleet.probe("loja-1").expect("probe");
    let file2 = write(
        dir.path(),
        &text
            .replace(&format!("{:?}", reader.cert), &format!("{:?}", probe.cert))
            .replace(&format!("{:?}", reader.key), &format!("{:?}", probe.key)),
    );
    let out = bin()
        .arg("--config")
        .arg(&file2)
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reader certificate"));

    let file = write(dir.path(), &text);
    for (flag, name) in [(None, "digest.html"), (Some("--text"), "digest.txt")] {
        let target = dir.path().join(name);
        let mut cmd = bin();
        cmd.arg("--config")
            .arg(&file)
            .arg("preview")
            .arg("--out")
            .arg(&target);
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = std::fs::read_to_string(&target).expect("preview written");
        assert!(body.contains("is unreachable since"), "{body}");
        if flag.is_some() {
            assert!(
                body.starts_with("The collector https://localhost:"),
                "{body}"
            );
        } else {
            assert!(body.starts_with("<!DOCTYPE html>"));
        }
    }
}

/// A configuration with real reader certificates and a password file of `mode`, plus `extra`
/// (e.g. an `[oauth2]` section); returns the folder, the file and the password file.
#[cfg(unix)]
fn with_secret_of_mode(
    mode: u32,
    smtp: &str,
    extra: &str,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let fleet = vigia_collector::testkit::TestFleet::new(&dir.path().join("certs")).expect("fleet");
    let reader = fleet.reader("mailer").expect("reader");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "secret\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let text = format!(
        r#"
state_dir = {state:?}
[collector]
url = "https://localhost:1"
ca = {ca:?}
cert = {cert:?}
key = {key:?}
[smtp]
host = "smtp.example.com"
from = "vigia@example.com"
to = ["ops@example.com"]
{smtp}
{extra}
"#,
        state = dir.path().join("state"),
        ca = reader.ca,
        cert = reader.cert,
        key = reader.key,
        smtp = smtp.replace("SECRET", &format!("{secret:?}")),
        extra = extra.replace("SECRET", &format!("{secret:?}")),
    );
    let file = write(dir.path(), &text);
    (dir, file, secret)
}

#[cfg(unix)]
#[test]
fn a_password_file_others_can_read_is_refused_naming_it_and_the_fix() {
    let (_dir, file, pw) =
        with_secret_of_mode(0o644, "username = \"u\"\npassword_file = SECRET", "");
    for command in ["check-config", "run", "send-now"] {
        let out = bin()
            .arg("--config")
            .arg(&file)
            .arg(command)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        // check-config reports it among its findings (1); the sending commands refuse to start (2).
        let want = if command == "check-config" { 1 } else { 2 };
        assert_eq!(out.status.code(), Some(want), "{command}: {err}");
        assert!(
            err.contains(&pw.display().to_string())
                && err.contains("smtp.password_file")
                && err.contains("mode 0644")
                && err.contains(&format!("chmod 600 {}", pw.display()))
                && err.contains("--allow-insecure-keys"),
            "{command}: {err}"
        );
    }
    let settings = Settings::load(&ConfigSource::file(&file).with_env(vec![])).expect("loads");
    let e = vigia_mailer::smtp::password(&settings).expect_err("refused when read");
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_password_file_others_can_read_is_used_with_allow_insecure_keys_and_a_warning() {
    let (_dir, file, pw) =
        with_secret_of_mode(0o644, "username = \"u\"\npassword_file = SECRET", "");
    let out = bin()
        .arg("--allow-insecure-keys")
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{err}");
    assert!(
        err.contains("WARN") && err.contains("INSECURE") && err.contains(&pw.display().to_string()),
        "{err}"
    );
    // Owner-only passes without a word.
    let (_dir, file, _) =
        with_secret_of_mode(0o600, "username = \"u\"\npassword_file = SECRET", "");
    let out = bin()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("INSECURE"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_client_secret_file_others_can_read_is_refused() {
    let (_dir, file, secret) = with_secret_of_mode(
        0o640,
        "username = \"u@example.com\"\nauth = [\"XOAUTH2\"]",
        "[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"c\"\nclient_secret_file = SECRET\n",
    );
    let out = bin()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("oauth2.client_secret_file")
            && err.contains(&format!("chmod 600 {}", secret.display())),
        "{err}"
    );
}

#[test]
fn the_attachment_cap_defaults_by_delivery_and_a_wrong_one_is_named() {
    let s = load(MINIMAL).expect("minimal");
    assert_eq!(s.attachment_max_bytes(), 10 << 20, "10 MiB by SMTP");
    assert_eq!(s.render_options().attachment_max_bytes, 10 << 20);
    let s = load(&format!("{MINIMAL}\n[digest]\nattachment_max_bytes = 0\n")).expect("0 loads");
    assert_eq!(s.attachment_max_bytes(), 0);
    for bad in ["150000001", "-1", "\"10MB\""] {
        let e = load_err(&format!(
            "{MINIMAL}\n[digest]\nattachment_max_bytes = {bad}\n"
        ));
        assert!(e.contains("attachment_max_bytes"), "{bad}: {e}");
    }
}
