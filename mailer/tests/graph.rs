//! Microsoft Graph `sendMail` end to end against local HTTP servers: a token endpoint asked
//! for the Graph scope, and a Graph stand-in that checks the bearer token, the path
//! `/v1.0/users/{mailbox}/sendMail`, and that the base64 body decodes to the MIME message
//! lettre built (subject, both parts, the Bcc header Graph needs). 202 is success; 403 is
//! permanent and names `Mail.Send`; 429 is transient.

mod support;

use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::http::{HttpServer, Reply};
use support::transport::{digest_message, Env, CLIENT_ID, CLIENT_SECRET};
use vigia_mailer::delivery::Delivery;
use vigia_mailer::oauth2::GRAPH_SCOPE;
use vigia_mailer::smtp::SendError;

const STEP: Duration = Duration::from_secs(30);
const MAILBOX: &str = "vigia@contoso.com";
const TOKEN: &str = "graph-token-1";

/// A token endpoint that hands out [`TOKEN`] for the Graph scope only.
async fn token_endpoint() -> HttpServer {
    HttpServer::start(|r| {
        let f = r.form();
        let ok = f.get("grant_type").map(String::as_str) == Some("client_credentials")
            && f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
            && f.get("scope").map(String::as_str) == Some(GRAPH_SCOPE);
        if ok {
            Reply::json(
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
            )
        } else {
            Reply::json(
                400,
                json!({"error": "invalid_scope", "error_description": "unexpected form"}),
            )
        }
    })
    .await
}

/// Settings for Graph delivery at `graph` with tokens from `tokens`.
fn graph_settings(env: &Env, tokens: &HttpServer, graph: &HttpServer) -> vigia_mailer::Settings {
    env.settings(
        "delivery = \"graph\"",
        &format!("username = {MAILBOX:?}\n"),
        &format!(
            "{}\n[graph]\nurl = {:?}\ntimeout = \"10s\"\n",
            env.oauth2_section(&format!("{}/tenant/oauth2/v2.0/token", tokens.url())),
            graph.url()
        ),
    )
}

#[tokio::test]
async fn graph_send_mail_carries_the_mime_message_with_the_bearer_token() {
    let env = Env::new();
    let tokens = token_endpoint().await;
    let graph = HttpServer::start(|r| {
        if r.method == "POST"
            && r.path == format!("/v1.0/users/{MAILBOX}/sendMail")
            && r.header("authorization") == Some(&format!("Bearer {TOKEN}"))
            && r.header("content-type") == Some("text/plain")
        {
            Reply::text(202, "")
        } else {
            Reply::json(
                400,
                json!({"error": {"code": "ErrorInvalidRequest", "message": "unexpected"}}),
            )
        }
    })
    .await;
    let settings = graph_settings(&env, &tokens, &graph);
    let delivery = Delivery::new(Arc::new(settings.clone()));
    assert_eq!(
        delivery.describe(),
        format!("Microsoft Graph {}/ as {MAILBOX}", graph.url())
    );
    let (mail, rcpt) = digest_message(&settings);
    tokio::time::timeout(STEP, delivery.send(&rcpt, &mail, false))
        .await
        .expect("in time")
        .expect("accepted (202)");
    tokio::time::timeout(STEP, delivery.send(&rcpt, &mail, true))
        .await
        .expect("in time")
        .expect("accepted again");
    assert_eq!(tokens.requests().len(), 1, "the token is reused");
    let posts = graph.requests();
    assert_eq!(posts.len(), 2);
    let mime = base64::engine::general_purpose::STANDARD
        .decode(posts[0].body.trim_ascii())
        .expect("the body is base64");
    let mime = String::from_utf8(mime).expect("MIME text");
    let headers = &mime[..mime.find("\r\n\r\n").expect("headers end")];
    assert!(
        headers.contains("From: Vigia <vigia@example.com>"),
        "{headers}"
    );
    assert!(headers.contains("To: Ops <ops@example.com>"), "{headers}");
    assert!(
        headers.contains("Bcc: archive@example.com"),
        "Graph reads Bcc from the headers: {headers}"
    );
    assert!(headers.contains("Subject: "), "{headers}");
    assert!(mime.contains("multipart/alternative"), "{headers}");
    // The same bytes lettre builds for SMTP, minus the envelope-only Bcc.
    let message = vigia_mailer::smtp::build_message_with(&settings.from, &rcpt, &mail, false, true)
        .expect("message");
    let built = String::from_utf8(message.formatted()).expect("utf-8");
    let subject_line = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("Subject: "))
            .map(str::to_string)
    };
    assert_eq!(subject_line(&mime), subject_line(&built));
    let second = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(posts[1].body.trim_ascii())
            .expect("base64"),
    )
    .expect("MIME");
    assert!(second.contains("Importance: high"), "the alert flag");
}

/// Graph answering `status` with `body`: the error from one send.
async fn refused(status: u16, body: serde_json::Value) -> SendError {
    let env = Env::new();
    let tokens = token_endpoint().await;
    let graph = HttpServer::start(move |_| Reply::json(status, body.clone())).await;
    let settings = graph_settings(&env, &tokens, &graph);
    let delivery = Delivery::new(Arc::new(settings.clone()));
    let (mail, rcpt) = digest_message(&settings);
    tokio::time::timeout(STEP, delivery.send(&rcpt, &mail, false))
        .await
        .expect("in time")
        .expect_err("refused")
}

#[tokio::test]
async fn graph_403_is_permanent_and_names_the_mail_send_permission() {
    let err = refused(
        403,
        json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}),
    )
    .await;
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "refused to send as {MAILBOX} (403 ErrorAccessDenied: \"Access is denied."
        )),
        "{text}"
    );
    assert!(
        text.contains("the app registration needs the Microsoft Graph application permission Mail.Send with admin consent"),
        "{text}"
    );
}

#[tokio::test]
async fn graph_429_and_5xx_are_transient() {
    let busy = refused(
        429,
        json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}),
    )
    .await;
    assert!(busy.is_transient(), "{busy:?}");
    let down = refused(503, json!({})).await;
    assert!(down.is_transient(), "{down:?}");
}
