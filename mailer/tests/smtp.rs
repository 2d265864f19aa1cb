//! The digest through a real SMTP server (aiosmtpd) over TCP with STARTTLS and AUTH: headers,
//! both MIME parts, the problem rows; refusals sorted into permanent and transient; a slot
//! retried until the server is back and sent exactly once, also across a restart.

mod support;

use chrono::{Duration, Utc};
use support::fleet::{fixed_fleet, now};
use support::smtp::{SmtpServer, PASSWORD};
use support::Setup;
use vigia_collector::testkit::TestFleet;
use vigia_mailer::delivery;
use vigia_mailer::render::{render_digest, FleetView};
use vigia_mailer::service::{Mailer, SlotOutcome};
use vigia_mailer::smtp::{self, Recipients, SendError};

struct Env {
    dir: tempfile::TempDir,
    fleet: TestFleet,
}

fn env() -> Env {
    vigia::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
    Env { dir, fleet }
}

/// A collector address where nothing listens (the digest then says the collector is unreachable).
fn dead_collector() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("https://localhost:{port}")
}

fn setup<'a>(
    env: &'a Env,
    reader: &'a vigia_collector::testkit::CertPaths,
    port: u16,
    password: &'a str,
    smtp_extra: &'a str,
) -> Setup<'a> {
    Setup {
        dir: env.dir.path(),
        collector_url: dead_collector(),
        reader,
        smtp_port: port,
        password,
        top: "language = \"en\"",
        smtp_extra,
        tail: "",
    }
}

#[tokio::test]
async fn digest_arrives_over_starttls_with_auth_plain_and_login() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let fleet = fixed_fleet();
    for (i, mech) in ["PLAIN", "LOGIN"].iter().enumerate() {
        let extra = format!("auth = [\"{mech}\"]");
        let settings = setup(&env, &reader, server.port, PASSWORD, &extra).settings();
        let mail = render_digest(
            &FleetView::Reachable(&fleet),
            now(),
            &settings.render_options(),
        );
        let rcpt = Recipients {
            to: settings.to.clone(),
            cc: settings.cc.clone(),
            bcc: settings.bcc.clone(),
        };
        let msg = smtp::build_message(&settings.from, &rcpt, &mail, false).expect("message");
        delivery::send(&settings, &msg).await.expect("sent");
        let got = server.wait_for(i + 1);
        let m = &got[i];
        assert_eq!(m["from"], "Vigia <vigia@example.com>");
        assert_eq!(m["to"], "Ops <ops@example.com>, boss@example.com");
        assert_eq!(m["cc"], "audit@example.com");
        assert!(
            m["bcc"].is_null(),
            "Bcc must not appear in the headers: {}",
            m["bcc"]
        );
        let rcpts: Vec<&str> = m["rcpt_tos"]
            .as_array()
            .expect("rcpts")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(
            rcpts,
            [
                "ops@example.com",
                "boss@example.com",
                "audit@example.com",
                "archive@example.com"
            ]
        );
        assert_eq!(
            m["subject"],
            "CCTV audit 28/11/2026 — 10 problems, 11 sites"
        );
        assert_eq!(m["content_type"], "multipart/alternative");
        assert!(m["message_id"].as_str().is_some_and(|s| s.contains('@')));
        assert!(m["date"]
            .as_str()
            .is_some_and(|s| s.contains("2026") || s.contains(',')));
        assert!(m["tls"].as_bool().expect("tls"), "STARTTLS was used");
        assert!(m["authenticated"].as_bool().expect("auth"));
        let html = m["html"].as_str().expect("HTML part");
        let text = m["text"].as_str().expect("text part");
        // Decoded parts equal what we rendered (quoted-printable/base64 undone by Python).
        assert_eq!(text.replace("\r\n", "\n"), mail.text);
        assert_eq!(html.replace("\r\n", "\n"), mail.html);
        for row in ["loja-late", "loja-silent", "loja-never", "loja-scan"] {
            assert!(
                html.contains(&format!("<b>{row}</b>")),
                "{row} row in the HTML"
            );
            assert!(
                text.contains(&format!("* {row} — ")),
                "{row} row in the text"
            );
        }
        assert!(text.contains("Late: newest recording 28/11/2026 00:00"));
        assert!(
            server
                .events()
                .iter()
                .any(|e| e == &format!("auth {mech} ok")),
            "{:?}",
            server.events()
        );
    }
}

#[tokio::test]
async fn wrong_password_is_permanent_and_carries_the_reply() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let settings = setup(&env, &reader, server.port, "wrong", "").settings();
    let fleet = fixed_fleet();
    let mail = render_digest(
        &FleetView::Reachable(&fleet),
        now(),
        &settings.render_options(),
    );
    let rcpt = Recipients {
        to: settings.to.clone(),
        cc: vec![],
        bcc: vec![],
    };
    let msg = smtp::build_message(&settings.from, &rcpt, &mail, false).expect("message");
    let err = delivery::send(&settings, &msg).await.expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("535"), "server's reply in {err}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn untrusted_relay_certificate_is_refused() {
    // Without `ca_file` the relay's private-CA certificate is not trusted: nothing is sent.
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let mut s = setup(&env, &reader, server.port, PASSWORD, "").settings();
    s.raw.smtp.ca_file = None;
    let (_, msg) = fixed_digest_to(&s);
    let err = delivery::send(&s, &msg).await.expect_err("untrusted");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn slot_retried_until_the_server_is_up_then_sent_once_even_across_a_restart() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    // The relay's port, with nothing listening yet: the slot comes while it is down.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let settings = setup(&env, &reader, port, PASSWORD, "").settings();
    let slot = Utc::now() - Duration::seconds(1);
    let deadline = Utc::now() + Duration::seconds(60);
    let mailer = Mailer::open(settings.clone()).expect("open");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let task = {
        let m = mailer.clone();
        let mut rx = rx.clone();
        tokio::spawn(async move { m.send_digest_for_slot(slot, deadline, &mut rx).await })
    };
    // Several attempts fail (connection refused) and the slot stays unmarked meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(!task.is_finished(), "still retrying");
    assert!(!mailer.state().digest_sent(slot).expect("state"));
    let server = SmtpServer::start(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        port,
        None,
    );
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), task)
        .await
        .expect("sent within 30 s")
        .expect("task")
        .expect("no error");
    assert_eq!(outcome, SlotOutcome::Sent);
    assert!(mailer.state().digest_sent(slot).expect("state"));
    let got = server.wait_for(1);
    // The collector was unreachable: the digest still went out, saying so on its first line.
    let text = got[0]["text"].as_str().expect("text");
    assert!(
        text.starts_with("The collector https://localhost:"),
        "{text}"
    );
    assert!(got[0]["subject"]
        .as_str()
        .expect("subject")
        .ends_with("COLLECTOR UNREACHABLE"));

    // A restart: the same state folder knows the slot went out.
    drop(mailer);
    let again = Mailer::open(settings.clone()).expect("reopen");
    let mut rx2 = rx.clone();
    assert_eq!(
        again
            .send_digest_for_slot(slot, deadline, &mut rx2)
            .await
            .expect("no error"),
        SlotOutcome::AlreadySent
    );
    assert_eq!(
        again
            .catch_up(slot + Duration::seconds(1), &mut rx2)
            .await
            .expect("catch up"),
        None,
        "nothing to catch up"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        server.messages().len(),
        1,
        "exactly one message for the slot"
    );
}

#[tokio::test]
async fn missed_slot_is_caught_up_at_start_once() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let settings = setup(&env, &reader, server.port, PASSWORD, "").settings();
    let tz = settings.tz;
    let sched = settings.digest_schedule.clone();
    let now = Utc::now();
    let today = sched.latest_at_or_before(now, tz).expect("due slot");
    let yesterday = sched
        .latest_at_or_before(today - Duration::seconds(1), tz)
        .expect("previous slot");
    let mailer = Mailer::open(settings).expect("open");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    // First start ever: nothing was missed.
    assert_eq!(mailer.catch_up(now, &mut rx).await.expect("first"), None);
    // The mailer sent yesterday's digest, then was down over today's slot.
    mailer.state().mark_digest_sent(yesterday).expect("mark");
    let (slot, outcome) = mailer
        .catch_up(now, &mut rx)
        .await
        .expect("catch up")
        .expect("a slot was missed");
    assert_eq!((slot, outcome), (today, SlotOutcome::Sent));
    assert_eq!(mailer.catch_up(now, &mut rx).await.expect("again"), None);
    server.wait_for(1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.messages().len(), 1);
}

/// A digest slot sent to a relay that answers every message with `reply`, giving up after
/// `deadline`: the outcome, how many times the relay refused it, and whether the slot was marked.
async fn refused_by_the_relay(reply: &str, deadline: Duration) -> (SlotOutcome, usize, bool) {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        0,
        Some(reply),
    );
    let settings = setup(&env, &reader, server.port, PASSWORD, "").settings();
    let mailer = Mailer::open(settings).expect("open");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let slot = Utc::now();
    let outcome = mailer
        .send_digest_for_slot(slot, Utc::now() + deadline, &mut rx)
        .await
        .expect("no error");
    let tries = server
        .events()
        .iter()
        .filter(|e| e.starts_with("rejected"))
        .count();
    let marked = mailer.state().digest_sent(slot).expect("state");
    (outcome, tries, marked)
}

#[tokio::test]
async fn transient_refusal_is_retried_until_the_deadline_and_leaves_the_slot_unmarked() {
    let (outcome, tries, marked) =
        refused_by_the_relay("451 4.3.0 try again later", Duration::seconds(2)).await;
    assert!(
        matches!(&outcome, SlotOutcome::GaveUp(e) if e.contains("451")),
        "{outcome:?}"
    );
    assert!(tries >= 2, "retried: {tries}");
    assert!(!marked);
}

#[tokio::test]
async fn permanent_refusal_is_not_retried() {
    let (outcome, tries, marked) =
        refused_by_the_relay("554 5.7.1 message refused", Duration::seconds(30)).await;
    assert!(
        matches!(&outcome, SlotOutcome::GaveUp(e) if e.contains("554") && e.contains("message refused")),
        "{outcome:?}"
    );
    assert_eq!(tries, 1);
    assert!(!marked);
}

#[tokio::test]
async fn implicit_tls_relay() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start_with(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        0,
        None,
        true,
    );
    let mut s = setup(&env, &reader, server.port, PASSWORD, "auth = [\"LOGIN\"]").settings();
    s.raw.smtp.security = vigia_mailer::config::Security::Tls;
    let (mail, msg) = fixed_digest_to(&s);
    delivery::send(&s, &msg)
        .await
        .expect("sent over implicit TLS");
    let got = server.wait_for(1);
    assert!(got[0]["tls"].as_bool().expect("tls"));
    assert_eq!(got[0]["subject"], mail.subject.as_str());
}

#[test]
fn send_now_from_the_command_line() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let _ = setup(&env, &reader, server.port, PASSWORD, "").settings();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-mailer"))
        .arg("--config")
        .arg(env.dir.path().join("mailer.toml"))
        .arg("send-now")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.wait_for(1);
    assert!(got[0]["subject"]
        .as_str()
        .expect("subject")
        .ends_with("COLLECTOR UNREACHABLE"));
    // send-now marks no slot: the scheduled digest still goes out.
    assert!(!env.dir.path().join("state").exists());
}

#[cfg(unix)]
#[test]
fn run_command_sends_on_schedule_and_exits_cleanly_on_sigterm() {
    let env = env();
    let reader = env.fleet.reader("mailer").expect("reader");
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let mut s = setup(&env, &reader, server.port, PASSWORD, "");
    s.tail = "[digest]\nschedule = \"* * * * * *\"";
    let _ = s.settings();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-mailer"))
        .arg("--config")
        .arg(env.dir.path().join("mailer.toml"))
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let got = std::panic::catch_unwind(|| server.wait_for(1));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let start = std::time::Instant::now();
    let exit = loop {
        if let Some(code) = child.try_wait().expect("wait") {
            break code;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _guard = Kill(child);
            panic!("vigia-mailer run did not exit within 20 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let got = got.expect("a digest was sent");
    assert!(exit.success(), "{exit:?}");
    assert!(got[0]["subject"]
        .as_str()
        .expect("subject")
        .ends_with("COLLECTOR UNREACHABLE"));
    // The state store was released: it can be opened again at once.
    vigia_mailer::state::State::open(&env.dir.path().join("state")).expect("store released");
}

/// The fixed fleet's digest, and its message addressed to the configured `to` only.
fn fixed_digest_to(
    s: &vigia_mailer::Settings,
) -> (vigia_mailer::render::Rendered, lettre::Message) {
    let fleet = fixed_fleet();
    let mail = render_digest(&FleetView::Reachable(&fleet), now(), &s.render_options());
    let rcpt = Recipients {
        to: s.to.clone(),
        cc: vec![],
        bcc: vec![],
    };
    let msg = smtp::build_message(&s.from, &rcpt, &mail, false).expect("message");
    (mail, msg)
}
