//! Never clipped: the digest's HTML body stays under Gmail's 102 KB for big fleets and
//! mass-outage mornings, problems first with their detail, healthy sites summarised, and the
//! complete report attached (HTML and CSV) when the body cannot hold it — and says so.

mod support;

use std::collections::BTreeSet;
use support::fleet::{big_fleet, now};
use vigia::pb::ListSitesResponse;
use vigia_mailer::render::{render_digest, FleetView, RenderOptions, Rendered, GMAIL_CLIP_BYTES};
use vigia_mailer::Language;

fn opts(lang: Language) -> RenderOptions {
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y")
}

fn attachment<'r>(r: &'r Rendered, ext: &str) -> &'r [u8] {
    &r.attachments
        .iter()
        .find(|a| a.name.ends_with(ext))
        .unwrap_or_else(|| panic!("no .{ext} attachment"))
        .bytes
}

/// Every site of the fleet is in both attachments; the body is under the clip and says that
/// the report is attached.
#[track_caller]
fn check_summarised(fleet: &ListSitesResponse, r: &Rendered, lang: Language) {
    assert!(
        r.html.len() < GMAIL_CLIP_BYTES,
        "{} bytes of HTML, over {GMAIL_CLIP_BYTES}",
        r.html.len()
    );
    assert_eq!(
        r.attachments.len(),
        2,
        "the complete report, as HTML and CSV"
    );
    let full = std::str::from_utf8(attachment(r, "html")).expect("utf-8");
    let csv = std::str::from_utf8(attachment(r, "csv")).expect("utf-8");
    assert!(csv.starts_with('\u{feff}'), "a BOM for Excel");
    let sep = if lang == Language::PtBr { ';' } else { ',' };
    let in_csv: BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(sep).next())
        .collect();
    let in_full: BTreeSet<&str> = full
        .split("<b>")
        .skip(1)
        .chain(full.split("<div>").skip(1))
        .filter_map(|p| p.split(['<', ' ']).next())
        .collect();
    for s in &fleet.sites {
        assert!(
            in_full.contains(s.site.as_str()),
            "{} missing from the attached HTML",
            s.site
        );
        assert!(
            in_csv.contains(s.site.as_str()),
            "{} missing from the CSV",
            s.site
        );
    }
    let notice = match lang {
        Language::En => "the complete report of the",
        Language::PtBr => "o relatório completo dos",
    };
    assert!(r.html.contains(notice) && r.text.contains(notice));
    let a = &r.attachments[0];
    assert!(a.name.ends_with("2026-11-28.html"), "{}", a.name);
}

#[test]
fn a_thousand_sites_with_a_tenth_in_trouble_fit_with_every_problem_in_detail() {
    let fleet = big_fleet(1000, 10);
    for lang in Language::ALL {
        let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(lang));
        check_summarised(&fleet, &r, lang);
        // Every problem site with its detail (its sentences), worst first.
        let problems: Vec<&str> = fleet
            .sites
            .iter()
            .filter(|s| vigia::rules::worst(&s.verdicts) != vigia::pb::VerdictKind::Ok)
            .map(|s| s.site.as_str())
            .collect();
        assert_eq!(problems.len(), 100);
        for p in &problems {
            assert!(
                r.html.contains(&format!("<b>{p}</b>")),
                "{p} not in the body"
            );
        }
        let heading = match lang {
            Language::En => "More problem sites",
            Language::PtBr => "Outros locais com problema",
        };
        assert!(
            !r.html.contains(heading),
            "some problem site lost its detail"
        );
        // Healthy sites: counted, and named as far as the budget goes.
        let healthy = match lang {
            Language::En => ">Recording normally (900)<",
            Language::PtBr => ">Gravando normalmente (900)<",
        };
        assert!(r.html.contains(healthy));
        assert!(r.html.contains("site-00001, site-00002"));
        assert!(r.html.contains(", site-00999<"), "every healthy name fits");
        println!("{lang:?}: {} bytes of HTML", r.html.len());
    }
}

#[test]
fn three_hundred_sites_all_in_trouble_fit_worst_first() {
    let fleet = big_fleet(300, 1);
    for lang in Language::ALL {
        let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(lang));
        check_summarised(&fleet, &r, lang);
        // Every problem site is at least named with its verdict in the body.
        for s in &fleet.sites {
            assert!(
                r.html.contains(&format!("<b>{}</b>", s.site)),
                "{} not in the body",
                s.site
            );
        }
        // The text part is never clipped: it has every detail.
        for s in &fleet.sites {
            assert!(r.text.contains(&format!("* {} — ", s.site)));
        }
        println!("{lang:?}: {} bytes of HTML", r.html.len());
    }
}

#[test]
fn ten_thousand_sites_in_trouble_still_fit_and_count_the_rest() {
    let fleet = big_fleet(10_000, 1);
    // Its complete report is over the default attachment cap (tests/attachment_cap.rs): this
    // test is about the body, so the relay here takes Graph's 150 MB.
    let opts = opts(Language::En).with_attachments(150_000_000, String::new());
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts);
    check_summarised(&fleet, &r, Language::En);
    assert!(r.html.contains("and "), "the list ends with how many more");
}

#[test]
fn a_small_fleet_is_whole_in_the_body_without_attachments() {
    let fleet = big_fleet(40, 4);
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    assert!(r.attachments.is_empty());
    assert!(!r.html.contains("the complete report"));
    assert!(
        r.html.contains("site-00001 · Intelbras · 45 days"),
        "healthy figures in the body"
    );
}

#[test]
fn the_attachments_go_out_as_multipart_mixed() {
    let fleet = big_fleet(1000, 10);
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    let rcpt = vigia_mailer::smtp::Recipients {
        to: vec!["ops@example.com".parse().expect("address")],
        cc: Vec::new(),
        bcc: Vec::new(),
    };
    let from = "vigia@example.com".parse().expect("address");
    let msg = vigia_mailer::smtp::build_message(&from, &rcpt, &r, false).expect("message");
    let raw = String::from_utf8_lossy(&msg.formatted()).into_owned();
    assert!(
        raw.contains("Content-Type: multipart/mixed"),
        "{:.600}",
        raw
    );
    assert!(raw.contains("Content-Type: multipart/alternative"));
    for name in [
        "auditoria-cftv-2026-11-28.html",
        "auditoria-cftv-2026-11-28.csv",
    ] {
        assert!(
            raw.contains(&format!(
                "Content-Disposition: attachment; filename=\"{name}\""
            )),
            "{name} not attached"
        );
    }
    assert!(raw.contains("Content-Type: text/csv; charset=utf-8"));
    // A digest that fits stays multipart/alternative, without attachments.
    let small = big_fleet(20, 4);
    let r = render_digest(&FleetView::Reachable(&small), now(), &opts(Language::PtBr));
    let msg = vigia_mailer::smtp::build_message(&from, &rcpt, &r, false).expect("message");
    let raw = String::from_utf8_lossy(&msg.formatted()).into_owned();
    assert!(!raw.contains("multipart/mixed") && raw.contains("multipart/alternative"));
}

#[test]
fn the_csv_quotes_what_excel_would_misread() {
    let mut fleet = big_fleet(1000, 10);
    fleet.sites[0].site = "=HYPERLINK(\"http://x\";\"ok\")".into();
    fleet.sites[1].site = "Loja; Filial \"2\"".into();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    let csv = std::str::from_utf8(attachment(&r, "csv")).expect("utf-8");
    let header = csv.lines().next().expect("header");
    assert!(
        header.starts_with("\u{feff}Local;Gravador;Câmera;Situação;"),
        "{header}"
    );
    // A formula is text, quoted and prefixed; separators and quotes are quoted and doubled.
    assert!(
        csv.contains("\r\n\"'=HYPERLINK(\"\"http://x\"\";\"\"ok\"\")\";"),
        "formula"
    );
    assert!(
        csv.contains("\r\n\"Loja; Filial \"\"2\"\"\";"),
        "separator and quotes"
    );
    let en = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    let csv = std::str::from_utf8(attachment(&en, "csv")).expect("utf-8");
    assert!(csv
        .lines()
        .next()
        .expect("header")
        .starts_with("\u{feff}Site,Recorder,Camera,Status,code,"));
    assert!(csv.contains(",LATE,"), "kind codes for filters");
}
