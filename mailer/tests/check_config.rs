//! `vigia-mailer check-config` through the real binary: offline it refuses a probe's
//! certificate, an expired one and an unreadable password (each said once); with `--connect`
//! it proves the set-up against a real collector and a real SMTP server (aiosmtpd), with and
//! without a login, and a Graph set-up by fetching a token, sending no mail; a certificate from
//! another CA refused by the collector, a collector or relay where nothing listens and a wrong
//! password exit 1 naming the key or host and saying what to fix.

mod support;

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::http::{HttpServer, Reply};
use support::smtp::{SmtpServer, PASSWORD, USER};
use vigia_collector::testkit::{CertPaths, TestCollector, TestFleet};

/// Bound on one run of the binary.
const RUN_LIMIT: Duration = Duration::from_secs(60);

struct Env {
    dir: tempfile::TempDir,
    fleet: TestFleet,
    reader: CertPaths,
}

fn env() -> Env {
    vigia::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
    let reader = fleet.reader("mailer").expect("reader");
    Env { dir, fleet, reader }
}

/// A loopback port where nothing listens (free a moment ago).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Env {
    /// A collector with the default test settings.
    async fn collector(&self) -> TestCollector {
        TestCollector::start(&self.fleet, &self.dir.path().join("data"), |_| {})
            .await
            .expect("collector")
    }

    /// A relay (STARTTLS, PLAIN/LOGIN required) with the fleet's server certificate.
    fn relay(&self) -> SmtpServer {
        SmtpServer::start(&self.dir.path().join("mbox"), &self.fleet.server(), 0, None)
    }

    /// `[smtp]` lines for the relay on `port`, logging in with `password` when given.
    fn smtp(&self, port: u16, password: Option<&str>) -> String {
        let login = match password {
            Some(pw) => {
                let file = self.dir.path().join("smtp-password");
                support::write_secret(&file, &format!("{pw}\n"));
                format!("username = {USER:?}\npassword_file = {file:?}\n")
            }
            None => String::new(),
        };
        format!(
            "host = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\nca_file = {:?}\n{login}",
            self.fleet.ca_pem()
        )
    }

    /// Writes `mailer.toml`: the collector at `url` with `cert`, these `[smtp]` lines and the
    /// `rest` (top-level keys first, then sections).
    fn write(&self, url: &str, cert: &CertPaths, smtp: &str, top: &str, rest: &str) -> PathBuf {
        let toml = format!(
            r#"state_dir = {state:?}
timezone = "America/Sao_Paulo"
language = "en"
{top}

[collector]
url = {url:?}
ca = {ca:?}
cert = {cert:?}
key = {key:?}
timeout = "5s"

[smtp]
from = "Vigia <vigia@example.com>"
to = ["Ops <ops@example.com>"]
timeout = "5s"
{smtp}

{rest}
"#,
            state = self.dir.path().join("state"),
            ca = cert.ca,
            cert = cert.cert,
            key = cert.key,
        );
        let file = self.dir.path().join("mailer.toml");
        std::fs::write(&file, toml).expect("config");
        file
    }
}

/// What one run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `vigia-mailer --config FILE check-config [--connect]`, bounded by [`RUN_LIMIT`], off
/// the runtime (the collector of the test runs on it meanwhile).
/// The run failed with exactly one problem, `says`; `why` names what else was fine.
#[track_caller]
fn assert_one_problem(run: &Run, says: &str, why: &str) {
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains(says), "{says:?} in {run:?}");
    assert!(run.stderr.contains("1 problem(s)"), "{why}: {run:?}");
}

async fn check_config(file: &Path, connect: bool) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigia-mailer"));
    cmd.arg("--config").arg(file).arg("check-config");
    if connect {
        cmd.arg("--connect");
    }
    cmd.env_remove("VIGIA_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out: Output = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawn vigia-mailer");
        let start = Instant::now();
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if start.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                panic!("check-config did not finish within {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    })
    .await
    .expect("runner");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_passes_with_connect_against_a_real_collector_and_relay() {
    let env = env();
    let collector = env.collector().await;
    let relay = env.relay();
    let file = env.write(
        &collector.url(),
        &env.reader,
        &env.smtp(relay.port, Some(PASSWORD)),
        "",
        "",
    );

    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    // The test fleet's certificates last 30 days: a warning to renew, not a failure.
    assert!(
        run.stdout.contains(&format!(
            "warning: certificate {}: reader \"mailer\" (valid until",
            env.reader.cert.display()
        )),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("renew it soon (vigia-collector ca issue --force … reader --name mailer)"),
        "the renewal names the holder the certificate carries: {run:?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "ok: the collector at {} accepted the reader certificate and answered ListSites",
            collector.url()
        )),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "ok: relay localhost:{} (smtp.host, smtp.port): SMTP localhost:{} (starttls, PLAIN/LOGIN as vigia) accepted the login (no mail sent)",
            relay.port, relay.port
        )),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("check-config: everything `run` needs is in place"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("error:"), "{run:?}");
    assert!(
        relay.events().iter().any(|e| e.ends_with(" ok")),
        "the relay saw a successful login: {:?}",
        relay.events()
    );
    assert!(relay.messages().is_empty(), "no mail is sent");

    // Offline, the same set-up passes without touching either.
    let logins = relay.events().len();
    let run = check_config(&file, false).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("the collector at"), "{run:?}");
    assert_eq!(relay.events().len(), logins, "offline means no connection");

    // A relay that needs no login (the mailer sends none): connect, STARTTLS, NOOP, QUIT.
    let file = env.write(
        &collector.url(),
        &env.reader,
        &env.smtp(relay.port, None),
        "",
        "",
    );
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("(starttls, no authentication) accepted the connection (no mail sent)"),
        "{run:?}"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_delivery_is_proven_by_a_token_without_sending_mail() {
    let env = env();
    let collector = env.collector().await;
    let tokens = HttpServer::start(|r| {
        if r.form().get("client_secret").map(String::as_str) == Some("the-secret") {
            Reply::json(
                200,
                json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "t-1"}),
            )
        } else {
            Reply::json(
                401,
                json!({"error": "invalid_client", "error_codes": [7000215]}),
            )
        }
    })
    .await;
    let secret = env.dir.path().join("client-secret");
    support::write_secret(&secret, "the-secret\n");
    let oauth2 = format!(
        "[oauth2]\ntoken_url = \"{}/token\"\nclient_id = \"app-1\"\nclient_secret_file = {secret:?}\n",
        tokens.url()
    );
    let file = env.write(
        &collector.url(),
        &env.reader,
        "",
        "delivery = \"graph\"",
        &format!("{oauth2}\n[graph]\nurl = \"{}\"\n", tokens.url()),
    );
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains(
            &format!("ok: the token endpoint {} issued an access token for client app-1 (scope https://graph.microsoft.com/.default)", tokens.addr)
        ),
        "{run:?}"
    );
    let requests = tokens.requests();
    assert_eq!(
        requests.len(),
        1,
        "one token request, no sendMail: {requests:?}"
    );
    assert_eq!(requests[0].path, "/token");

    // A wrong secret: exit 1 with the endpoint's refusal and what to fix.
    support::write_secret(&secret, "stale\n");
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("error: keys `oauth2.token_url`/`oauth2.tenant`: ")
            && run.stderr.contains("the client secret is wrong or expired"),
        "{run:?}"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_or_an_expired_certificate_is_refused_offline() {
    let env = env();
    let probe = env.fleet.probe("loja-1").expect("probe");
    let expired = env.fleet.expired_reader("mailer").expect("expired reader");
    let cases = [
        (
            &probe,
            format!(
                "error: key `collector.cert`: {} (certificate) is for probe \"loja-1\", but this program needs a reader certificate",
                probe.cert.display()
            ),
        ),
        (
            &expired,
            format!(
                "error: key `collector.cert`: {} (certificate): expired on ",
                expired.cert.display()
            ),
        ),
    ];
    for (cert, says) in cases {
        let file = env.write(
            "https://localhost:1",
            cert,
            &env.smtp(1, Some(PASSWORD)),
            "",
            "",
        );
        let run = check_config(&file, false).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains(&says), "{says:?} in {run:?}");
        assert!(run.stderr.contains("1 problem(s)"), "{run:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_password_is_said_once() {
    let env = env();
    let collector = env.collector().await;
    let smtp = format!(
        "host = \"localhost\"\nport = 1\nusername = {USER:?}\npassword_env = \"VIGIA_TEST_UNSET_PASSWORD\"\n"
    );
    let file = env.write(&collector.url(), &env.reader, &smtp, "", "");
    let says = "environment variable VIGIA_TEST_UNSET_PASSWORD (smtp.password_env) is not set";
    // Offline, and with --connect: no login is tried without the password, so its absence is
    // the one thing said.
    for connect in [false, true] {
        let run = check_config(&file, connect).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(run.stderr.matches(says).count(), 1, "{run:?}");
        assert!(run.stderr.contains("1 problem(s)"), "{run:?}");
        assert!(!run.stderr.contains("relay localhost:1"), "{run:?}");
    }
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_secret_is_said_once_and_asks_for_no_token() {
    let env = env();
    let collector = env.collector().await;
    let tokens = HttpServer::start(|_| Reply::json(500, json!({"error": "unexpected"}))).await;
    let oauth2 = format!(
        "[oauth2]\ntoken_url = \"{}/token\"\nclient_id = \"app-1\"\nclient_secret_env = \"VIGIA_TEST_UNSET_SECRET\"\n",
        tokens.url()
    );
    let file = env.write(
        &collector.url(),
        &env.reader,
        "",
        "delivery = \"graph\"",
        &format!("{oauth2}\n[graph]\nurl = \"{}\"\n", tokens.url()),
    );
    let says = "environment variable VIGIA_TEST_UNSET_SECRET (oauth2.client_secret_env) is not set";
    let run = check_config(&file, true).await;
    assert_one_problem(&run, says, "the collector is fine");
    assert_eq!(run.stderr.matches(says).count(), 1, "{run:?}");
    assert!(!run.stderr.contains("oauth2.token_url"), "{run:?}");
    assert!(
        tokens.requests().is_empty(),
        "no token request without the secret"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_by_the_collector() {
    let env = env();
    let collector = env.collector().await;
    let relay = env.relay();
    let foreign = env.fleet.foreign_reader("mailer").expect("foreign reader");
    // Trusting both CAs, the mailer accepts the collector and its own certificate passes the
    // offline checks: only the collector can refuse it.
    let both = env.dir.path().join("both-ca.pem");
    let mut pem = std::fs::read(env.fleet.ca_pem()).expect("ca");
    pem.extend(std::fs::read(env.fleet.dir().join("foreign-reader-mailer-ca.pem")).expect("ca"));
    std::fs::write(&both, pem).expect("both");
    let cert = CertPaths {
        ca: both,
        ..foreign
    };
    let file = env.write(
        &collector.url(),
        &cert,
        &env.smtp(relay.port, Some(PASSWORD)),
        "",
        "",
    );
    let run = check_config(&file, false).await;
    assert_eq!(run.code, Some(0), "offline it cannot tell: {run:?}");
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "error: key `collector.url`: the collector at {} ended the connection right after the TLS handshake, as it does when it refuses this reader certificate",
            collector.url()
        )) && run.stderr.contains("issued by the fleet CA"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("1 problem(s)"),
        "only the collector fails: {run:?}"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_where_nothing_listens_is_named() {
    let env = env();
    let relay = env.relay();
    let url = format!("https://localhost:{}", closed_port());
    let file = env.write(
        &url,
        &env.reader,
        &env.smtp(relay.port, Some(PASSWORD)),
        "",
        "",
    );
    let run = check_config(&file, true).await;
    assert_one_problem(
        &run,
        &format!("error: key `collector.url`: collector {url} unreachable: "),
        "the relay is fine",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_where_nothing_listens_is_named() {
    let env = env();
    let collector = env.collector().await;
    let port = closed_port();
    let file = env.write(
        &collector.url(),
        &env.reader,
        &env.smtp(port, Some(PASSWORD)),
        "",
        "",
    );
    let run = check_config(&file, true).await;
    assert_one_problem(
        &run,
        &format!("error: relay localhost:{port} (smtp.host, smtp.port): transient failure: "),
        "the collector is fine",
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_explained() {
    let env = env();
    let collector = env.collector().await;
    let relay = env.relay();
    let file = env.write(
        &collector.url(),
        &env.reader,
        &env.smtp(relay.port, Some("not the password")),
        "",
        "",
    );
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "error: relay localhost:{} (smtp.host, smtp.port): permanent failure: the relay refused the user name or password of vigia: check smtp.username and the password (smtp.password_env or smtp.password_file)",
            relay.port
        )),
        "{run:?}"
    );
    assert!(relay.messages().is_empty());
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_is_proven_with_a_token_and_a_login() {
    let env = env();
    let collector = env.collector().await;
    let tokens = HttpServer::start(|_| {
        Reply::json(
            200,
            json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "t-1"}),
        )
    })
    .await;
    let relay = SmtpServer::start_xoauth2(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &["t-1"],
        false,
    );
    let secret = env.dir.path().join("client-secret");
    support::write_secret(&secret, "the-secret\n");
    let smtp = format!(
        "{}username = {USER:?}\nauth = [\"XOAUTH2\"]\n",
        env.smtp(relay.port, None)
    );
    let oauth2 = format!(
        "[oauth2]\ntoken_url = \"{}/token\"\nclient_id = \"app-1\"\nclient_secret_file = {secret:?}\n",
        tokens.url()
    );
    let file = env.write(&collector.url(), &env.reader, &smtp, "", &oauth2);
    let run = check_config(&file, true).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("(starttls, XOAUTH2 as vigia) accepted the login (no mail sent)"),
        "{run:?}"
    );
    assert!(
        relay
            .events()
            .iter()
            .any(|e| e == "auth XOAUTH2 ok user=vigia token=t-1"),
        "{:?}",
        relay.events()
    );
    assert!(relay.messages().is_empty(), "no mail is sent");
    collector.stop().await;
}
