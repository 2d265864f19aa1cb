//! The urgent alert: the sites that entered or left a condition that needs action since the last
//! check, in the digest's frame, each new problem with its sentence.

use super::html::{self, badge};
use super::{RenderOptions, Rendered};
use crate::i18n::labels;
use maud::html;
use std::fmt::Write as _;
use vigia::pb::VerdictKind;
use vigia::wording::{kind_label, Language};

const SECTION: &str = "padding:16px 16px 6px;font-size:17px;font-weight:bold";
const BLOCK: &str = "padding:0 16px 10px";
const ITEM: &str = "padding:4px 0";

/// One change of a site's alert state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChange {
    /// The site.
    pub site: String,
    /// The condition that started or ended.
    pub kind: VerdictKind,
    /// True when it started, false when it cleared.
    pub entered: bool,
    /// The verdict's sentence (in the email's language) when it started.
    pub detail: String,
}

/// Renders an urgent alert listing new problems and recoveries.
pub fn render_alert(
    changes: &[AlertChange],
    now: chrono::DateTime<chrono::Utc>,
    opts: &RenderOptions,
) -> Rendered {
    let lang = opts.language;
    let l = labels(lang);
    let entered: Vec<&AlertChange> = changes.iter().filter(|c| c.entered).collect();
    let cleared: Vec<&AlertChange> = changes.iter().filter(|c| !c.entered).collect();
    let tail = match (entered.as_slice(), cleared.as_slice(), lang) {
        ([one], [], _) => format!("{}: {}", one.site, kind_label(lang, one.kind)),
        ([], [one], Language::En) => {
            format!("{} recovered ({})", one.site, kind_label(lang, one.kind))
        }
        ([], [one], Language::PtBr) => {
            format!("{} normalizado ({})", one.site, kind_label(lang, one.kind))
        }
        (e, c, Language::En) => format!(
            "{} new problem{}, {} recovered",
            e.len(),
            if e.len() == 1 { "" } else { "s" },
            c.len()
        ),
        (e, c, Language::PtBr) => format!(
            "{} novo(s) problema(s), {} normalizado(s)",
            e.len(),
            c.len()
        ),
    };
    let subject = format!("{} — {tail}", l.alert_title);
    let when = opts.datetime(now);
    let body = html! {
        @if !entered.is_empty() {
            tr { td style=(SECTION) { (l.new_problems) } }
            tr { td style=(BLOCK) {
                @for c in &entered {
                    div style=(ITEM) {
                        span style=(badge(c.kind)) { (kind_label(lang, c.kind)) } " " b { (c.site) } ": " (c.detail)
                    }
                }
            } }
        }
        @if !cleared.is_empty() {
            tr { td style=(SECTION) { (l.recovered) } }
            tr { td style=(BLOCK) {
                @for c in &cleared {
                    div style=(ITEM) {
                        span style=(badge(VerdictKind::Ok)) { "OK" } " " b { (c.site) } ": " (kind_label(lang, c.kind))
                    }
                }
            } }
        }
    }
    .into_string();
    let html = html::page(lang, &subject, None, Some(&when), &body, &[l.alert_footer]);
    let mut text = format!("{subject}\n{when}\n\n");
    if !entered.is_empty() {
        let _ = writeln!(text, "{}:", l.new_problems);
        for c in &entered {
            let _ = writeln!(
                text,
                "- {} [{}]: {}",
                c.site,
                kind_label(lang, c.kind),
                c.detail
            );
        }
        text.push('\n');
    }
    if !cleared.is_empty() {
        let _ = writeln!(text, "{}:", l.recovered);
        for c in &cleared {
            let _ = writeln!(text, "- {} [{}]", c.site, kind_label(lang, c.kind));
        }
        text.push('\n');
    }
    text.push_str(l.alert_footer);
    text.push('\n');
    Rendered {
        subject,
        html,
        text,
        attachments: Vec::new(),
        omitted: Vec::new(),
    }
}
