//! The mailer against a real collector (mutual TLS, Query with a reader certificate) and a real
//! SMTP server: digest rows from the collector, the digest when the collector is down, alerts on
//! entering and leaving LATE, and the run loop on a fast schedule.

mod support;

use chrono::{Duration, Utc};
use std::time::Duration as StdDuration;
use support::fleet::status_at;
use support::smtp::{SmtpServer, PASSWORD};
use support::Setup;
use tokio_stream::wrappers::ReceiverStream;
use vigia::pb::ingest_client::IngestClient;
use vigia::pb::{RecordingStatus, Technology, VerdictKind};
use vigia_collector::testkit::{CertPaths, TestCollector, TestFleet};
use vigia_mailer::service::{AlertOutcome, Mailer, SlotOutcome};

const STEP: StdDuration = StdDuration::from_secs(15);

struct Env {
    dir: tempfile::TempDir,
    fleet: TestFleet,
    reader: CertPaths,
}

impl Env {
    /// A collector with the default test settings.
    async fn collector(&self) -> TestCollector {
        TestCollector::start(&self.fleet, &self.dir.path().join("data"), |_| {})
            .await
            .expect("collector")
    }

    /// A relay that accepts every message.
    fn smtp(&self) -> SmtpServer {
        SmtpServer::start(&self.dir.path().join("mbox"), &self.fleet.server(), 0, None)
    }
}

fn env() -> Env {
    vigia::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
    let reader = fleet.reader("mailer").expect("reader");
    Env { dir, fleet, reader }
}

/// Sends one status as the site's probe and waits for its acknowledgement.
async fn report(c: &TestCollector, fleet: &TestFleet, status: RecordingStatus) {
    let paths = fleet.probe(&status.site).expect("probe cert");
    let channel = vigia_collector::testkit::connect(&c.url(), &paths)
        .await
        .expect("probe connects");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(status.clone()).await.expect("queue");
    let mut client = IngestClient::new(channel);
    let mut acks = tokio::time::timeout(STEP, client.report(ReceiverStream::new(rx)))
        .await
        .expect("stream opens in time")
        .expect("stream opens")
        .into_inner();
    let ack = tokio::time::timeout(STEP, acks.message())
        .await
        .expect("ack in time")
        .expect("ack")
        .expect("one ack");
    assert_eq!(ack.sequence, status.sequence);
}

fn live(site: &str, seq: u64, late: bool) -> RecordingStatus {
    let now = Utc::now();
    let mut s = status_at(site, "nvr", Technology::Intelbras, 40, now);
    s.sequence = seq;
    s.observed_at = Some(vigia::days::to_timestamp(now));
    if late {
        s.newest_recording = Some(vigia::days::to_timestamp(now - Duration::hours(7)));
    }
    s
}

fn setup<'a>(e: &'a Env, url: String, smtp_port: u16, tail: &'a str) -> Setup<'a> {
    Setup {
        dir: e.dir.path(),
        collector_url: url,
        reader: &e.reader,
        smtp_port,
        password: PASSWORD,
        top: "language = \"en\"",
        smtp_extra: "",
        tail,
    }
}

#[tokio::test]
async fn digest_rows_come_from_a_real_collector() {
    let e = env();
    let c = TestCollector::start(&e.fleet, &e.dir.path().join("data"), |cfg| {
        cfg.expected_sites = vec!["loja-nova".into()];
    })
    .await
    .expect("collector");
    report(&c, &e.fleet, live("loja-ok", 1, false)).await;
    report(&c, &e.fleet, live("loja-late", 1, true)).await;
    let server = e.smtp();
    let mailer = Mailer::open(setup(&e, c.url(), server.port, "").settings()).expect("mailer");
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let slot = Utc::now();
    let outcome = mailer
        .send_digest_for_slot(slot, slot + Duration::minutes(5), &mut rx)
        .await
        .expect("no error");
    assert_eq!(outcome, SlotOutcome::Sent);
    let got = server.wait_for(1);
    let subject = got[0]["subject"].as_str().expect("subject");
    assert!(subject.ends_with("— 2 problems, 3 sites"), "{subject}");
    let text = got[0]["text"].as_str().expect("text");
    let html = got[0]["html"].as_str().expect("html");
    let never = text
        .find("* loja-nova — Never reported")
        .expect("never-reported row");
    let late = text.find("* loja-late — Late").expect("late row");
    let ok = text.find("loja-ok · Intelbras").expect("healthy row");
    assert!(never < late && late < ok, "{text}");
    assert!(text.contains("Late: newest recording"), "{text}");
    assert!(html.contains("<b>loja-late</b>") && html.contains("<div>loja-ok · Intelbras"));

    // The next day's digest compares with this one (remembered in the mailer's state): loja-late
    // recovered, the never-reported site is still open since the first digest, nothing is new.
    report(&c, &e.fleet, live("loja-late", 2, false)).await;
    let next = slot + Duration::days(1);
    let outcome = mailer
        .send_digest_for_slot(next, next + Duration::minutes(5), &mut rx)
        .await
        .expect("no error");
    assert_eq!(outcome, SlotOutcome::Sent);
    let got = server.wait_for(2);
    let subject = got[1]["subject"].as_str().expect("subject");
    assert!(
        subject.ends_with("— 1 problem (1 recovered), 3 sites"),
        "{subject}"
    );
    let text = got[1]["text"].as_str().expect("text").replace("\r\n", "\n");
    let first_day = mailer.settings().render_options().date(slot);
    assert!(
        text.contains(&format!("(still open since {first_day})")),
        "{text}"
    );
    assert!(
        text.contains("== Recovered since the last digest (1) ==\n\nloja-late: Late"),
        "{text}"
    );
    c.stop().await;
}

#[tokio::test]
async fn collector_down_the_digest_still_goes_out_and_says_since_when() {
    let e = env();
    let c = e.collector().await;
    let url = c.url();
    let server = e.smtp();
    let settings = setup(&e, url.clone(), server.port, "").settings();
    let opts = settings.render_options();
    let mailer = Mailer::open(settings).expect("mailer");
    let t0 = Utc::now() - Duration::hours(2);
    assert!(matches!(
        mailer.fetch(t0).await.expect("fetch"),
        vigia_mailer::Fleet::Reachable(_)
    ));
    c.stop().await;
    let t1 = Utc::now() - Duration::minutes(40);
    assert!(matches!(
        mailer.fetch(t1).await.expect("fetch"),
        vigia_mailer::Fleet::Unreachable { since, .. } if since == t1
    ));
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let outcome = mailer
        .send_digest_for_slot(Utc::now(), Utc::now() + Duration::minutes(5), &mut rx)
        .await
        .expect("no error");
    assert_eq!(outcome, SlotOutcome::Sent);
    let got = server.wait_for(1);
    let text = got[0]["text"].as_str().expect("text");
    let first = text.lines().next().expect("first line");
    assert!(
        first.starts_with(&format!(
            "The collector {url} is unreachable since {}",
            opts.datetime(t1)
        )),
        "{first}"
    );
    assert!(
        first.contains(&format!("Last successful contact: {}", opts.datetime(t0))),
        "{first}"
    );
}

#[tokio::test]
async fn alert_once_on_entering_late_none_while_it_stays_one_recovery() {
    let e = env();
    let c = e.collector().await;
    report(&c, &e.fleet, live("loja-a", 1, false)).await;
    report(&c, &e.fleet, live("loja-b", 1, false)).await;
    let server = e.smtp();
    let tail =
        "[alerts]\nschedule = \"0 */10 * * * *\"\nto = [\"oncall@example.com\"]\nhold_for = \"0s\"";
    let settings = setup(&e, c.url(), server.port, tail).settings();
    let mailer = Mailer::open(settings.clone()).expect("mailer");

    assert_eq!(
        mailer.check_alerts(Utc::now()).await.expect("check"),
        AlertOutcome::NoChange
    );

    report(&c, &e.fleet, live("loja-a", 2, true)).await;
    match mailer.check_alerts(Utc::now()).await.expect("check") {
        AlertOutcome::Sent(changes) => {
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].site, "loja-a");
            assert_eq!(changes[0].kind, VerdictKind::Late);
            assert!(changes[0].entered);
        }
        other => panic!("expected an alert, got {other:?}"),
    }
    let got = server.wait_for(1);
    assert_eq!(got[0]["subject"], "CCTV ALERT — loja-a: Late");
    assert_eq!(got[0]["to"], "oncall@example.com");
    assert_eq!(got[0]["importance"], "high");
    assert!(got[0]["text"]
        .as_str()
        .expect("text")
        .contains("newest recording"));

    // It stays LATE: nothing more, also after a restart of the mailer.
    assert_eq!(
        mailer.check_alerts(Utc::now()).await.expect("check"),
        AlertOutcome::NoChange
    );
    drop(mailer);
    let mailer = Mailer::open(settings).expect("reopen");
    assert_eq!(
        mailer.check_alerts(Utc::now()).await.expect("check"),
        AlertOutcome::NoChange
    );

    // It recovers: one recovery email.
    report(&c, &e.fleet, live("loja-a", 3, false)).await;
    match mailer.check_alerts(Utc::now()).await.expect("check") {
        AlertOutcome::Sent(changes) => {
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert!(!changes[0].entered);
            assert_eq!(changes[0].kind, VerdictKind::Late);
        }
        other => panic!("expected a recovery, got {other:?}"),
    }
    let got = server.wait_for(2);
    assert_eq!(got[1]["subject"], "CCTV ALERT — loja-a recovered (Late)");
    assert_eq!(
        mailer.check_alerts(Utc::now()).await.expect("check"),
        AlertOutcome::NoChange
    );
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(
        server.messages().len(),
        2,
        "exactly one alert and one recovery"
    );
    c.stop().await;
}

#[tokio::test]
async fn alerts_hold_remind_and_escalate_on_an_injected_clock_and_never_repeat_after_a_restart() {
    let e = env();
    let c = e.collector().await;
    report(&c, &e.fleet, live("loja-a", 1, true)).await;
    let server = e.smtp();
    let tail = "[alerts]\nschedule = \"0 */10 * * * *\"\nto = [\"oncall@example.com\"]\nhold_for = \"10m\"\nremind_every = \"1h\"\nescalate_after = \"3h\"\nescalate_to = [\"boss@example.com\"]";
    let settings = setup(&e, c.url(), server.port, tail).settings();
    let t0 = Utc::now();
    let at = |min: i64| t0 + chrono::Duration::minutes(min);
    let check = |mailer: &Mailer, min: i64| {
        let mailer = mailer.clone();
        async move { mailer.check_alerts(at(min)).await.expect("check") }
    };
    let mailer = Mailer::open(settings.clone()).expect("mailer");
    assert_eq!(check(&mailer, 0).await, AlertOutcome::NoChange, "held");
    assert_eq!(
        check(&mailer, 9).await,
        AlertOutcome::NoChange,
        "still held"
    );
    assert!(
        matches!(check(&mailer, 10).await, AlertOutcome::Sent(_)),
        "held for 10m"
    );
    let got = server.wait_for(1);
    assert_eq!(got[0]["to"], "oncall@example.com");
    // A restart neither repeats nor forgets.
    drop(mailer);
    let mailer = Mailer::open(settings).expect("reopen");
    assert_eq!(check(&mailer, 20).await, AlertOutcome::NoChange);
    match check(&mailer, 70).await {
        AlertOutcome::Sent(changes) => {
            assert!(
                changes[0].detail.starts_with("still open since"),
                "{changes:?}"
            );
        }
        other => panic!("expected a reminder, got {other:?}"),
    }
    let got = server.wait_for(2);
    assert_eq!(got[1]["to"], "oncall@example.com");
    assert_eq!(check(&mailer, 100).await, AlertOutcome::NoChange);
    match check(&mailer, 180).await {
        AlertOutcome::Sent(changes) => {
            assert!(changes[0].detail.contains("escalated"), "{changes:?}");
        }
        other => panic!("expected an escalation, got {other:?}"),
    }
    let got = server.wait_for(3);
    assert_eq!(got[2]["to"], "boss@example.com");
    // It recovers: one recovery, to the alert recipients.
    report(&c, &e.fleet, live("loja-a", 2, false)).await;
    match check(&mailer, 190).await {
        AlertOutcome::Sent(changes) => assert!(!changes[0].entered, "{changes:?}"),
        other => panic!("expected a recovery, got {other:?}"),
    }
    assert_eq!(check(&mailer, 200).await, AlertOutcome::NoChange);
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(
        server.messages().len(),
        4,
        "alert, reminder, escalation, recovery"
    );
    c.stop().await;
}

#[tokio::test]
async fn run_sends_on_schedule_and_stops_on_shutdown() {
    let e = env();
    let c = e.collector().await;
    report(&c, &e.fleet, live("loja-a", 1, false)).await;
    let server = e.smtp();
    let tail = "[digest]\nschedule = \"*/2 * * * * *\"";
    let mailer = Mailer::open(setup(&e, c.url(), server.port, tail).settings()).expect("mailer");
    let state = mailer.state().clone();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(mailer.run(rx));
    let got = server.wait_for_async(1).await;
    assert!(got[0]["subject"]
        .as_str()
        .expect("subject")
        .ends_with("0 problems, 1 site"));
    // The server stores the message before its "250 OK" reaches the mailer, which marks the
    // slot only then: wait for the mark.
    let deadline = tokio::time::Instant::now() + STEP;
    let slot = loop {
        if let Some(slot) = state.last_digest_slot().expect("state") {
            break slot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was marked"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert_eq!(slot.timestamp() % 2, 0, "slots fall on the schedule");
    tx.send(true).expect("shutdown");
    tokio::time::timeout(STEP, task)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("no error");
    c.stop().await;
}

#[tokio::test]
async fn run_watches_the_collector_so_an_outage_start_is_known_before_the_digest() {
    let e = env();
    let c = e.collector().await;
    let mut settings = setup(&e, c.url(), 1, "").settings();
    settings.raw.collector.watch_every = StdDuration::from_millis(200);
    let mailer = Mailer::open(settings).expect("mailer");
    let state = mailer.state().clone();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(mailer.run(rx));
    let deadline = tokio::time::Instant::now() + STEP;
    while state.collector_last_ok().expect("state").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a health check succeeded"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    c.stop().await;
    let stopped = Utc::now();
    let since = loop {
        if let Some(since) = state.collector_unreachable_since().expect("state") {
            break since;
        }
        assert!(
            tokio::time::Instant::now() < deadline + STEP,
            "the outage was noticed"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert!(
        since >= stopped - Duration::seconds(1),
        "{since} vs {stopped}"
    );
    assert!(since <= Utc::now());
    tx.send(true).expect("shutdown");
    tokio::time::timeout(STEP, task)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("no error");
}
