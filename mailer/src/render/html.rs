//! The HTML of the digest over its model, in pieces the body fitter can weigh: one block per
//! problem site (with or without strips), one line per site when only the name fits, one block
//! per acknowledged finding, the recovered and healthy lists, and the page around them.
//!
//! What every mail program renders: one fluid column (`width:100%; max-width:600px`) that
//! Outlook desktop, which ignores `max-width`, gets as a 600 px table through MSO conditional
//! comments; nested tables, inline styles, no scripts, images, web fonts or style blocks; text
//! at 14 px and more; each problem site stacked (name, verdict, what is wrong) so that it reads
//! at 375 px without scrolling sideways. Every value from the fleet goes through maud's
//! `(expr)`, which escapes it; only our own constants ever land in `style=`.

use super::changes::Change;
use super::model::{
    AckedFinding, DigestModel, Figures, Finding, HealthySite, ProblemSite, RecorderBlock,
};
use super::out::Out;
use super::strip::Strip;
use super::RenderOptions;
use crate::i18n::{self, labels, Labels};
use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::cell::RefCell;
use std::collections::HashMap;
use vigia::pb::VerdictKind;
use vigia::rules::severity;
use vigia::wording::{kind_label, Language};

// Styles: our constants only, never a value from the fleet.
const PAGE: &str = "margin:0;padding:0;background:#f2f2f2";
const MAIN: &str = "width:100%;max-width:600px;margin:0 auto;background:#ffffff;\
font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.45;color:#222222;\
table-layout:fixed;word-wrap:break-word;overflow-wrap:anywhere";
const TITLE: &str = "padding:16px 16px 4px;font-size:20px;line-height:1.25;font-weight:bold";
const BANNER: &str = "padding:12px 16px;background:#b71c1c;color:#ffffff;font-weight:bold";
const SUMMARY: &str = "padding:4px 16px 12px";
const NOTICE: &str = "padding:10px 16px;background:#fff8e1;border-left:4px solid #f9a825";
const SECTION: &str =
    "padding:16px 16px 6px;font-size:17px;font-weight:bold;border-bottom:2px solid #444444";
const SITE: &str = "padding:10px 16px;border-bottom:1px solid #ddd";
const BLOCK: &str = "padding:8px 16px";
const MUTED: &str = "color:#666";
const REC: &str = "padding-top:6px;color:#444";
const FIND: &str = "padding-left:12px";
const RED: &str = "color:#c62828;font-weight:bold";
const NEW: &str = "background:#1565c0;color:#fff;padding:0 5px;font-size:14px";
const SINCE: &str = "color:#666;font-size:14px";
const FOOTER: &str = "padding:14px 16px 18px;font-size:14px;color:#666";
const STRIP_LABEL: &str = "padding-top:6px;font-size:14px;color:#444";
const STRIP: &str = "border-collapse:collapse;margin-top:4px";
const AXIS: &str = "font-size:14px;color:#666";
const OFF: &str = "color:#fff;font-size:10px;line-height:14px;text-align:center";
const GREEN: &str = "#2e7d32";
const RED_BG: &str = "#c62828";
/// The white notch before each Monday's cell.
const TICK_PX: usize = 2;
const ACKED: &str = "background:#757575;color:#fff;padding:1px 6px";
/// Pixels per day of a strip: 30 days are 300 px, inside a 375 px phone's column.
const DAY_PX: usize = 10;

/// Outlook desktop (Word) ignores `max-width`: it gets a fixed 600 px table instead.
const MSO_OPEN: &str = "<!--[if mso]><table role=\"presentation\" width=\"600\" align=\"center\" \
cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td><![endif]-->";
const MSO_CLOSE: &str = "<!--[if mso]></td></tr></table><![endif]-->";

/// The badge of a verdict kind, coloured by severity.
pub fn badge(kind: VerdictKind) -> &'static str {
    match severity(kind) {
        // CAMERA_LATE and worse: not recording.
        8.. => "background:#c62828;color:#fff;padding:1px 6px;font-weight:bold",
        // SHORT_RETENTION, GAPS: recording, but not keeping what was promised.
        6..=7 => "background:#e65100;color:#fff;padding:1px 6px;font-weight:bold",
        // DISK_LOW, DATA_DROPPED, CLOCK_SKEW.
        2..=5 => "background:#f9a825;color:#222;padding:1px 6px;font-weight:bold",
        _ => "background:#2e7d32;color:#fff;padding:1px 6px;font-weight:bold",
    }
}

/// What every piece needs: the language, its words and the date formats.
pub struct Ctx<'o> {
    /// The options of this rendering.
    pub opts: &'o RenderOptions,
    /// The language.
    pub lang: Language,
    /// Its words.
    pub l: &'static Labels,
    oldest: String,
    newest: String,
    /// Days already formatted (every strip of a zone shares its first and last day).
    days: RefCell<HashMap<NaiveDate, String>>,
}

impl<'o> Ctx<'o> {
    /// The context of one rendering.
    pub fn new(opts: &'o RenderOptions) -> Ctx<'o> {
        let l = labels(opts.language);
        Ctx {
            opts,
            lang: opts.language,
            l,
            oldest: l.oldest.to_lowercase(),
            newest: l.newest.to_lowercase(),
            days: RefCell::new(HashMap::new()),
        }
    }

    /// A day in the email's format, formatted once per digest.
    fn day(&self, d: NaiveDate) -> String {
        self.days
            .borrow_mut()
            .entry(d)
            .or_insert_with(|| self.opts.day(d))
            .clone()
    }
}

/// The frame shared by digests and alerts; `body` is our own markup (table rows).
pub fn page(
    lang: Language,
    subject: &str,
    banner: Option<&str>,
    summary: Option<&str>,
    body: &str,
    footer: &[&str],
) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="x-apple-disable-message-reformatting";
                title { (subject) }
            }
            body style=(PAGE) {
                (PreEscaped(MSO_OPEN))
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style=(MAIN) {
                    @if let Some(b) = banner { tr { td style=(BANNER) { (b) } } }
                    tr { td style=(TITLE) { (subject) } }
                    @if let Some(s) = summary { tr { td style=(SUMMARY) { (s) } } }
                    (PreEscaped(body))
                    tr { td style=(FOOTER) {
                        @for (i, line) in footer.iter().enumerate() {
                            @if i > 0 { br; }
                            (line)
                        }
                    } }
                }
                (PreEscaped(MSO_CLOSE))
            }
        }
    }
    .into_string()
}

/// A section heading row.
pub fn heading(text: &str, n: usize) -> String {
    html! { tr { td style=(SECTION) { (text) " (" (n) ")" } } }.into_string()
}

/// The row saying the body is a summary, and what of the complete report is attached.
pub fn notice(text: &str) -> String {
    html! { tr { td style=(NOTICE) { (text) } } }.into_string()
}

/// The legend of the strips.
pub fn legend(ctx: &Ctx<'_>) -> String {
    html! { tr { td style=(BLOCK) { span style=(MUTED) { (ctx.l.legend) } } } }.into_string()
}

fn change_mark(ctx: &Ctx<'_>, c: Change) -> Markup {
    html! {
        @match c {
            Change::New => { " " span style=(NEW) { (ctx.l.new_mark) } }
            Change::OpenSince(t) => { " " span style=(SINCE) { "(" (ctx.l.open_since) " " (ctx.opts.date(t)) ")" } }
            Change::Unknown => {}
        }
    }
}

fn finding(ctx: &Ctx<'_>, f: &Finding<'_>) -> Markup {
    html! {
        div style=(FIND) {
            "• " b { (kind_label(ctx.lang, f.verdict.kind())) } ": " (f.sentence)
            (change_mark(ctx, f.change))
        }
    }
}

/// How much of a problem site a block shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything: every strip, oldest and newest recordings.
    Full,
    /// For a crowded body: only the strips that have a day without recordings, no oldest.
    Lean,
    /// Findings and figures only.
    Brief,
}

fn figures(ctx: &Ctx<'_>, name: &str, f: &Figures, detail: Detail) -> Markup {
    html! {
        div style=(REC) {
            b { (name) } " · " (f.tech) " · "
            @if f.days_red { span style=(RED) { (i18n::days_short(ctx.lang, f.days)) } }
            @else { (i18n::days_short(ctx.lang, f.days)) }
            @if detail == Detail::Full { @if let Some(o) = &f.oldest { " · " (ctx.oldest) " " (o) } }
            @if let Some(n) = &f.newest { " · " (ctx.newest) " " (n) }
        }
    }
}

/// A coverage strip with its date axis: a cell per run of days (green, or red with a ✕ per
/// day for readers who do not tell the colours apart), a white notch before each Monday, the
/// first and last day under it.
pub fn strip(ctx: &Ctx<'_>, s: &Strip) -> Markup {
    let width = s.cells.len() * DAY_PX;
    let runs = s.runs();
    html! {
        @if let Some(c) = &s.camera { div style=(STRIP_LABEL) { (i18n::camera_strip(ctx.lang, c)) } }
        table role="img" aria-label=(i18n::strip_summary(ctx.lang, s.recorded(), s.cells.len())) width=(width) cellpadding="0" cellspacing="0" style=(STRIP) {
            tr {
                @for (i, r) in runs.iter().enumerate() {
                    @let w = r.len * DAY_PX - if r.tick { TICK_PX } else { 0 };
                    @if r.tick { td width=(TICK_PX) {} }
                    @if r.recorded {
                        td width=(w) height=[(i == 0).then_some("14")] bgcolor=(GREEN) {}
                    } @else {
                        td width=(w) height=[(i == 0).then_some("14")] bgcolor=(RED_BG) style=(OFF) {
                            @for _ in 0..r.len { "✕" }
                        }
                    }
                }
            }
        }
        table role="presentation" width=(width) cellpadding="0" cellspacing="0" style=(AXIS) {
            tr {
                td { (ctx.day(s.first)) }
                td align="right" { (ctx.day(s.last())) }
            }
        }
    }
}

fn recorder(ctx: &Ctx<'_>, r: &RecorderBlock<'_>, detail: Detail) -> Markup {
    html! {
        @match &r.figures {
            Some(f) => { (figures(ctx, r.name, f, detail)) }
            None => { div style=(REC) { b { (r.name) } } }
        }
        @for f in &r.findings { (finding(ctx, f)) }
        @for s in &r.strips {
            @match detail {
                Detail::Full => { (strip(ctx, s)) }
                Detail::Lean => { @if s.recorded() < s.cells.len() { (strip(ctx, s)) } }
                Detail::Brief => {}
            }
        }
    }
}

/// One problem site: badge, name, note, each finding with its mark, each recorder's figures,
/// findings and coverage strips (as `detail` says), and what cleared since the last digest.
pub fn problem_block(ctx: &Ctx<'_>, p: &ProblemSite<'_>, detail: Detail) -> String {
    let site = p.site;
    html! {
        tr { td style=(SITE) {
            div {
                span style=(badge(p.worst)) { (kind_label(ctx.lang, p.worst)) } " "
                b { (site.site) }
            }
            @if !site.note.is_empty() { div style=(MUTED) { (site.note) } }
            @for f in &p.findings { (finding(ctx, f)) }
            @for r in &p.recorders { (recorder(ctx, r, detail)) }
            @if !p.recovered.is_empty() {
                div style=(MUTED) {
                    (ctx.l.cleared) ": "
                    @for (i, k) in p.recovered.iter().enumerate() {
                        @if i > 0 { ", " }
                        (kind_label(ctx.lang, k.kind()))
                    }
                }
            }
        } }
    }
    .into_string()
}

/// One problem site when only its name and verdict fit.
pub fn problem_line(ctx: &Ctx<'_>, p: &ProblemSite<'_>) -> String {
    html! {
        div { b { (p.site.site) } " — " (kind_label(ctx.lang, p.worst)) @if p.new { " " span style=(NEW) { (ctx.l.new_mark) } } }
    }
    .into_string()
}

/// The row holding problem lines (or any other lines).
pub fn lines_row(lines: &str) -> String {
    html! { tr { td style=(BLOCK) { (PreEscaped(lines)) } } }.into_string()
}

fn ack_words(ctx: &Ctx<'_>, a: &AckedFinding<'_>) -> String {
    let mut s = String::from(ctx.l.acknowledged_by);
    if !a.ack.who.is_empty() {
        s.push(' ');
        s.push_str(&a.ack.who);
    }
    if let Some(u) = &a.until {
        s.push(' ');
        s.push_str(ctx.l.until);
        s.push(' ');
        s.push_str(u);
    }
    s
}

/// One acknowledged finding: its verdict, sentence, who acknowledged, until when, and why.
pub fn ack_block(ctx: &Ctx<'_>, a: &AckedFinding<'_>) -> String {
    let v = a.finding.verdict;
    html! {
        tr { td style=(SITE) {
            div {
                span style=(ACKED) { (kind_label(ctx.lang, v.kind())) } " "
                b { (a.site.site) }
                @if !v.recorder.is_empty() { " · " (v.recorder) }
            }
            div style=(FIND) { (a.finding.sentence) }
            div style=(MUTED) {
                (ack_words(ctx, a))
                @if !a.ack.note.is_empty() { ": “" (a.ack.note) "”" }
            }
        } }
    }
    .into_string()
}

/// One acknowledged finding when only a line fits.
pub fn ack_line(ctx: &Ctx<'_>, a: &AckedFinding<'_>) -> String {
    html! {
        div { b { (a.site.site) } " — " (kind_label(ctx.lang, a.finding.verdict.kind())) " (" (ack_words(ctx, a)) ")" }
    }
    .into_string()
}

/// One recovered site: its name and what cleared.
pub fn recovered_line(ctx: &Ctx<'_>, site: &str, kinds: &[VerdictKind]) -> String {
    html! {
        div {
            b { (site) } ": "
            @for (i, k) in kinds.iter().enumerate() { @if i > 0 { ", " } (kind_label(ctx.lang, *k)) }
        }
    }
    .into_string()
}

/// Stands for the body in a frame rendered once and cut in two around it.
const HOLE: &str = "\u{1}vigia-body\u{1}";

/// The text before and after the body of a frame whose body is [`HOLE`]; the last one is the
/// body's (the frame's own text comes before it, or is ours).
fn cut(frame: String) -> (String, String) {
    match frame.rsplit_once(HOLE) {
        Some((head, tail)) => (head.to_string(), tail.to_string()),
        None => (frame, String::new()),
    }
}

/// One healthy site's lines with its figures, one per recorder (the complete report).
fn healthy_site(ctx: &Ctx<'_>, h: &HealthySite<'_>, out: &mut dyn Out) {
    let multi = h.lines.len() > 1;
    if h.lines.is_empty() {
        out.push(&html! { div { (h.site.site) } }.into_string());
    }
    for (rec, f) in &h.lines {
        out.push(
            &html! {
                div {
                    (h.site.site) @if multi { " [" (rec) "]" }
                    " · " (f.tech) " · " (i18n::days_short(ctx.lang, f.days))
                    @if let (Some(o), Some(n)) = (&f.oldest, &f.newest) { " · " (o) " – " (n) }
                }
            }
            .into_string(),
        );
    }
}

/// The complete digest, written piece by piece into `out` (which may stop it early): every
/// problem site with strips, every acknowledged finding, the recovered sites and every healthy
/// site with its figures.
pub fn write_full_report(
    ctx: &Ctx<'_>,
    m: &DigestModel<'_>,
    subject: &str,
    summary: &str,
    out: &mut dyn Out,
) {
    let (head, tail) = cut(page_of(ctx, m, subject, summary, HOLE));
    out.push(&head);
    if !m.problems.is_empty() {
        out.push(&heading(ctx.l.problems, m.problems.len()));
        for p in &m.problems {
            if out.done() {
                return;
            }
            out.push(&problem_block(ctx, p, Detail::Full));
        }
        out.push(&legend(ctx));
    }
    if !m.acknowledged.is_empty() {
        out.push(&heading(ctx.l.acknowledged, m.acknowledged.len()));
        for a in &m.acknowledged {
            if out.done() {
                return;
            }
            out.push(&ack_block(ctx, a));
        }
    }
    if !m.recovered.is_empty() {
        out.push(&heading(ctx.l.recovered_since, m.recovered.len()));
        let lines: String = m
            .recovered
            .iter()
            .map(|r| recovered_line(ctx, &r.site, &r.kinds))
            .collect();
        out.push(&lines_row(&lines));
    }
    if !m.healthy.is_empty() {
        out.push(&heading(ctx.l.healthy, m.healthy.len()));
        let (open, close) = cut(lines_row(HOLE));
        out.push(&open);
        for h in &m.healthy {
            if out.done() {
                return;
            }
            healthy_site(ctx, h, out);
        }
        out.push(&close);
    }
    out.push(&tail);
}

/// The digest page around a body.
pub fn page_of(
    ctx: &Ctx<'_>,
    m: &DigestModel<'_>,
    subject: &str,
    summary: &str,
    body: &str,
) -> String {
    let evaluated = format!("{} {}.", ctx.l.evaluated_at, ctx.opts.datetime(m.evaluated));
    page(
        ctx.lang,
        subject,
        None,
        Some(summary),
        body,
        &[&evaluated, ctx.l.sent_by],
    )
}
