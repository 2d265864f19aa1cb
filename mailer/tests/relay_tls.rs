//! A relay whose certificate is refused is a permanent failure that says so, not a transient
//! one retried until the next digest: a certificate from a CA this machine does not trust
//! (no `smtp.ca_file`), and a CA certificate presented as the relay's own.

mod support;

use std::time::Duration;
use support::smtp::{SmtpServer, PASSWORD, USER};
use support::transport::{digest_message, Env};
use vigia_collector::testkit::CertPaths;
use vigia_mailer::service::{Mailer, SlotOutcome};
use vigia_mailer::smtp::SendError;

const STEP: Duration = Duration::from_secs(30);

/// `[smtp]` lines for a password login to the relay on `port`, trusting `ca` when given.
fn relay(env: &Env, port: u16, ca: Option<&std::path::Path>) -> String {
    let pw = env.secret_file("pw", PASSWORD);
    let ca = ca.map(|c| format!("ca_file = {c:?}\n")).unwrap_or_default();
    format!(
        "host = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\n{ca}username = {USER:?}\npassword_file = {pw:?}\n"
    )
}

async fn refused(env: &Env, server_cert: &CertPaths, ca: Option<&std::path::Path>) -> SendError {
    let server = SmtpServer::start(&env.dir.path().join("mbox"), server_cert, 0, None);
    let settings = env.settings("", &relay(env, server.port, ca), "");
    let (mail, rcpt) = digest_message(&settings);
    let delivery = vigia_mailer::delivery::Delivery::new(std::sync::Arc::new(settings));
    let err = tokio::time::timeout(STEP, delivery.send(&rcpt, &mail, false))
        .await
        .expect("in time")
        .expect_err("refused certificate");
    assert!(server.messages().is_empty());
    assert!(
        !server.events().iter().any(|e| e.starts_with("auth")),
        "no credentials went to an untrusted relay: {:?}",
        server.events()
    );
    err
}

#[tokio::test]
async fn a_relay_certificate_from_an_unknown_ca_is_permanent_and_says_so() {
    let env = Env::new();
    let err = refused(&env, &env.fleet.server(), None).await;
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("the relay's certificate is not trusted: UnknownIssuer (it is self-signed or issued by a CA this machine does not trust)"),
        "{text}"
    );
    assert!(
        text.contains("set smtp.ca_file to that CA's certificate (PEM)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_ca_certificate_used_as_the_relays_own_is_permanent_and_says_so() {
    let env = Env::new();
    let ca = env.fleet.ca_pem();
    let as_leaf = CertPaths {
        ca: ca.clone(),
        cert: ca.clone(),
        key: env.fleet.dir().join("ca.key"),
    };
    let err = refused(&env, &as_leaf, Some(&ca)).await;
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("permanent failure: the relay's certificate is not trusted: "),
        "{text}"
    );
    assert!(
        text.contains("it is a CA certificate presented as the server's own"),
        "{text}"
    );
    assert!(
        text.contains("give the relay a server certificate for localhost issued by that CA"),
        "{text}"
    );
}

#[tokio::test]
async fn an_untrusted_relay_is_tried_once_per_slot_not_until_the_deadline() {
    let env = Env::new();
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let settings = env.settings("", &relay(&env, server.port, None), "");
    let mailer = Mailer::open(settings).expect("open");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let slot = chrono::Utc::now();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        STEP,
        mailer.send_digest_for_slot(slot, slot + chrono::Duration::minutes(30), &mut rx),
    )
    .await
    .expect("given up at once, long before the deadline")
    .expect("no error");
    assert!(
        matches!(&outcome, SlotOutcome::GaveUp(e) if e.contains("certificate is not trusted")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!mailer.state().digest_sent(slot).expect("state"));
}
