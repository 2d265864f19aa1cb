//! SMTP with OAuth2 (XOAUTH2), offline and end to end: a real SMTP server (aiosmtpd offering
//! only XOAUTH2 and checking the token) and a local token endpoint (client-credentials grant,
//! checking the form). A token is asked once and reused, renewed before it expires; a refused
//! token gives the sentence that says what to fix (Office 365's 535 5.7.3, Gmail's 334
//! challenge) and is permanent; an unreachable token endpoint is transient; the endpoint's
//! error_description is quoted. Office 365's refusals of password SMTP are named. And the
//! `test-send` command through the real binary.

mod support;

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::http::{closed_url, HttpServer, Reply};
use support::smtp::{Options, SmtpServer, PASSWORD, USER};
use support::transport::{digest_message, Env, CLIENT_ID, CLIENT_SECRET};
use vigia_mailer::delivery::Delivery;
use vigia_mailer::oauth2::{GRAPH_SCOPE, OUTLOOK_SCOPE};
use vigia_mailer::smtp::SendError;

/// Bound on each send.
const STEP: Duration = Duration::from_secs(30);

/// The token endpoint's path (as Microsoft's, under a tenant).
const TOKEN_PATH: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";

/// A token endpoint that checks the client-credentials form and hands out `PREFIX1`,
/// `PREFIX2`… valid for `expires_in` seconds; a wrong form gets Microsoft's refusal.
async fn token_endpoint(expires_in: u64, prefix: &'static str, scope: &'static str) -> HttpServer {
    let issued = Arc::new(AtomicUsize::new(0));
    HttpServer::start(move |r| {
        let f = r.form();
        let field = |k: &str| f.get(k).map(String::as_str);
        let form_ok = r.method == "POST"
            && r.path == TOKEN_PATH
            && r.header("content-type") == Some("application/x-www-form-urlencoded")
            && field("grant_type") == Some("client_credentials")
            && field("client_id") == Some(CLIENT_ID)
            && field("scope") == Some(scope);
        if !form_ok {
            return Reply::json(
                400,
                json!({"error": "invalid_request", "error_description": format!("unexpected request {} {} {:?}", r.method, r.path, f)}),
            );
        }
        if field("client_secret") != Some(CLIENT_SECRET) {
            return Reply::json(
                401,
                json!({
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '11111111-2222-3333-4444-555555555555'.\r\nTrace ID: 9f1c\r\nCorrelation ID: 77aa\r\nTimestamp: 2026-11-28 10:00:00Z",
                    "error_codes": [7000215],
                }),
            );
        }
        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::json(
            200,
            json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": format!("{prefix}{n}")}),
        )
    })
    .await
}

/// `[smtp]` lines for XOAUTH2 as the test server's user.
fn xoauth2_smtp(env: &Env, port: u16) -> String {
    format!(
        "{}username = {USER:?}\nauth = [\"XOAUTH2\"]\n",
        env.relay(port)
    )
}

/// The server's XOAUTH2 log lines.
/// A relay offering only XOAUTH2 (accepting `accepted` tokens; `gmail` for Gmail's way of
/// refusing) and a mailer set up to take its tokens from `tokens`.
fn xoauth2(
    env: &Env,
    tokens: HttpServer,
    accepted: &[&str],
    gmail: bool,
) -> (HttpServer, SmtpServer, vigia_mailer::Settings, Delivery) {
    let server = SmtpServer::start_xoauth2(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        accepted,
        gmail,
    );
    let settings = env.settings(
        "",
        &xoauth2_smtp(env, server.port),
        &env.oauth2_section(&format!("{}{TOKEN_PATH}", tokens.url())),
    );
    let delivery = Delivery::new(Arc::new(settings.clone()));
    (tokens, server, settings, delivery)
}

fn auth_events(server: &SmtpServer) -> Vec<String> {
    server
        .events()
        .into_iter()
        .filter(|e| e.starts_with("auth XOAUTH2"))
        .collect()
}

/// One digest sent through `delivery`, bounded in time.
async fn send(delivery: &Delivery, settings: &vigia_mailer::Settings) -> Result<(), SendError> {
    let (mail, rcpt) = digest_message(settings);
    tokio::time::timeout(STEP, delivery.send(&rcpt, &mail, false))
        .await
        .expect("send finished in time")
}

#[tokio::test]
async fn token_is_asked_once_and_reused_across_sends() {
    let env = Env::new();
    let (tokens, server, settings, delivery) = xoauth2(
        &env,
        token_endpoint(3600, "good-", OUTLOOK_SCOPE).await,
        &["good-1"],
        false,
    );
    send(&delivery, &settings).await.expect("first send");
    send(&delivery, &settings).await.expect("second send");
    let got = server.wait_for_async(2).await;
    let (mail, _) = digest_message(&settings);
    for m in &got {
        assert_eq!(m["subject"], mail.subject.as_str());
        assert!(m["authenticated"].as_bool().expect("auth"));
        assert!(m["tls"].as_bool().expect("tls"));
    }
    let asked = tokens.requests();
    assert_eq!(asked.len(), 1, "one token for both sends: {asked:?}");
    let form = asked[0].form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["scope"], OUTLOOK_SCOPE);
    assert_eq!(
        auth_events(&server),
        vec![format!("auth XOAUTH2 ok user={USER} token=good-1"); 2]
    );
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    // 60 s of lifetime is inside the five-minute margin: every send asks for a new token.
    let env = Env::new();
    let (tokens, server, settings, delivery) = xoauth2(
        &env,
        token_endpoint(60, "good-", OUTLOOK_SCOPE).await,
        &["good-1", "good-2"],
        false,
    );
    send(&delivery, &settings).await.expect("first send");
    send(&delivery, &settings).await.expect("second send");
    server.wait_for_async(2).await;
    assert_eq!(tokens.requests().len(), 2);
    assert_eq!(
        auth_events(&server),
        vec![
            format!("auth XOAUTH2 ok user={USER} token=good-1"),
            format!("auth XOAUTH2 ok user={USER} token=good-2"),
        ]
    );
}

#[tokio::test]
async fn office365_refusing_the_token_is_permanent_and_names_the_missing_setup() {
    let env = Env::new();
    // The endpoint hands out tokens the relay does not accept (an app without SMTP.SendAsApp).
    let (tokens, server, settings, delivery) = xoauth2(
        &env,
        token_endpoint(3600, "unauthorised-", OUTLOOK_SCOPE).await,
        &["good-1"],
        false,
    );
    let err = send(&delivery, &settings).await.expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    for part in [
        "Office 365 refused the OAuth2 token for vigia",
        "SMTP.SendAsApp",
        "New-ServicePrincipal",
        "Add-MailboxPermission",
        "535 5.7.3",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(server.messages().is_empty());
    // The refused token is dropped: the next attempt asks for a new one.
    let _ = send(&delivery, &settings).await.expect_err("still refused");
    assert_eq!(tokens.requests().len(), 2);
}

#[tokio::test]
async fn gmail_334_challenge_is_an_authentication_failure_not_a_transient_one() {
    let env = Env::new();
    let (_tokens, server, settings, delivery) = xoauth2(
        &env,
        token_endpoint(3600, "expired-", OUTLOOK_SCOPE).await,
        &["good-1"],
        true,
    );
    let err = send(&delivery, &settings).await.expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("authentication failed: the relay refused the OAuth2 token for vigia"),
        "{text}"
    );
    assert!(text.contains("334"), "{text}");
    assert_eq!(
        auth_events(&server),
        vec![format!("auth XOAUTH2 refused user={USER} token=expired-1")]
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transient_and_the_relay_is_not_tried() {
    let env = Env::new();
    let server = SmtpServer::start_xoauth2(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &["good-1"],
        false,
    );
    let url = closed_url();
    let settings = env.settings(
        "",
        &xoauth2_smtp(&env, server.port),
        &env.oauth2_section(&format!("{url}{TOKEN_PATH}")),
    );
    let delivery = Delivery::new(Arc::new(settings.clone()));
    let err = send(&delivery, &settings).await.expect_err("no token");
    assert!(err.is_transient(), "{err:?}");
    let host = url.trim_start_matches("http://");
    assert!(
        err.to_string()
            .contains(&format!("cannot connect to the token endpoint {host}")),
        "{err}"
    );
    assert!(auth_events(&server).is_empty());

    // The digest slot is retried (transient) until its deadline, then given up, unmarked.
    let mailer = vigia_mailer::Mailer::open(settings).expect("open");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let slot = chrono::Utc::now();
    let outcome = tokio::time::timeout(
        STEP,
        mailer.send_digest_for_slot(slot, slot + chrono::Duration::seconds(2), &mut rx),
    )
    .await
    .expect("in time")
    .expect("no error");
    assert!(
        matches!(&outcome, vigia_mailer::SlotOutcome::GaveUp(e) if e.contains("token endpoint")),
        "{outcome:?}"
    );
    assert!(!mailer.state().digest_sent(slot).expect("state"));
}

#[tokio::test]
async fn token_endpoint_refusal_quotes_its_error_description() {
    let env = Env::new();
    let tokens = token_endpoint(3600, "good-", OUTLOOK_SCOPE).await;
    let server = SmtpServer::start_xoauth2(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &["good-1"],
        false,
    );
    let wrong = env.secret_file("wrong-secret", "an-old-secret");
    let section = format!(
        "[oauth2]\ntoken_url = \"{}{TOKEN_PATH}\"\nclient_id = {CLIENT_ID:?}\nclient_secret_file = {wrong:?}\n",
        tokens.url()
    );
    let settings = env.settings("", &xoauth2_smtp(&env, server.port), &section);
    let delivery = Delivery::new(Arc::new(settings.clone()));
    let err = send(&delivery, &settings).await.expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("invalid_client: \"AADSTS7000215: Invalid client secret provided."),
        "{text}"
    );
    assert!(
        !text.contains("Trace ID"),
        "only the first line is quoted: {text}"
    );
    assert!(text.contains("Certificates & secrets"), "{text}");
    assert!(auth_events(&server).is_empty(), "no token, no AUTH");
}

/// A relay that answers every AUTH with `reply`, and the error a PLAIN login gets.
async fn refused_login(reply: &str) -> SendError {
    let env = Env::new();
    let server = SmtpServer::start_opts(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &Options {
            auth_reply: Some(reply.to_string()),
            ..Options::default()
        },
    );
    let pw = env.secret_file("pw", PASSWORD);
    let smtp = format!(
        "{}username = {USER:?}\npassword_file = {pw:?}\nauth = [\"PLAIN\"]\n",
        env.relay(server.port)
    );
    let settings = env.settings("", &smtp, "");
    let delivery = Delivery::new(Arc::new(settings.clone()));
    send(&delivery, &settings).await.expect_err("refused")
}

#[tokio::test]
async fn office365_refusals_of_password_smtp_name_the_setting() {
    let off = refused_login(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
    )
    .await;
    assert!(matches!(off, SendError::Permanent(_)), "{off:?}");
    let text = off.to_string();
    assert!(
        text.contains("Office 365 has SMTP AUTH disabled for the tenant or for the mailbox vigia"),
        "{text}"
    );
    assert!(text.contains("SmtpClientAuthenticationDisabled"), "{text}");

    let basic =
        refused_login("550 5.7.30 Basic authentication is not supported for Client Submission.")
            .await;
    assert!(matches!(basic, SendError::Permanent(_)), "{basic:?}");
    let text = basic.to_string();
    assert!(
        text.contains("Office 365 no longer accepts a password for SMTP here"),
        "{text}"
    );
    assert!(text.contains("smtp.auth = [\"XOAUTH2\"]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_from_the_command_line_says_what_happened() {
    let env = Env::new();
    let tokens = token_endpoint(3600, "good-", OUTLOOK_SCOPE).await;
    let server = SmtpServer::start_xoauth2(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &["good-1"],
        false,
    );
    let run = |file: std::path::PathBuf, to: Option<&'static str>| {
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-mailer"));
            cmd.arg("--config").arg(file).arg("test-send");
            if let Some(t) = to {
                cmd.args(["--to", t]);
            }
            cmd.output().expect("run vigia-mailer")
        })
    };
    let file = env.write(
        "",
        &xoauth2_smtp(&env, server.port),
        &env.oauth2_section(&format!("{}{TOKEN_PATH}", tokens.url())),
    );
    let out = tokio::time::timeout(STEP, run(file.clone(), Some("it@example.com")))
        .await
        .expect("in time")
        .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!(
        "sent: \"CCTV audit: test message\" to it@example.com by SMTP localhost:{} (starttls, XOAUTH2 as vigia)",
        server.port
    );
    assert!(stdout.contains(&expected), "{stdout}");
    let got = server.wait_for_async(1).await;
    assert_eq!(got[0]["subject"], "CCTV audit: test message");
    assert_eq!(got[0]["rcpt_tos"], json!(["it@example.com"]));
    assert!(got[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("This is a test message from vigia-mailer")));

    // A token the relay refuses: exit 1 and the sentence.
    drop(tokens);
    let stale = token_endpoint(3600, "stale-", OUTLOOK_SCOPE).await;
    let file = env.write(
        "",
        &xoauth2_smtp(&env, server.port),
        &env.oauth2_section(&format!("{}{TOKEN_PATH}", stale.url())),
    );
    let out = tokio::time::timeout(STEP, run(file, None))
        .await
        .expect("in time")
        .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("not sent (permanent: fix this before the next digest)"),
        "{stdout}"
    );
    assert!(stdout.contains("SMTP.SendAsApp"), "{stdout}");
}

#[test]
fn oauth2_configuration_mistakes_name_the_key_and_the_file() {
    let env = Env::new();
    let file = env.dir.path().join("mailer.toml");
    let relay = "host = \"smtp.office365.com\"\nusername = \"vigia@contoso.com\"\n";
    let secret = "client_id = \"app\"\nclient_secret_env = \"VIGIA_TEST_CLIENT_SECRET\"\n";
    let cases: Vec<(String, String, &str)> = vec![
        (
            format!("{relay}auth = [\"XOAUTH2\"]\n"),
            String::new(),
            "section `[oauth2]`: missing",
        ),
        (
            format!("{relay}auth = [\"XOAUTH2\"]\n"),
            format!("[oauth2]\ntoken_url = \"http://login.example.com/token\"\n{secret}"),
            "key `oauth2.token_url`: \"http://login.example.com/token\" is plain http",
        ),
        (
            format!("{relay}auth = [\"XOAUTH2\", \"LOGIN\"]\n"),
            format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
            "key `smtp.auth`: XOAUTH2 cannot be listed with PLAIN or LOGIN",
        ),
        (
            format!("{relay}auth = [\"XOAUTH2\"]\npassword_env = \"SMTP_PASSWORD\"\n"),
            format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
            "keys `smtp.password_env`/`smtp.password_file`: not used with smtp.auth = [\"XOAUTH2\"]",
        ),
        (
            "host = \"smtp.office365.com\"\nauth = [\"XOAUTH2\"]\n".into(),
            format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
            "key `smtp.username`: XOAUTH2 needs the sending mailbox",
        ),
        (
            format!("{relay}auth = [\"XOAUTH2\"]\n"),
            "[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"app\"\n".into(),
            "keys `oauth2.client_secret_env`/`oauth2.client_secret_file`: neither is set",
        ),
        (
            format!("{relay}auth = [\"XOAUTH2\"]\n"),
            format!("[oauth2]\ntenant = \"contoso\"\ntoken_url = \"https://x/\"\n{secret}"),
            "keys `oauth2.token_url` and `oauth2.tenant`: set one, not both",
        ),
        (
            format!("{relay}password_env = \"SMTP_PASSWORD\"\n"),
            format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
            "section `[oauth2]`: not used",
        ),
    ];
    for (smtp, rest, expected) in cases {
        env.write("", &smtp, &rest);
        let err = env.load(&file).expect_err(expected).to_string();
        assert!(err.contains(expected), "{expected:?} in {err}");
        assert!(err.contains(&file.display().to_string()), "file in {err}");
    }

    // The tenant fills Microsoft's endpoint; the scope follows the delivery.
    env.write(
        "",
        &format!("{relay}auth = [\"XOAUTH2\"]\n"),
        &format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
    );
    let s = env.load(&file).expect("valid");
    let o = s.oauth2.as_ref().expect("oauth2");
    assert_eq!(
        o.token_url.as_str(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(o.scope, OUTLOOK_SCOPE);
    env.write(
        "delivery = \"graph\"",
        "username = \"vigia@contoso.com\"\n",
        &format!("[oauth2]\ntenant = \"contoso.onmicrosoft.com\"\n{secret}"),
    );
    let s = env.load(&file).expect("valid graph");
    assert_eq!(s.oauth2.as_ref().expect("oauth2").scope, GRAPH_SCOPE);
    assert_eq!(s.sender_mailbox(), "vigia@contoso.com");
}

#[test]
fn office365_example_loads() {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/mailer-office365.toml");
    let s = vigia_mailer::Settings::load(
        &vigia::config::ConfigSource::file(&file).with_env(Vec::new()),
    )
    .expect("examples/mailer-office365.toml loads");
    assert!(s.uses_xoauth2());
    let o = s.oauth2.as_ref().expect("oauth2");
    assert_eq!(
        o.token_url.as_str(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(o.scope, OUTLOOK_SCOPE);
    assert_eq!(s.webhooks.len(), 2);
    assert!(s.deadman.is_some());
}
