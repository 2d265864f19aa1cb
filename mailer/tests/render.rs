//! The digest and alert emails for a fixed fleet: snapshots in both languages, order of rows,
//! escaping, email-safety, the unreachable-collector digest.

mod support;

use chrono::{DateTime, Duration, Utc};
use support::assert_snapshot;
use support::fleet::{fixed_fleet, now, site, status};
use vigia::pb::{ListSitesResponse, Technology, VerdictKind};
use vigia_mailer::render::{render_alert, render_digest, AlertChange, FleetView, RenderOptions};
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
    let fleet = fixed_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::En));
    assert_eq!(r.subject, "CCTV audit 28/11/2026 — 10 problems, 11 sites");
    assert_snapshot("digest.en.html", &r.html);
    assert_snapshot("digest.en.txt", &r.text);
}

#[test]
fn digest_snapshots_pt_br() {
    let fleet = fixed_fleet();
    let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(Language::PtBr));
    assert_eq!(
        r.subject,
        "Auditoria CFTV 28/11/2026 — 10 problemas, 11 locais"
    );
    // Dates as the old tool showed them: dd/mm/yyyy HHhMM, in the configured zone.
    assert!(r.text.contains("28/11/2026 06h55"), "{}", r.text);
    // Portuguese sentences, not the root crate's English.
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
                .find(&format!(">{name}<"))
                .unwrap_or_else(|| panic!("{name} missing"))
        })
        .collect();
    assert!(hpos.windows(2).all(|w| w[0] < w[1]), "html order {hpos:?}");
    // Days under the minimum are red; the strip shows the missing days.
    assert!(
        r.html.contains("color:#c62828;font-weight:bold\">12<"),
        "short retention in red"
    );
    assert!(
        r.text
            .contains("last 30 days: ..................############"),
        "{}",
        r.text
    );
    // SILENT and NEVER_REPORTED are rows, with their details.
    assert!(r
        .text
        .contains("Never reported: expected, but has never reported"));
    assert!(r.text.contains("Silent: no report for 6h"));
    assert!(r.text.contains("1 of 2 camera(s) stopped: doca since"));
    assert!(r.text.contains("500.0 MiB free of 2.0 TiB"));
}

#[test]
fn html_is_email_safe() {
    let fleet = fixed_fleet();
    for lang in [Language::En, Language::PtBr] {
        let r = render_digest(&FleetView::Reachable(&fleet), now(), &opts(lang));
        let lower = r.html.to_lowercase();
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
        assert!(r.html.contains("width=\"600\""));
        assert!(r.html.starts_with("<!DOCTYPE html>"));
    }
}

#[test]
fn all_well_is_still_a_digest() {
    let fleet = ListSitesResponse {
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
    let mut healthy = site(
        "ok & <i>fine</i>",
        vec![status("x", "nvr", Technology::Generic, 40)],
        Some(now()),
        "",
    );
    healthy.note = "\"quoted\"".into();
    sites.push(healthy);
    let fleet = ListSitesResponse {
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
            detail: "newest recording 2026-11-28 00:00 (6h 58m before the last scan)".into(),
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
            // Tags come only from us: every '<' opens a known element.
            for tag in r.html.split('<').skip(1) {
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
