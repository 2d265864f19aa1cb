//! The complete report stays within `[digest] attachment_max_bytes`: through a real SMTP relay
//! (aiosmtpd) with a message size limit, the digest of a fleet whose complete report would
//! break that limit attaches only what fits (the CSV, or nothing) and says, in the email's
//! language, that the report is too large to attach and which command writes it; `preview`'s
//! writer gives the same complete report the email would have attached without the cap.

mod support;

use support::fleet::{big_fleet, now};
use support::smtp::{Options, SmtpServer, PASSWORD};
use support::Setup;
use vigia_collector::testkit::TestFleet;
use vigia_mailer::delivery;
use vigia_mailer::render::out::encoded_len;
use vigia_mailer::render::{render_digest, write_report, FleetView, Rendered, ReportFile};
use vigia_mailer::smtp::{self, Recipients, SendError};
use vigia_mailer::{Language, Settings};

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

/// Settings for the relay on `port`, in `lang`, with this `[digest]` section's extra line.
fn settings(env: &Env, port: u16, lang: Language, digest: &str) -> Settings {
    let reader = env.fleet.reader("mailer").expect("reader");
    let top = format!("language = \"{}\"", lang.tag());
    let tail = format!("[digest]\n{digest}\n");
    Setup {
        dir: env.dir.path(),
        collector_url: "https://localhost:1".into(),
        reader: &reader,
        smtp_port: port,
        password: PASSWORD,
        top: &top,
        smtp_extra: "",
        tail: &tail,
    }
    .settings()
}

fn recipients(s: &Settings) -> Recipients {
    Recipients {
        to: s.to.clone(),
        cc: s.cc.clone(),
        bcc: s.bcc.clone(),
    }
}

/// The message's size as the relay receives it.
fn message_len(s: &Settings, mail: &Rendered) -> usize {
    smtp::build_message(&s.from, &recipients(s), mail, false)
        .expect("message")
        .formatted()
        .len()
}

async fn send(s: &Settings, mail: &Rendered) -> Result<(), SendError> {
    let msg = smtp::build_message(&s.from, &recipients(s), mail, false).expect("message");
    delivery::send(s, &msg).await
}

fn attachment_names(m: &serde_json::Value) -> Vec<String> {
    m["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["filename"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_report_over_the_cap_goes_as_csv_and_the_email_says_how_to_get_it() {
    let env = env();
    let fleet = big_fleet(2000, 10);
    // The same digest without a cap (Graph's 150 MB), to size the relay below it.
    let probe = settings(&env, 25, Language::En, "attachment_max_bytes = 150000000");
    let whole = render_digest(
        &FleetView::Reachable(&fleet),
        now(),
        &probe.render_options(),
    );
    assert_eq!(whole.attachments.len(), 2, "HTML and CSV without a cap");
    let (html, csv) = (&whole.attachments[0].bytes, &whole.attachments[1].bytes);
    assert!(
        html.len() > 2 * csv.len(),
        "{} vs {}",
        html.len(),
        csv.len()
    );
    // A cap that lets the CSV through but not the HTML with it.
    let cap = encoded_len(csv.len()) + 1000;
    let capped_settings = |port| {
        settings(
            &env,
            port,
            Language::En,
            &format!("attachment_max_bytes = {cap}"),
        )
    };
    let capped = render_digest(
        &FleetView::Reachable(&fleet),
        now(),
        &capped_settings(25).render_options(),
    );
    // A relay whose limit sits between the capped digest and the whole one.
    let small = message_len(&probe, &capped);
    let big = message_len(&probe, &whole);
    assert!(small < big);
    let limit = (small + big) / 2;
    let server = SmtpServer::start_opts(
        &env.dir.path().join("mbox"),
        &env.fleet.server(),
        &Options {
            size_limit: Some(limit),
            ..Options::default()
        },
    );
    // Without the cap the relay refuses the digest outright: that is what the cap prevents.
    let uncapped = settings(
        &env,
        server.port,
        Language::En,
        "attachment_max_bytes = 150000000",
    );
    let refused = send(&uncapped, &whole).await;
    assert!(
        matches!(&refused, Err(SendError::Permanent(e)) if e.contains("552")),
        "{refused:?}"
    );
    let s = capped_settings(server.port);
    send(&s, &capped)
        .await
        .expect("the capped digest is accepted");
    let got = server.wait_for(1);
    let m = got.last().expect("a message");
    let csv_name = whole.attachments[1].name.clone();
    assert_eq!(attachment_names(m), vec![csv_name.clone()]);
    assert_eq!(
        m["attachments"][0]["size"].as_u64(),
        Some(csv.len() as u64),
        "the CSV whole"
    );
    assert_eq!(capped.omitted, vec![whole.attachments[0].name.clone()]);
    let command = format!(
        "vigia-mailer --config {} preview --out",
        std::fs::canonicalize(env.dir.path().join("mailer.toml"))
            .expect("config path")
            .display()
    );
    for part in [
        m["html"].as_str().expect("html"),
        m["text"].as_str().expect("text"),
    ] {
        assert!(part.contains("too large to attach"), "{part:.300}");
        assert!(part.contains("only its table is attached, as CSV"));
        assert!(part.contains(&command), "the command that writes it");
        assert!(!part.contains("is attached (HTML, and CSV"));
    }
    // What preview writes is the report the email would have attached without the cap.
    let mut written = Vec::new();
    let name = write_report(
        &FleetView::Reachable(&fleet),
        now(),
        &s.render_options(),
        ReportFile::Html,
        &mut written,
    )
    .expect("written");
    assert_eq!(name, whole.attachments[0].name);
    assert!(written == *html, "the complete report, byte for byte");
}

#[tokio::test]
async fn with_attachments_off_nothing_is_attached_and_portuguese_says_the_same() {
    let env = env();
    let server = SmtpServer::start(&env.dir.path().join("mbox"), &env.fleet.server(), 0, None);
    let fleet = big_fleet(1000, 10);
    for (i, (lang, says)) in [
        (Language::PtBr, "não vai anexo: os anexos estão desligados"),
        (Language::En, "is not attached: attachments are turned off"),
    ]
    .into_iter()
    .enumerate()
    {
        let s = settings(&env, server.port, lang, "attachment_max_bytes = 0");
        let mail = render_digest(&FleetView::Reachable(&fleet), now(), &s.render_options());
        assert!(mail.attachments.is_empty());
        assert_eq!(mail.omitted.len(), 2, "HTML and CSV left out");
        send(&s, &mail).await.expect("sent");
        let got = server.wait_for(i + 1);
        let m = &got[i];
        assert!(attachment_names(m).is_empty());
        for part in [
            m["html"].as_str().expect("html"),
            m["text"].as_str().expect("text"),
        ] {
            assert!(part.contains(says), "{lang:?}: {part:.400}");
            assert!(part.contains("preview --out"));
        }
    }
}

#[test]
fn a_cap_below_even_the_csv_attaches_nothing_in_both_languages() {
    let fleet = big_fleet(1000, 10);
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    for (lang, says) in [
        (
            Language::En,
            "too large to attach, even as a CSV table (the limit is 0.1 MB)",
        ),
        (
            Language::PtBr,
            "grande demais para ir anexo, mesmo como tabela CSV (o limite é 0,1 MB)",
        ),
    ] {
        let opts =
            vigia_mailer::RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y")
                .with_attachments(50_000, "vigia-mailer preview --out x.html".into());
        let mail = render_digest(&FleetView::Reachable(&fleet), now(), &opts);
        assert!(mail.attachments.is_empty());
        assert!(mail.html.contains(says), "{lang:?}");
        assert!(mail.text.contains(says), "{lang:?}");
        assert!(mail.text.contains("vigia-mailer preview --out x.html"));
    }
}
