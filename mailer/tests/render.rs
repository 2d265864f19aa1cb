//! The digest and alert emails for a fixed fleet: snapshots in both languages, order of rows,
//! escaping, email-safety, the unreachable-collector digest; every sentence in the email's own
//! language, per-camera strips, acknowledged findings apart, what changed since the last digest.

mod support;

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use support::assert_snapshot;
use support::fleet::{every_kind_fleet, fixed_fleet, now, site, status};
use vigia::pb::{ListSitesResponse, Technology, VerdictKind};
use vigia::wording::kind_label;
use vigia_mailer::render::changes::remember;
use vigia_mailer::render::{
    render_alert, render_digest, render_digest_since, verdict_sentence, AlertChange, DigestMemory,
    FleetView, ProblemKey, RenderOptions,
};
use vigia_mailer::Language;

fn opts(lang: Language) -> RenderOptions {
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y")
        .with_collector("https://collector.example:7443".into())
}

fn unreachable_since() -> DateTime<Utc> {
    now() - Duration::minutes(50)
}

#[test]
fn digest_snapshots_en() {
    let fleet = every_kind_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    assert_eq!(r.subject, "CCTV audit 28/11/2026 — 14 problems, 16 sites");
    assert!(r.attachments.is_empty(), "16 sites fit in the body");
    assert_snapshot("digest.en.html", &r.html);
    assert_snapshot("digest.en.txt", &r.text);
}

#[test]
fn digest_snapshots_pt_br() {
    let fleet = every_kind_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    assert_eq!(
        r.subject,
        "Auditoria CFTV 28/11/2026 — 14 problemas, 16 locais"
    );
    // Dates as the old tool showed them: dd/mm/yyyy HHhMM, in the configured zone, also inside
    // the sentences.
    assert!(r.text.contains("28/11/2026 06h55"), "{}", r.text);
    assert!(
        r.text.contains("gravação mais recente em 28/11/2026 00h00"),
        "{}",
        r.text
    );
    assert!(r.text.contains("esperado, mas nunca enviou relatório"));
    assert!(!r.text.contains("newest recording"), "{}", r.text);
    assert!(!r.html.contains("no report for"));
    assert_snapshot("digest.pt-BR.html", &r.html);
    assert_snapshot("digest.pt-BR.txt", &r.text);
}

#[test]
fn unreachable_digest_says_so_first_and_since_when() {
    for (lang, first, since) in [
        (
            Language::En,
            "The collector https://collector.example:7443 is unreachable since",
            "28/11/2026 06:10",
        ),
        (
            Language::PtBr,
            "O coletor https://collector.example:7443 está inacessível desde",
            "28/11/2026 06h10",
        ),
    ] {
        let view = FleetView::Unreachable {
            since: unreachable_since(),
            last_ok: Some(now() - Duration::days(1)),
            error: "collector https://collector.example:7443 unreachable: connection refused",
        };
        let r = render_digest(&view, now(), &opts(lang));
        let line = r.text.lines().next().expect("first line");
        assert!(line.starts_with(first), "{line}");
        assert!(line.contains(since), "{line}");
        assert!(
            r.subject.ends_with("UNREACHABLE") || r.subject.ends_with("INACESSÍVEL"),
            "{}",
            r.subject
        );
        // First thing in the HTML body too.
        let body = &r.html[r.html.find("<body").expect("body")..];
        let banner = body.find(first).expect("banner in the HTML");
        assert!(
            banner < body.find(&r.subject).expect("title"),
            "the banner comes first"
        );
        let name = format!("unreachable.{}", lang.tag());
        assert_snapshot(&format!("{name}.html"), &r.html);
        assert_snapshot(&format!("{name}.txt"), &r.text);
    }
}

#[test]
fn problems_come_first_by_severity_then_name_and_healthy_rows_last() {
    let fleet = fixed_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    // Dates inside sentences follow the email's format, not grpcurl's ISO one.
    assert!(
        r.text
            .contains("Late: newest recording 28/11/2026 00:00 (6h 58m before the scan)"),
        "{}",
        r.text
    );
    let order = [
        "* loja-never",
        "* loja-silent",
        "* loja-scan",
        "* loja-late",
        "* loja-multi",
        "* loja-camera",
        "* loja-short",
        "* loja-gaps",
        "* loja-disk",
        "* loja-skew",
        "loja-ok · Intelbras",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|s| {
            r.text
                .find(s)
                .unwrap_or_else(|| panic!("{s} missing in\n{}", r.text))
        })
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "order {pos:?}\n{}",
        r.text
    );
    // The same order in the HTML.
    let hpos: Vec<usize> = order
        .iter()
        .map(|s| {
            let name = s.trim_start_matches("* ").split(' ').next().expect("name");
            r.html
                .find(&format!("<b>{name}</b>"))
                .or_else(|| r.html.find(&format!(">{name} · ")))
                .unwrap_or_else(|| panic!("{name} missing"))
        })
        .collect();
    assert!(hpos.windows(2).all(|w| w[0] < w[1]), "html order {hpos:?}");
    // Days under the minimum are red; the strip shows the missing days.
    assert!(
        r.html.contains("color:#c62828;font-weight:bold\">12 days<"),
        "short retention in red"
    );
    // 30/10/2026 is a Friday: a space before each Monday.
    assert!(
        r.text
            .contains("last 30 days (30/10/2026 – 28/11/2026): ... ....... ....... .###### ######"),
        "{}",
        r.text
    );
    // SILENT and NEVER_REPORTED are rows, with their details.
    assert!(r
        .text
        .contains("Never reported: expected, but has never reported"));
    assert!(r.text.contains("Silent: no report for 6h"));
    assert!(r
        .text
        .contains("Camera stopped: camera doca: stopped, newest recording 26/11/2026 06:55"));
    assert!(r.text.contains("500.0 MiB free of 2.0 TiB"));
}

#[test]
fn html_is_email_safe() {
    // The whole digest, a summarised one and the complete report attached to it.
    let small = every_kind_fleet();
    let outage = support::fleet::big_fleet(300, 1);
    for lang in [Language::En, Language::PtBr] {
        let whole = render_digest(&FleetView::Reachable(&small), now(), &opts(lang));
        let summary = render_digest(&FleetView::Reachable(&outage), now(), &opts(lang));
        let attached = &summary.attachments[0];
        assert_eq!(attached.content_type, "text/html; charset=utf-8");
        let report = String::from_utf8(attached.bytes.clone()).expect("utf-8");
        for html in [whole.html, summary.html, report] {
            check_email_safe(&html);
        }
    }
}

#[track_caller]
fn check_email_safe(html: &str) {
    let lower = html.to_lowercase();
    for banned in [
        "<script",
        "<img",
        "<link",
        "<style",
        "src=",
        "url(",
        "@import",
        "display:flex",
        "http://",
    ] {
        assert!(!lower.contains(banned), "{banned} in the HTML");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Fluid on phones, 600 px for Outlook desktop through its conditional comments only.
    assert!(html.contains("width:100%;max-width:600px"));
    assert!(!html.replace("max-width:600px", "").contains("width:600px"));
    let mso = html.find("<!--[if mso]><table").expect("MSO table");
    assert!(html[mso..].starts_with("<!--[if mso]><table role=\"presentation\" width=\"600\""));
    assert!(html.contains("<!--[if mso]></td></tr></table><![endif]-->"));
    assert_eq!(
        html.matches("width=\"600\"").count(),
        1,
        "600 px only for Outlook"
    );
    // Text at 14 px or more; 10 px only for the ✕ symbols inside strip cells.
    for part in html.split("font-size:").skip(1) {
        let px: u32 = part[..part.find("px").expect("px")].parse().expect("size");
        assert!(
            px >= 14 || (px == 10 && part.contains("✕")),
            "font-size {px}px: {}",
            &part[..part.len().min(120)]
        );
    }
}

#[test]
fn all_well_is_still_a_digest() {
    let fleet = ListSitesResponse {
        next_page_token: String::new(),
        sites: vec![site(
            "loja-ok",
            vec![status("loja-ok", "nvr", Technology::Intelbras, 45)],
            Some(now()),
            "",
        )],
        evaluated_at: fixed_fleet().evaluated_at,
    };
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    assert_eq!(r.subject, "CCTV audit 28/11/2026 — 0 problems, 1 site");
    assert!(
        r.text.contains("All 1 site is recording normally."),
        "{}",
        r.text
    );
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    assert_eq!(
        r.subject,
        "Auditoria CFTV 28/11/2026 — 0 problemas, 1 local"
    );
}

#[test]
fn hostile_names_render_as_text() {
    let evil = "<script>alert('x')</script> \"Loja\" & Filhos — São João";
    let note = "Cliente <b>VIP</b> & 'sócios'";
    let mut late = status(evil, "<rec>", Technology::Intelbras, 40);
    late.newest_recording = Some(vigia::days::to_timestamp(now() - Duration::hours(7)));
    late.root_path = "C:\\<img src=x onerror=alert(1)>".into();
    let mut sites = vec![site(evil, vec![late], Some(now()), note)];
    let mut gaps = status("acked <site>", "nvr", Technology::Intelbras, 40);
    gaps.recorded_days.retain(|d| d != "2026-11-19");
    gaps.days_recorded -= 1;
    let mut acked = site("acked <site>", vec![gaps], Some(now()), "");
    support::fleet::acknowledge(
        &mut acked,
        VerdictKind::Gaps,
        "<b>eve</b>",
        "<script>x</script> & \"why\"",
        now() + Duration::days(1),
    );
    sites.push(acked);
    let mut healthy = site(
        "ok & <i>fine</i>",
        vec![status("x", "nvr", Technology::Generic, 40)],
        Some(now()),
        "",
    );
    healthy.note = "\"quoted\"".into();
    sites.push(healthy);
    let fleet = ListSitesResponse {
        next_page_token: String::new(),
        sites,
        evaluated_at: fixed_fleet().evaluated_at,
    };
    for lang in [Language::En, Language::PtBr] {
        let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(lang));
        assert!(!r.html.contains("<script>"), "unescaped script");
        assert!(!r.html.contains("<b>VIP"), "unescaped note");
        assert!(!r.html.contains("<i>fine"), "unescaped healthy name");
        assert!(!r.html.contains("<img"), "unescaped path");
        assert!(!r.html.contains("<rec>"), "unescaped recorder");
        assert!(
            !r.html.contains("<b>eve") && !r.html.contains("<script>x"),
            "unescaped ack"
        );
        assert!(r.html.contains("&lt;b&gt;eve&lt;/b&gt;"));
        assert!(r
            .html
            .contains("“&lt;script&gt;x&lt;/script&gt; &amp; &quot;why&quot;”"));
        assert!(
            r.html.contains(
                "&lt;script&gt;alert('x')&lt;/script&gt; &quot;Loja&quot; &amp; Filhos — São João"
            ),
            "escaped name"
        );
        assert!(r
            .html
            .contains("Cliente &lt;b&gt;VIP&lt;/b&gt; &amp; 'sócios'"));
        assert!(r.html.contains("ok &amp; &lt;i&gt;fine&lt;/i&gt;"));
        // Accents survive as UTF-8 in both parts; the text part is not HTML and keeps the characters.
        assert!(r.text.contains(evil), "{}", r.text);
        // No fleet value inside a style attribute.
        assert!(!r.html.contains("style=\"\""));
        for attr in r.html.split("style=\"").skip(1) {
            let value = &attr[..attr.find('"').expect("closing quote")];
            assert!(
                !value.contains('<') && !value.contains("Loja") && !value.contains('&'),
                "{value}"
            );
        }
    }
    // The alert email escapes too.
    let changes = vec![AlertChange {
        site: evil.into(),
        kind: VerdictKind::Late,
        entered: true,
        detail: "newest <recording>".into(),
    }];
    let r = render_alert(&changes, now(), &opts(Language::En));
    assert!(!r.html.contains("<script>") && !r.html.contains("<recording>"));
    assert!(r.html.contains("newest &lt;recording&gt;"));
}

#[test]
fn alert_snapshots() {
    let changes = vec![
        AlertChange {
            site: "loja-late".into(),
            kind: VerdictKind::Late,
            entered: true,
            detail: "[nvr] newest recording 28/11/2026 00:00 (6h 58m before the scan)".into(),
        },
        AlertChange {
            site: "loja-silent".into(),
            kind: VerdictKind::Silent,
            entered: false,
            detail: String::new(),
        },
    ];
    let r = render_alert(&changes, now(), &opts(Language::En));
    assert_eq!(r.subject, "CCTV ALERT — 1 new problem, 1 recovered");
    assert_snapshot("alert.en.txt", &r.text);
    assert_snapshot("alert.en.html", &r.html);
    let r = render_alert(&changes[..1], now(), &opts(Language::PtBr));
    assert_eq!(r.subject, "ALERTA CFTV — loja-late: Atrasado");
    let r = render_alert(&changes[1..], now(), &opts(Language::PtBr));
    assert_eq!(
        r.subject,
        "ALERTA CFTV — loja-silent normalizado (Sem contato)"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]
    /// Whatever a site, recorder or note is called, the HTML shows it as text and the text part
    /// carries it unchanged.
    #[test]
    fn any_name_is_escaped(name in "[ -~À-ÿ<>&\"']{1,40}", note in "[ -~<>&\"']{0,20}") {
        let mut late = status(&name, &name, Technology::Intelbras, 40);
        late.newest_recording = Some(vigia::days::to_timestamp(now() - Duration::hours(7)));
        let fleet = ListSitesResponse {
            next_page_token: String::new(),
            sites: vec![
                site(&name, vec![late], Some(now()), &note),
                site(&format!("ok{name}"), vec![status("x", "nvr", Technology::Generic, 40)], Some(now()), ""),
            ],
            evaluated_at: fixed_fleet().evaluated_at,
        };
        for lang in [Language::En, Language::PtBr] {
            let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(lang));
            let escaped = name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
            let cell = format!("<b>{}</b>", escaped);
            proptest::prop_assert!(r.html.contains(&cell), "{}", escaped);
            let row = format!("* {} — ", name);
            proptest::prop_assert!(r.text.contains(&row));
            // Tags come only from us: every '<' opens a known element (past Outlook's comments).
            let html = r.html.replace("<!--[if mso]>", "").replace("<![endif]-->", "");
            for tag in html.split('<').skip(1) {
                let t = tag.trim_start_matches('/');
                let tname: String = t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '!').collect();
                proptest::prop_assert!(
                    ["!DOCTYPE", "html", "head", "meta", "title", "body", "table", "tr", "td", "th", "b", "br", "span", "div"].contains(&tname.as_str()),
                    "unexpected tag {:?}", tname
                );
            }
        }
    }
}

/// What maud makes of a text: the form in which a sentence appears in the HTML.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn each_language_carries_only_its_own_sentences_for_every_kind() {
    let fleet = every_kind_fleet();
    let kinds: BTreeSet<VerdictKind> = fleet
        .sites
        .iter()
        .flat_map(|s| s.verdicts.iter().map(|v| v.kind()))
        .collect();
    for k in (1..=13).filter_map(|i| VerdictKind::try_from(i).ok()) {
        assert!(kinds.contains(&k), "the fleet has no {k:?}");
    }
    let (o_en, o_pt) = (opts(Language::En), opts(Language::PtBr));
    let en = render_digest(&FleetView::Reachable(&fleet), now(), &o_en);
    let pt = render_digest(&FleetView::Reachable(&fleet), now(), &o_pt);
    let mut checked = 0;
    for site in &fleet.sites {
        for v in site.verdicts.iter().filter(|v| v.kind() != VerdictKind::Ok) {
            let (s_en, s_pt) = (verdict_sentence(v, &o_en), verdict_sentence(v, &o_pt));
            assert_ne!(s_en, s_pt, "{:?} worded alike in both languages", v.kind());
            for (mail, own, other, lang) in
                [(&en, &s_en, &s_pt, "en"), (&pt, &s_pt, &s_en, "pt-BR")]
            {
                assert!(
                    mail.text.contains(own.as_str()),
                    "{lang} text lacks {own:?}"
                );
                assert!(
                    mail.html.contains(&escaped(own)),
                    "{lang} HTML lacks {own:?}"
                );
                assert!(
                    !mail.text.contains(other.as_str()),
                    "{lang} text has {other:?}"
                );
                assert!(
                    !mail.html.contains(&escaped(other)),
                    "{lang} HTML has {other:?}"
                );
            }
            let (k_en, k_pt) = (
                kind_label(Language::En, v.kind()),
                kind_label(Language::PtBr, v.kind()),
            );
            assert!(
                en.text.contains(&format!("{k_en}: ")) && pt.text.contains(&format!("{k_pt}: "))
            );
            checked += 1;
        }
    }
    assert!(checked >= 16, "{checked} findings checked");
    // The email's own words: none of one language in the other (site data aside).
    let english = [
        "newest recording",
        "no report",
        "day(s)",
        "recorded",
        ": camera ",
        "Problems",
        "Recording normally",
        "Acknowledged",
        "acknowledged by",
        "last 30 days",
        "oldest",
        "newest",
        " until ",
        "free of",
        "Sent by",
        "Strips",
        "days",
        "need attention",
    ];
    let portuguese = [
        "gravação",
        "dia(s)",
        ": câmera ",
        "Problemas",
        "Gravando normalmente",
        "Reconhecidos",
        "reconhecido por",
        "últimos 30 dias",
        "mais antiga",
        "mais recente",
        " até ",
        "livres de",
        "Enviado",
        "Faixas",
        "dias",
        "precisam de atenção",
        "relatório",
        "leitura",
    ];
    for w in english {
        assert!(
            en.text.contains(w) || en.html.contains(w),
            "English word {w:?} not even in the English digest"
        );
        assert!(
            !pt.text.contains(w) && !pt.html.contains(w),
            "English {w:?} in the pt-BR digest"
        );
    }
    for w in portuguese {
        assert!(
            pt.text.contains(w) || pt.html.contains(w),
            "Portuguese word {w:?} not even in the pt-BR digest"
        );
        assert!(
            !en.text.contains(w) && !en.html.contains(w),
            "Portuguese {w:?} in the English digest"
        );
    }
}

#[test]
fn acknowledged_findings_have_their_section_and_are_not_problems() {
    let fleet = every_kind_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    let problems = &r.text[r.text.find("== Problems").expect("problems")..];
    let acked = problems
        .find("== Acknowledged (2) ==")
        .expect("acknowledged section");
    let (open, rest) = problems.split_at(acked);
    // loja-acked has nothing open: not a problem site, not counted as one.
    assert!(!open.contains("loja-acked"), "{open}");
    assert!(
        r.subject.ends_with("14 problems, 16 sites"),
        "{}",
        r.subject
    );
    assert!(
        r.text.contains("1 site with acknowledged findings only."),
        "{}",
        r.text
    );
    assert!(rest.contains(
        "* loja-acked — Gaps [nvr]: 1 day(s) without recording: 19/11/2026\n  acknowledged by ana until 03/12/2026 07:00: “disk replaced on 19/11, the day is lost”"
    ), "{rest}");
    // loja-dock stays a problem for its stopped camera; its acknowledged disk is listed apart.
    let dock = &open[open.find("* loja-dock").expect("dock")..];
    let dock = &dock[..dock.find("\n\n").expect("end of dock")];
    assert!(dock.contains("Camera stopped: camera rampa"), "{dock}");
    assert!(!dock.contains("Disk low"), "{dock}");
    assert!(
        rest.contains("* loja-dock — Disk low [digifort]: 300.0 MiB free"),
        "{rest}"
    );
    assert!(rest.contains("acknowledged by bruno until 30/11/2026 07:00: “new disk ordered”"));
    assert!(!rest[..rest.find("== Recording").expect("healthy")].contains("loja-ok"));
    // The HTML: the section, the note, the grey badge; in pt-BR too.
    assert!(r.html.contains(">Acknowledged (2)<"));
    assert!(r.html.contains("“disk replaced on 19/11, the day is lost”"));
    let pt = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    assert!(pt.text.contains("== Reconhecidos (2) =="), "{}", pt.text);
    assert!(pt
        .text
        .contains("reconhecido por ana até 03/12/2026 07h00: “disk replaced"));
    assert!(pt
        .text
        .contains("1 local só com constatações reconhecidas."));
    // A fleet whose only finding is acknowledged has no problem.
    let only = ListSitesResponse {
        next_page_token: String::new(),
        sites: fleet
            .sites
            .iter()
            .filter(|s| s.site == "loja-acked")
            .cloned()
            .collect(),
        evaluated_at: fleet.evaluated_at,
    };
    let r = render_digest(&FleetView::Reachable(&only), now(), &opts(Language::En));
    assert_eq!(r.subject, "CCTV audit 28/11/2026 — 0 problems, 1 site");
    assert!(r
        .text
        .contains("No open problem at 1 site. 1 site with acknowledged findings only."));
    assert!(!r.text.contains("== Problems"));
}

#[test]
fn a_dead_camera_gets_its_own_strip_in_both_languages() {
    let fleet = every_kind_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    // doca stopped on 26/11: its strip ends with two days without recordings, while the
    // recorder's strip (every day green thanks to the other camera) is not shown.
    assert!(
        r.text.contains("Camera stopped: camera doca: stopped, newest recording 26/11/2026 06:55 (2d before the scan)\n    camera doca, last 30 days (30/10/2026 – 28/11/2026): ### ####### ####### ####### ####..\n\n"),
        "{}",
        r.text
    );
    let block = site_block(&r.html, "loja-camera");
    assert_eq!(
        block.matches("role=\"img\"").count(),
        1,
        "one strip: the camera's"
    );
    assert!(block.contains("camera doca, last 30 days"));
    assert!(block.contains("aria-label=\"28 of 30 days recorded\""));
    assert!(
        block.contains(">✕✕</td>"),
        "the two missing days are marked, not only red"
    );
    // A camera gone from the recordings: no day at all.
    assert!(r.text.contains(
        "camera portao, last 30 days (30/10/2026 – 28/11/2026): ... ....... ....... ....... ......"
    ));
    assert!(site_block(&r.html, "loja-missing").contains("aria-label=\"0 of 30 days recorded\""));
    // Both recorders of loja-dropped are named; only the silent one has a finding.
    let dropped = site_block(&r.html, "loja-dropped");
    assert!(dropped.contains("<b>nvr-1</b>") && dropped.contains("<b>nvr-2</b>"));
    let pt = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    assert!(site_block(&pt.html, "loja-camera").contains("câmera doca, últimos 30 dias"));
    assert!(pt.text.contains("câmera doca, últimos 30 dias (30/10/2026 – 28/11/2026): ### ####### ####### ####### ####.."));
}

/// The HTML of one problem site's block.
#[track_caller]
fn site_block<'h>(html: &'h str, site: &str) -> &'h str {
    let start = html
        .find(&format!("<b>{site}</b>"))
        .unwrap_or_else(|| panic!("{site} not in the HTML"));
    // The next block or section starts with a padded cell (strips and axes are not padded).
    let end = html[start..]
        .find("<tr><td style=\"padding:")
        .expect("end of block");
    &html[start..start + end]
}

#[test]
fn each_problem_is_marked_new_still_open_or_recovered() {
    let fleet = fixed_fleet();
    let day = Duration::days(1);
    let key = |site: &str, kind: VerdictKind, recorder: &str| ProblemKey {
        site: site.into(),
        kind: kind as i32,
        recorder: recorder.into(),
        camera: String::new(),
    };
    let mut previous = DigestMemory {
        at: Some(now() - day),
        ..DigestMemory::default()
    };
    previous
        .first_seen
        .insert(key("loja-late", VerdictKind::Late, "nvr"), now() - day * 3);
    previous
        .first_seen
        .insert(key("loja-gaps", VerdictKind::Gaps, "nvr"), now() - day);
    previous
        .first_seen
        .insert(key("loja-disk", VerdictKind::ScanError, "nvr"), now() - day);
    previous
        .first_seen
        .insert(key("loja-ok", VerdictKind::Late, "nvr"), now() - day * 2);
    let r = render_digest_since(
        &FleetView::Reachable(&fleet),
        now(),
        Some(&previous),
        &opts(Language::En),
    );
    assert_eq!(
        r.subject,
        "CCTV audit 28/11/2026 — 10 problems (8 new, 1 recovered), 11 sites"
    );
    assert!(r.text.contains("- Late: newest recording 28/11/2026 00:00 (6h 58m before the scan) (still open since 25/11/2026)"), "{}", r.text);
    assert!(
        r.text.contains("* loja-late — Late (Cliente Exemplo)\n"),
        "not new: {}",
        r.text
    );
    assert!(r
        .text
        .contains("* loja-never — Never reported (Filial nova) [new]\n"));
    assert!(r
        .text
        .contains("- Never reported: expected, but has never reported [new]"));
    assert!(
        r.text
            .contains("  recovered since the last digest: Scan error\n"),
        "{}",
        r.text
    );
    assert!(r
        .text
        .contains("== Recovered since the last digest (1) ==\n\nloja-ok: Late\n"));
    assert!(r.html.contains("(still open since 27/11/2026)"));
    assert!(r.html.contains(">Recovered since the last digest (1)<"));
    let pt = render_digest_since(
        &FleetView::Reachable(&fleet),
        now(),
        Some(&previous),
        &opts(Language::PtBr),
    );
    assert_eq!(
        pt.subject,
        "Auditoria CFTV 28/11/2026 — 10 problemas (8 novos, 1 normalizado), 11 locais"
    );
    assert!(pt.text.contains("(ainda aberto desde 25/11/2026)"));
    assert!(pt
        .text
        .contains("* loja-never — Nunca reportou (Filial nova) [novo]"));
    assert!(pt
        .text
        .contains("== Normalizados desde o último resumo (1) ==\n\nloja-ok: Atrasado"));

    // The memory kept after sending: first-seen times carried over, new ones at this digest,
    // cleared ones gone; the next day nothing is new.
    let next = remember(&fleet, Some(&previous), now());
    assert_eq!(next.at, Some(now()));
    assert_eq!(
        next.first_seen
            .get(&key("loja-late", VerdictKind::Late, "nvr")),
        Some(&(now() - day * 3))
    );
    assert_eq!(
        next.first_seen
            .get(&key("loja-disk", VerdictKind::DiskLow, "nvr")),
        Some(&now())
    );
    assert!(!next
        .first_seen
        .contains_key(&key("loja-ok", VerdictKind::Late, "nvr")));
    let again = render_digest_since(
        &FleetView::Reachable(&fleet),
        now() + day,
        Some(&next),
        &opts(Language::En),
    );
    assert!(
        again.subject.ends_with("10 problems (none new), 11 sites"),
        "{}",
        again.subject
    );
    // Without a previous digest there is nothing to compare: no marks at all.
    let first = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    assert!(!first.text.contains("[new]") && !first.text.contains("still open"));
}
