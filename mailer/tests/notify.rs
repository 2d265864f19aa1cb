//! The second channel against local HTTP servers: an alert reaches a generic JSON webhook, a
//! Teams and a Slack incoming webhook and a Telegram bot with the payload each expects; a
//! digest the relay refuses is announced as "the digest could not be sent" and the dead-man's
//! switch gets `/fail`; a digest sent pings it; a webhook that fails never holds up the email.

mod support;

use serde_json::json;
use std::time::Duration;
use support::http::{closed_url, HttpServer, Reply};
use support::smtp::{Options, SmtpServer, PASSWORD, USER};
use support::transport::Env;
use vigia_mailer::notify::Notifier;
use vigia_mailer::service::{Mailer, SlotOutcome};
use vigia_mailer::webhook::SiteNote;

const STEP: Duration = Duration::from_secs(30);

/// The bot token the Telegram stand-in expects, from this environment variable.
const BOT_ENV: &str = "VIGIA_TEST_NOTIFY_BOT_TOKEN";
const BOT_TOKEN: &str = "123456:ABC-def_ghi";

/// A server that accepts everything (Telegram's answer shape for its path).
async fn receiver() -> HttpServer {
    HttpServer::start(|r| {
        if r.path.contains("/sendMessage") {
            Reply::json(200, json!({"ok": true, "result": {"message_id": 1}}))
        } else {
            Reply::text(200, "OK")
        }
    })
    .await
}

/// `[[webhooks]]` of every kind, all on `hooks`.
fn every_webhook(hooks: &HttpServer) -> String {
    format!(
        r#"
[[webhooks]]
kind = "json"
url = "{u}/json"

[[webhooks]]
kind = "teams"
url = "{u}/teams"

[[webhooks]]
kind = "slack"
url = "{u}/slack"

[[webhooks]]
kind = "telegram"
bot_token_env = "{BOT_ENV}"
chat_id = "-1001234567890"
api_url = "{u}/tg"
"#,
        u = hooks.url()
    )
}

/// `[smtp]` lines for the password relay on `port`.
fn relay(env: &Env, port: u16) -> String {
    let pw = env.secret_file("pw", PASSWORD);
    format!(
        "{}username = {USER:?}\npassword_file = {pw:?}\n",
        env.relay(port)
    )
}

/// Sends the digest of a slot starting now (30 s to succeed), bounded by the test's step.
async fn send_slot_now(settings: vigia_mailer::Settings) -> SlotOutcome {
    let mailer = Mailer::open(settings).expect("open");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let slot = chrono::Utc::now();
    tokio::time::timeout(
        STEP,
        mailer.send_digest_for_slot(slot, slot + chrono::Duration::seconds(30), &mut rx),
    )
    .await
    .expect("in time")
    .expect("no error")
}

fn by_path<'a>(reqs: &'a [support::http::Request], path: &str) -> &'a support::http::Request {
    reqs.iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no request to {path}: {reqs:?}"))
}

#[tokio::test]
async fn an_alert_reaches_every_kind_of_webhook() {
    std::env::set_var(BOT_ENV, BOT_TOKEN);
    let env = Env::new();
    let hooks = receiver().await;
    let settings = env.settings(
        "",
        "host = \"localhost\"\nsecurity = \"none\"\n",
        &every_webhook(&hooks),
    );
    let notifier = Notifier::new(&settings);
    let sites = vec![SiteNote {
        site: "loja-12".into(),
        verdicts: vec!["LATE".into()],
        recovered: vec!["CAMERA_LATE".into()],
    }];
    let subject = "CCTV alert — loja-12 LATE";
    let text = "* loja-12 — Late: newest recording 2026-11-28 00:00";
    tokio::time::timeout(STEP, notifier.alert(subject, text, &sites))
        .await
        .expect("in time");
    let got = hooks.wait_for(4).await;

    let j = by_path(&got, "/json");
    assert_eq!(j.method, "POST");
    assert_eq!(j.header("content-type"), Some("application/json"));
    let body = j.json();
    assert_eq!(body["source"], "vigia-mailer");
    assert_eq!(body["event"], "alert");
    assert_eq!(body["title"], subject);
    assert_eq!(body["text"], text);
    assert_eq!(
        body["sites"],
        json!([{"site": "loja-12", "verdicts": ["LATE"], "recovered": ["CAMERA_LATE"]}])
    );
    assert!(
        body["at"].as_str().is_some_and(|a| a.ends_with('Z')),
        "{body}"
    );

    let teams = by_path(&got, "/teams").json();
    assert_eq!(teams, json!({"text": format!("**{subject}**\n\n{text}")}));
    let slack = by_path(&got, "/slack").json();
    assert_eq!(slack, json!({"text": format!("*{subject}*\n{text}")}));

    let tg = by_path(&got, &format!("/tg/bot{BOT_TOKEN}/sendMessage")).json();
    assert_eq!(tg["chat_id"], "-1001234567890");
    assert_eq!(tg["text"], format!("{subject}\n\n{text}"));
}

#[tokio::test]
async fn a_refused_digest_goes_to_the_webhooks_and_the_dead_mans_switch_fails() {
    std::env::set_var(BOT_ENV, BOT_TOKEN);
    let env = Env::new();
    let hooks = receiver().await;
    let deadman = HttpServer::start(|_| Reply::text(200, "OK")).await;
    let server = SmtpServer::start_opts(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &Options {
            reject: Some("554 5.7.1 message refused".into()),
            ..Options::default()
        },
    );
    let settings = env.settings(
        "",
        &relay(&env, server.port),
        &format!(
            "{}\n[deadman]\nurl = \"{}/ping/abc-123\"\n",
            every_webhook(&hooks),
            deadman.url()
        ),
    );
    let outcome = send_slot_now(settings).await;
    assert!(
        matches!(&outcome, SlotOutcome::GaveUp(e) if e.contains("554")),
        "{outcome:?}"
    );
    let got = hooks.wait_for(4).await;
    let body = by_path(&got, "/json").json();
    assert_eq!(body["event"], "digest_failed");
    assert_eq!(body["title"], "Vigia: the digest could not be sent");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with("The daily digest email could not be sent: permanent failure: "),
        "{text}"
    );
    assert!(text.contains("(554): 5.7.1 message refused"), "{text}");
    assert_eq!(body["sites"], json!([]));
    let teams = by_path(&got, "/teams").json();
    assert!(teams["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("**Vigia: the digest could not be sent**")));
    let tg = by_path(&got, &format!("/tg/bot{BOT_TOKEN}/sendMessage")).json();
    assert!(tg["text"]
        .as_str()
        .is_some_and(|t| t.contains("5.7.1 message refused")));

    let pings = deadman.wait_for(1).await;
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].method, "POST");
    assert_eq!(pings[0].path, "/ping/abc-123/fail");
    assert!(
        pings[0].text().contains("5.7.1 message refused"),
        "{}",
        pings[0].text()
    );
}

#[tokio::test]
async fn a_sent_digest_pings_the_dead_mans_switch_and_failing_webhooks_do_not_matter() {
    let env = Env::new();
    let deadman = HttpServer::start(|_| Reply::text(200, "OK")).await;
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    // A webhook where nothing listens and one that answers 500: the digest goes all the same.
    let broken = HttpServer::start(|_| Reply::text(500, "boom")).await;
    let settings = env.settings(
        "",
        &relay(&env, server.port),
        &format!(
            "[[webhooks]]\nkind = \"json\"\nurl = \"{}/x\"\ntimeout = \"2s\"\n\n[[webhooks]]\nkind = \"slack\"\nurl = \"{}/y\"\n\n[deadman]\nurl = \"{}/ping/abc-123\"\n",
            closed_url(),
            broken.url(),
            deadman.url()
        ),
    );
    let outcome = send_slot_now(settings.clone()).await;
    assert_eq!(outcome, SlotOutcome::Sent);
    server.wait_for_async(1).await;
    let pings = deadman.wait_for(1).await;
    assert_eq!(pings[0].path, "/ping/abc-123");
    assert!(pings[0].body.is_empty());
    // Webhooks are for alerts and failures, not for a digest that went out.
    assert!(broken.requests().is_empty());

    // A failed digest with those broken webhooks: the failure is still noted at the switch.
    let notifier = Notifier::new(&settings);
    tokio::time::timeout(STEP, notifier.digest_failed("relay down"))
        .await
        .expect("webhook failures are bounded");
    assert_eq!(broken.wait_for(1).await.len(), 1);
    let pings = deadman.wait_for(2).await;
    assert_eq!(pings[1].path, "/ping/abc-123/fail");
    assert_eq!(pings[1].text(), "relay down");
}

#[test]
fn webhook_and_deadman_mistakes_name_the_key_and_the_file() {
    let env = Env::new();
    let file = env.dir.path().join("mailer.toml");
    let smtp = "host = \"localhost\"\nsecurity = \"none\"\n";
    for (rest, expected) in [
        (
            "[[webhooks]]\nkind = \"json\"\n",
            "key `webhooks[0].url`: missing",
        ),
        (
            "[[webhooks]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\n\n[[webhooks]]\nkind = \"teams\"\nurl = \"http://teams.example.com/hook\"\n",
            "key `webhooks[1].url`: \"http://teams.example.com/hook\" is plain http",
        ),
        (
            "[[webhooks]]\nkind = \"telegram\"\nchat_id = \"1\"\n",
            "key `webhooks[0].bot_token_env`: missing",
        ),
        (
            "[[webhooks]]\nkind = \"json\"\nurl = \"https://x.example/\"\nchat_id = \"1\"\n",
            "key `webhooks[0].chat_id`: only for kind = \"telegram\"",
        ),
        (
            "[[webhooks]]\nkind = \"discord\"\nurl = \"https://x.example/\"\n",
            "discord",
        ),
        (
            "[deadman]\nurl = \"ftp://hc.example/x\"\n",
            "key `deadman.url`",
        ),
    ] {
        env.write("", smtp, rest);
        let err = env.load(&file).expect_err(expected).to_string();
        assert!(err.contains(expected), "{expected:?} in {err}");
        assert!(err.contains(&file.display().to_string()), "file in {err}");
    }
}
