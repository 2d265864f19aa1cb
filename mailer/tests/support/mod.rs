//! Test helpers: the fixed fleet, snapshot comparison, settings for tests.

#![allow(dead_code)]

pub mod fleet;
pub mod http;

use std::path::PathBuf;

/// Writes a secret (password, client secret) readable by its owner only, as the mailer
/// requires of such files on Unix.
pub fn write_secret(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).expect("secret file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

/// Set to 1 to rewrite the expected files under `tests/snapshots/` instead of comparing.
pub const UPDATE_ENV: &str = "VIGIA_UPDATE_SNAPSHOTS";

/// Compares `actual` with `tests/snapshots/<name>`; on a difference writes `<name>.new` beside it
/// and fails naming the first differing line.
#[track_caller]
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} missing ({e}); run with {UPDATE_ENV}=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let new = path.with_extension(format!(
            "{}.new",
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        let _ = std::fs::write(&new, actual);
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {} differs at line {} (expected {:?}, got {:?}); the new output is in {}; \
             if the change is intended, rerun with {UPDATE_ENV}=1",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
            new.display()
        );
    }
}

pub mod smtp;
pub mod transport;

/// What a test mailer is pointed at.
pub struct Setup<'a> {
    /// The test's folder (config, password file, state).
    pub dir: &'a std::path::Path,
    /// The collector's URL.
    pub collector_url: String,
    /// The reader certificate.
    pub reader: &'a vigia_collector::testkit::CertPaths,
    /// The relay's port on localhost.
    pub smtp_port: u16,
    /// The password written into the password file.
    pub password: &'a str,
    /// Extra top-level TOML lines (before any section).
    pub top: &'a str,
    /// Extra lines appended to the `[smtp]` section.
    pub smtp_extra: &'a str,
    /// Extra sections at the end.
    pub tail: &'a str,
}

impl Setup<'_> {
    /// Writes `mailer.toml` and loads it the way the binary does (no process environment).
    pub fn settings(&self) -> vigia_mailer::Settings {
        let pw = self.dir.join("smtp-password");
        write_secret(&pw, &format!("{}\n", self.password));
        let toml = format!(
            r#"state_dir = {state:?}
timezone = "America/Sao_Paulo"
{top}

[collector]
url = {url:?}
ca = {ca:?}
cert = {cert:?}
key = {key:?}
timeout = "5s"

[smtp]
host = "localhost"
port = {port}
security = "starttls"
username = "{user}"
password_file = {pw:?}
ca_file = {ca:?}
from = "Vigia <vigia@example.com>"
to = ["Ops <ops@example.com>", "boss@example.com"]
cc = ["audit@example.com"]
bcc = ["archive@example.com"]
timeout = "10s"
retry_initial = "100ms"
retry_max = "300ms"
{smtp_extra}

{tail}
"#,
            state = self.dir.join("state"),
            top = self.top,
            url = self.collector_url,
            ca = self.reader.ca,
            cert = self.reader.cert,
            key = self.reader.key,
            port = self.smtp_port,
            user = smtp::USER,
            pw = pw,
            smtp_extra = self.smtp_extra,
            tail = self.tail,
        );
        let file = self.dir.join("mailer.toml");
        std::fs::write(&file, toml).expect("config");
        vigia_mailer::Settings::load(&vigia::config::ConfigSource::file(&file).with_env(Vec::new()))
            .expect("test config loads")
    }
}
