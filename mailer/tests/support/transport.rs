//! A test folder with the fleet's certificates and a mailer configuration written from parts,
//! for the transport tests (XOAUTH2, Graph, webhooks, relay certificates): `[smtp]` lines and
//! further sections are the test's, the rest (state, zone, a collector where nothing listens,
//! sender and recipients) is fixed.

use std::path::PathBuf;
use vigia_collector::testkit::{CertPaths, TestFleet};

/// The OAuth2 client id the test token endpoints expect.
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The client secret they expect.
pub const CLIENT_SECRET: &str = "s3cr3t~value";

/// A folder, a CA with a server certificate for localhost, and a reader certificate.
pub struct Env {
    /// The folder (config, state, secrets, mailbox).
    pub dir: tempfile::TempDir,
    /// The CA and server certificate.
    pub fleet: TestFleet,
    /// The mailer's reader certificate.
    pub reader: CertPaths,
}

impl Env {
    /// A fresh folder with certificates.
    pub fn new() -> Env {
        vigia::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
        let reader = fleet.reader("mailer").expect("reader");
        Env { dir, fleet, reader }
    }

    /// Writes `secret` into a file and returns its path.
    pub fn secret_file(&self, name: &str, secret: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        super::write_secret(&p, &format!("{secret}\n"));
        p
    }

    /// The `[oauth2]` section for a token endpoint at `token_url`, with the expected secret.
    pub fn oauth2_section(&self, token_url: &str) -> String {
        format!(
            "[oauth2]\ntoken_url = {token_url:?}\nclient_id = {CLIENT_ID:?}\nclient_secret_file = {:?}\n",
            self.secret_file("client-secret", CLIENT_SECRET)
        )
    }

    /// Writes `mailer.toml` with `top` lines, these `[smtp]` lines and the `rest` sections.
    pub fn write(&self, top: &str, smtp: &str, rest: &str) -> PathBuf {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let toml = format!(
            r#"state_dir = {state:?}
timezone = "America/Sao_Paulo"
language = "en"
{top}

[collector]
url = "https://localhost:{dead}"
ca = {ca:?}
cert = {cert:?}
key = {key:?}
timeout = "3s"
watch_every = "0s"
# Small pages, so every test against a real collector reads the fleet in several.
page_size = 2

[smtp]
from = "Vigia <vigia@example.com>"
to = ["Ops <ops@example.com>"]
bcc = ["archive@example.com"]
timeout = "10s"
retry_initial = "100ms"
retry_max = "300ms"
{smtp}

{rest}
"#,
            state = self.dir.path().join("state"),
            ca = self.reader.ca,
            cert = self.reader.cert,
            key = self.reader.key,
        );
        let file = self.dir.path().join("mailer.toml");
        std::fs::write(&file, toml).expect("config");
        file
    }

    /// Writes the configuration and loads it as the binary does (no process environment).
    pub fn settings(&self, top: &str, smtp: &str, rest: &str) -> vigia_mailer::Settings {
        let file = self.write(top, smtp, rest);
        self.load(&file).expect("test config loads")
    }

    /// Loads a written configuration.
    pub fn load(
        &self,
        file: &std::path::Path,
    ) -> Result<vigia_mailer::Settings, vigia::config::ConfigError> {
        vigia_mailer::Settings::load(&vigia::config::ConfigSource::file(file).with_env(Vec::new()))
    }

    /// `[smtp]` lines for the aiosmtpd relay on `port` (STARTTLS, the fleet CA trusted).
    pub fn relay(&self, port: u16) -> String {
        format!(
            "host = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\nca_file = {:?}\n",
            self.reader.ca
        )
    }
}

/// The fixed fleet's digest as a message to `settings.to`.
pub fn digest_message(
    settings: &vigia_mailer::Settings,
) -> (vigia_mailer::Rendered, vigia_mailer::smtp::Recipients) {
    let fleet = super::fleet::fixed_fleet();
    let mail = vigia_mailer::render_digest(
        &vigia_mailer::FleetView::Reachable(&fleet),
        super::fleet::now(),
        &settings.render_options(),
    );
    let rcpt = vigia_mailer::smtp::Recipients {
        to: settings.to.clone(),
        cc: settings.cc.clone(),
        bcc: settings.bcc.clone(),
    };
    (mail, rcpt)
}
