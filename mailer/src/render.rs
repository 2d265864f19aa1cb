//! The digest and alert emails as pure functions of (fleet, now, language, zone, date formats):
//! no I/O and no clock, so snapshot tests feed a fixed fleet and compare bytes.
//!
//! The HTML is what Outlook (Word's engine) and Gmail both render: nested tables about 600 px
//! wide, inline styles, no scripts, images or web fonts. Every value from the fleet goes through
//! maud's `(expr)`, which escapes it; only our own constants ever land in `style=`. Problem rows
//! carry the details and a 30-day coverage strip; healthy rows stay compact, because Gmail clips
//! a message past ~102 KB and 300 sites must fit.

use crate::config::Language;
use crate::i18n::{self, kind_label, labels};
use chrono::format::Item;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use vigia::config::human_bytes;
use vigia::days::{format_day, from_timestamp, last_n_days, local_date, parse_day};
use vigia::pb::{
    ListSitesResponse, RecorderReport, RecordingStatus, ScanOutcome, SiteReport, SiteState,
    Verdict, VerdictKind,
};
use vigia::rules::{human_duration, severity, worst};
use vigia::Tz;

/// Days in the coverage strip.
pub const STRIP_DAYS: u32 = 30;

/// What the digest is about: the fleet as the collector answered, or the fact that it did not.
#[derive(Debug, Clone, Copy)]
pub enum FleetView<'a> {
    /// The collector answered.
    Reachable(&'a ListSitesResponse),
    /// The collector could not be read; the digest says so on its first line.
    Unreachable {
        /// First failed attempt of the current outage.
        since: DateTime<Utc>,
        /// Last successful contact, if any was ever made.
        last_ok: Option<DateTime<Utc>>,
        /// Why the last attempt failed.
        error: &'a str,
    },
}

/// Language, zone and formats of one rendering.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Language of labels and sentences.
    pub language: Language,
    /// Zone of every date shown.
    pub tz: Tz,
    /// Start of the subject.
    pub title: String,
    /// The collector's address, named when it is unreachable.
    pub collector: String,
    date_items: Vec<Item<'static>>,
    day_items: Vec<Item<'static>>,
}

impl RenderOptions {
    /// Options with the language's default title; formats are chrono strftime strings
    /// (already checked by the configuration; a bad one renders literally).
    pub fn new(language: Language, tz: Tz, date_format: &str, day_format: &str) -> Self {
        let items = |f: &str| {
            chrono::format::StrftimeItems::new(f)
                .parse_to_owned()
                .unwrap_or_else(|_| vec![Item::OwnedLiteral(f.into())])
        };
        RenderOptions {
            language,
            tz,
            title: labels(language).title.to_string(),
            collector: String::new(),
            date_items: items(date_format),
            day_items: items(day_format),
        }
    }

    /// Replaces the subject's title.
    pub fn with_title(mut self, title: String) -> Self {
        self.title = title;
        self
    }

    /// Names the collector (for the unreachable line).
    pub fn with_collector(mut self, url: String) -> Self {
        self.collector = url;
        self
    }

    /// A date with time in the configured zone and format.
    pub fn datetime(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format_with_items(self.date_items.iter())
            .to_string()
    }

    /// A date alone in the configured zone and format.
    pub fn date(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format_with_items(self.day_items.iter())
            .to_string()
    }

    fn day(&self, d: NaiveDate) -> String {
        d.format_with_items(self.day_items.iter()).to_string()
    }

    fn ts(&self, t: Option<&prost_types::Timestamp>) -> Option<String> {
        t.and_then(from_timestamp).map(|t| self.datetime(t))
    }
}

/// One email, ready for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The plain-text part, with the same content.
    pub text: String,
}

// Styles: our constants only, never a value from the fleet.
const PAGE: &str = "margin:0;padding:0;background:#f2f2f2";
const OUTER: &str =
    "width:600px;background:#ffffff;font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#222222";
const TITLE: &str = "padding:14px 16px 4px;font-size:18px;font-weight:bold";
const BANNER: &str = "padding:10px 16px;background:#b71c1c;color:#ffffff;font-weight:bold";
const SUMMARY: &str = "padding:6px 16px 12px";
const SECTION: &str = "padding:10px 16px 4px;font-size:14px;font-weight:bold";
const BLOCK: &str = "padding:0 16px 8px";
const GRID: &str =
    "font-family:Arial,Helvetica,sans-serif;font-size:11px;color:#222222;border-collapse:collapse";
const TH: &str = "text-align:left;background:#eeeeee";
const TD_RED: &str = "color:#c62828;font-weight:bold";
const TD_DETAIL: &str = "padding-left:12px;color:#444444;border-bottom:1px solid #dddddd";
const MUTED: &str = "color:#777777";
const FOOTER: &str = "padding:12px 16px 16px;font-size:11px;color:#777777";
const HEALTHY: &str =
    "font-family:Arial,Helvetica,sans-serif;font-size:11px;color:#333333;border-collapse:collapse";
const STRIP_ON: &str = "background-color:#2e7d32;font-size:0;line-height:0";
const GREEN: &str = "#2e7d32";
const RED: &str = "#c62828";
const STRIP_OFF: &str = "background-color:#c62828;font-size:0;line-height:0";
const STRIP_PX: u32 = 3;

fn badge(kind: VerdictKind) -> &'static str {
    match severity(kind) {
        7.. => "background-color:#c62828;color:#ffffff;padding:1px 4px;white-space:nowrap",
        5..=6 => "background-color:#ef6c00;color:#ffffff;padding:1px 4px;white-space:nowrap",
        2..=4 => "background-color:#f9a825;color:#222222;padding:1px 4px;white-space:nowrap",
        _ => "background-color:#2e7d32;color:#ffffff;padding:1px 4px;white-space:nowrap",
    }
}

/// One site as the digest shows it.
struct SiteView<'a> {
    site: &'a SiteReport,
    worst: VerdictKind,
    /// Non-OK verdicts, worst first.
    problems: Vec<&'a Verdict>,
}

/// One line of a site: a recorder, or the site itself when it has none.
struct Line<'a> {
    recorder: Option<&'a RecorderReport>,
    status: VerdictKind,
}

fn is_problem(kind: VerdictKind) -> bool {
    !matches!(kind, VerdictKind::Ok | VerdictKind::Unspecified)
}

fn site_view(site: &SiteReport) -> SiteView<'_> {
    let mut problems: Vec<&Verdict> = site
        .verdicts
        .iter()
        .filter(|v| is_problem(v.kind()))
        .collect();
    problems.sort_by_key(|v| std::cmp::Reverse(severity(v.kind())));
    SiteView {
        site,
        worst: worst(&site.verdicts),
        problems,
    }
}

fn lines<'a>(view: &SiteView<'a>) -> Vec<Line<'a>> {
    let site = view.site;
    if site.recorders.is_empty() {
        return vec![Line {
            recorder: None,
            status: view.worst,
        }];
    }
    site.recorders
        .iter()
        .map(|r| {
            let rec = r.status.as_ref().map(|s| s.recorder.as_str()).unwrap_or("");
            let status = site
                .verdicts
                .iter()
                .filter(|v| v.recorder.is_empty() || v.recorder == rec)
                .map(Verdict::kind)
                .filter(|k| is_problem(*k))
                .max_by_key(|k| severity(*k))
                .unwrap_or(VerdictKind::Ok);
            Line {
                recorder: Some(r),
                status,
            }
        })
        .collect()
}

/// The 30-day windows already formatted, per zone name: one per zone, not one per row.
struct Windows {
    today_utc: DateTime<Utc>,
    fallback: Tz,
    cache: HashMap<String, Vec<String>>,
}

impl Windows {
    fn strip(&mut self, status: &RecordingStatus) -> Vec<bool> {
        let today_utc = self.today_utc;
        let fallback = self.fallback;
        if !self.cache.contains_key(&status.time_zone) {
            let tz = vigia::days::parse_tz(&status.time_zone).unwrap_or(fallback);
            let days = last_n_days(local_date(today_utc, tz), STRIP_DAYS)
                .into_iter()
                .map(format_day)
                .collect();
            self.cache.insert(status.time_zone.clone(), days);
        }
        let Some(window) = self.cache.get(&status.time_zone) else {
            return Vec::new();
        };
        // Both lists are sorted: one merge pass from the window's first day.
        let days = &status.recorded_days;
        let first = window.first().map(String::as_str).unwrap_or("");
        let mut j = days.partition_point(|x| x.as_str() < first);
        window
            .iter()
            .map(|d| {
                while j < days.len() && days[j].as_str() < d.as_str() {
                    j += 1;
                }
                j < days.len() && days[j] == *d
            })
            .collect()
    }
}

/// Consecutive equal cells merged: (recorded, length).
fn runs(cells: &[bool]) -> Vec<(bool, u32)> {
    let mut out: Vec<(bool, u32)> = Vec::new();
    for &c in cells {
        match out.last_mut() {
            Some((v, n)) if *v == c => *n += 1,
            _ => out.push((c, 1)),
        }
    }
    out
}

fn strip_text(cells: &[bool]) -> String {
    cells.iter().map(|&c| if c { '#' } else { '.' }).collect()
}

/// Renders the daily digest.
pub fn render_digest(fleet: &FleetView<'_>, now: DateTime<Utc>, opts: &RenderOptions) -> Rendered {
    let lang = opts.language;
    let l = labels(lang);
    let date = opts.date(now);
    match fleet {
        FleetView::Unreachable {
            since,
            last_ok,
            error,
        } => {
            let subject = format!(
                "{} {date} — {}",
                opts.title,
                i18n::subject_unreachable(lang)
            );
            let last = last_ok.map(|t| opts.datetime(t));
            let line = i18n::unreachable_line(
                lang,
                &opts.collector,
                &opts.datetime(*since),
                last.as_deref(),
                error,
            );
            let html = page(lang, &subject, Some(&line), None, html! {}, &[l.sent_by]);
            let text = format!("{line}\n\n{subject}\n\n{}\n", l.sent_by);
            Rendered {
                subject,
                html,
                text,
            }
        }
        FleetView::Reachable(resp) => render_fleet(resp, now, opts, &date),
    }
}

fn render_fleet(
    resp: &ListSitesResponse,
    now: DateTime<Utc>,
    opts: &RenderOptions,
    date: &str,
) -> Rendered {
    let lang = opts.language;
    let l = labels(lang);
    let evaluated = resp
        .evaluated_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or(now);
    let mut problems: Vec<SiteView<'_>> = Vec::new();
    let mut healthy: Vec<SiteView<'_>> = Vec::new();
    for site in &resp.sites {
        if site.state() == SiteState::Retired {
            continue;
        }
        let v = site_view(site);
        if is_problem(v.worst) {
            problems.push(v);
        } else {
            healthy.push(v);
        }
    }
    problems.sort_by(|a, b| {
        severity(b.worst)
            .cmp(&severity(a.worst))
            .then_with(|| a.site.site.cmp(&b.site.site))
    });
    healthy.sort_by(|a, b| a.site.site.cmp(&b.site.site));
    let total = problems.len() + healthy.len();
    let mut by_kind: Vec<(VerdictKind, usize)> = Vec::new();
    for p in &problems {
        match by_kind.iter_mut().find(|(k, _)| *k == p.worst) {
            Some((_, n)) => *n += 1,
            None => by_kind.push((p.worst, 1)),
        }
    }
    let subject = format!(
        "{} {date} — {}",
        opts.title,
        i18n::subject_counts(lang, problems.len(), total)
    );
    let summary = i18n::summary(lang, problems.len(), total, &by_kind);
    let mut windows = Windows {
        today_utc: evaluated,
        fallback: opts.tz,
        cache: HashMap::new(),
    };
    let ctx = Ctx { opts, evaluated };

    let (oldest_lc, newest_lc, status_lc, last_30_lc) = (
        l.oldest.to_lowercase(),
        l.newest.to_lowercase(),
        l.status.to_lowercase(),
        l.last_30.to_lowercase(),
    );
    let healthy_rows: Vec<(&SiteView<'_>, Line<'_>, Figures<'_>)> = healthy
        .iter()
        .flat_map(|v| {
            let ctx = &ctx;
            lines(v).into_iter().map(move |ln| {
                let f = ctx.figures(v.site, &ln);
                (v, ln, f)
            })
        })
        .collect();

    // Precompute each problem site's details and strips once, for both parts.
    let prepared: Vec<Prepared<'_>> = problems
        .iter()
        .map(|v| {
            let lines = lines(v);
            let strips: Vec<Option<Vec<bool>>> = lines
                .iter()
                .map(|ln| {
                    ln.recorder
                        .and_then(|r| r.status.as_ref())
                        .map(|s| windows.strip(s))
                })
                .collect();
            let multi = v.site.recorders.len() > 1;
            let details: Vec<String> = v
                .problems
                .iter()
                .map(|verdict| {
                    let sentence = ctx.sentence(v.site, verdict);
                    if multi && !verdict.recorder.is_empty() {
                        format!(
                            "{} [{}]: {sentence}",
                            kind_label(lang, verdict.kind()),
                            verdict.recorder
                        )
                    } else {
                        format!("{}: {sentence}", kind_label(lang, verdict.kind()))
                    }
                })
                .collect();
            let figures = lines.iter().map(|ln| ctx.figures(v.site, ln)).collect();
            Prepared {
                view: v,
                lines,
                figures,
                strips,
                details,
            }
        })
        .collect();

    let body = html! {
        @if !prepared.is_empty() {
            tr { td style=(SECTION) { (l.problems) " (" (prepared.len()) ")" } }
            tr { td style=(BLOCK) {
                table role="presentation" width="100%" cellpadding="3" cellspacing="0" border="0" style=(GRID) {
                    tr {
                        th style=(TH) { (l.site) }
                        th style=(TH) { (l.technology) }
                        th style=(TH) { (l.oldest) }
                        th style=(TH) { (l.newest) }
                        th style=(TH) { (l.status) }
                        th style=(TH) { (l.days) }
                        th style=(TH) { (l.last_30) }
                    }
                    @for p in &prepared {
                        @for (i, ln) in p.lines.iter().enumerate() {
                            @let site = p.view.site;
                            @let f = &p.figures[i];
                            tr valign="top" {
                                td {
                                    @if i == 0 {
                                        b { (site.site) }
                                        @if !site.note.is_empty() { br; span style=(MUTED) { (site.note) } }
                                    }
                                    @if site.recorders.len() > 1 {
                                        @if let Some(r) = f.recorder { @if i == 0 { br; } span style=(MUTED) { (r) } }
                                    }
                                }
                                td { (f.tech) }
                                td { (f.oldest) }
                                td { (f.newest) }
                                td { span style=(badge(ln.status)) { (kind_label(lang, ln.status)) } }
                                td align="right" style=[f.days_red.then_some(TD_RED)] {
                                    @if let Some(d) = f.days { (d) } @else { (l.none) }
                                }
                                td {
                                    @if let Some(cells) = &p.strips[i] {
                                        table role="presentation" cellpadding="0" cellspacing="0" border="0" {
                                            tr {
                                                @for (on, n) in runs(cells) {
                                                    td width=(n * STRIP_PX) height="10" bgcolor=(if on { GREEN } else { RED }) style=(if on { STRIP_ON } else { STRIP_OFF }) { (PreEscaped("&nbsp;")) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        tr { td colspan="7" style=(TD_DETAIL) {
                            @for (i, d) in p.details.iter().enumerate() {
                                @if i > 0 { br; }
                                "• " (d)
                            }
                        } }
                    }
                }
                div style=(MUTED) { (l.legend) }
            } }
        }
        @if !healthy.is_empty() {
            tr { td style=(SECTION) { (l.healthy) " (" (healthy.len()) ")" } }
            tr { td style=(BLOCK) {
                table role="presentation" width="100%" cellpadding="2" cellspacing="0" border="0" style=(HEALTHY) {
                    tr bgcolor="#eeeeee" {
                        th align="left" { (l.site) }
                        th align="left" { (l.technology) }
                        th align="left" { (l.oldest) }
                        th align="left" { (l.newest) }
                        th align="left" { (l.status) }
                        th align="right" { (l.days) }
                    }
                    @for (v, ln, f) in &healthy_rows {
                        tr {
                            td {
                                (v.site.site)
                                @if v.site.recorders.len() > 1 { @if let Some(r) = f.recorder { " [" (r) "]" } }
                            }
                            td { (f.tech) }
                            td { (f.oldest) }
                            td { (f.newest) }
                            td { (kind_label(lang, ln.status)) }
                            td align="right" style=[f.days_red.then_some("color:#c62828")] {
                                @if let Some(d) = f.days { (d) } @else { (l.none) }
                            }
                        }
                    }
                }
            } }
        }
    };
    let evaluated_line = format!("{} {}.", l.evaluated_at, opts.datetime(evaluated));
    let html = page(
        lang,
        &subject,
        None,
        Some(&summary),
        body,
        &[&evaluated_line, l.sent_by],
    );

    // The text part: the same content, line by line.
    let mut text = String::with_capacity(64 * total + 1024);
    let _ = writeln!(text, "{subject}\n{summary}\n");
    if !prepared.is_empty() {
        let _ = writeln!(text, "== {} ({}) ==\n", l.problems, prepared.len());
        for p in &prepared {
            let site = p.view.site;
            let _ = write!(text, "* {} — {}", site.site, kind_label(lang, p.view.worst));
            if !site.note.is_empty() {
                let _ = write!(text, " ({})", site.note);
            }
            text.push('\n');
            for (i, (ln, f)) in p.lines.iter().zip(&p.figures).enumerate() {
                let rec = match f.recorder {
                    Some(r) if site.recorders.len() > 1 => format!("[{r}] "),
                    _ => String::new(),
                };
                let _ = writeln!(
                    text,
                    "  {rec}{} · {} {} · {} {} · {}: {}",
                    f.tech,
                    oldest_lc,
                    f.oldest,
                    newest_lc,
                    f.newest,
                    status_lc,
                    kind_label(lang, ln.status),
                );
                if let Some(days) = f.days {
                    let _ = writeln!(
                        text,
                        "  {}{}",
                        i18n::days_line(lang, days, site.min_retention_days),
                        if f.days_red { l.below_minimum } else { "" }
                    );
                }
                if let Some(cells) = &p.strips[i] {
                    let _ = writeln!(text, "  {}: {}", last_30_lc, strip_text(cells));
                }
            }
            for d in &p.details {
                let _ = writeln!(text, "  - {d}");
            }
            text.push('\n');
        }
    }
    if !healthy.is_empty() {
        let _ = writeln!(text, "== {} ({}) ==\n", l.healthy, healthy.len());
        for (v, ln, f) in &healthy_rows {
            text.push_str(&v.site.site);
            if let Some(r) = f.recorder.filter(|_| v.site.recorders.len() > 1) {
                let _ = write!(text, " [{r}]");
            }
            let _ = write!(
                text,
                " · {} · {} – {} · {} · ",
                f.tech,
                f.oldest,
                f.newest,
                kind_label(lang, ln.status)
            );
            match f.days {
                Some(d) => {
                    let _ = writeln!(text, "{d}");
                }
                None => {
                    let _ = writeln!(text, "{}", l.none);
                }
            }
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "{} {}.\n{}",
        l.evaluated_at,
        opts.datetime(evaluated),
        l.sent_by
    );
    Rendered {
        subject,
        html,
        text,
    }
}

struct Prepared<'a> {
    view: &'a SiteView<'a>,
    lines: Vec<Line<'a>>,
    figures: Vec<Figures<'a>>,
    strips: Vec<Option<Vec<bool>>>,
    details: Vec<String>,
}

struct Ctx<'o> {
    opts: &'o RenderOptions,
    evaluated: DateTime<Utc>,
}

/// The figures of one line, formatted.
struct Figures<'a> {
    recorder: Option<&'a str>,
    tech: &'static str,
    oldest: String,
    newest: String,
    days: Option<u32>,
    days_red: bool,
}

impl Ctx<'_> {
    fn figures<'a>(&self, site: &SiteReport, line: &Line<'a>) -> Figures<'a> {
        let lang = self.opts.language;
        let none = labels(lang).none;
        match line.recorder.and_then(|r| r.status.as_ref()) {
            Some(s) => {
                let has_files = s.file_count > 0;
                Figures {
                    recorder: Some(s.recorder.as_str()),
                    tech: i18n::technology(lang, s.technology()),
                    oldest: has_files
                        .then(|| self.opts.ts(s.oldest_recording.as_ref()))
                        .flatten()
                        .unwrap_or_else(|| none.into()),
                    newest: has_files
                        .then(|| self.opts.ts(s.newest_recording.as_ref()))
                        .flatten()
                        .unwrap_or_else(|| none.into()),
                    days: Some(s.days_recorded),
                    days_red: s.days_recorded < site.min_retention_days,
                }
            }
            None => Figures {
                recorder: None,
                tech: none,
                oldest: none.into(),
                newest: none.into(),
                days: None,
                days_red: false,
            },
        }
    }

    /// The sentence of a verdict: the root crate's in English, ours in Portuguese.
    fn sentence<'v>(&self, site: &SiteReport, v: &'v Verdict) -> Cow<'v, str> {
        match self.opts.language {
            Language::En => {
                if v.detail.is_empty() {
                    Cow::Borrowed(kind_label(Language::En, v.kind()))
                } else {
                    Cow::Borrowed(v.detail.as_str())
                }
            }
            Language::PtBr => Cow::Owned(self.pt_sentence(site, v)),
        }
    }

    fn pt_sentence(&self, site: &SiteReport, v: &Verdict) -> String {
        let o = self.opts;
        let status = site
            .recorders
            .iter()
            .filter_map(|r| r.status.as_ref())
            .find(|s| s.recorder == v.recorder);
        let since = v.since.as_ref().and_then(from_timestamp);
        let observed = status
            .and_then(|s| s.observed_at.as_ref())
            .and_then(from_timestamp);
        let span = |a: DateTime<Utc>, b: DateTime<Utc>| {
            human_duration((a - b).to_std().unwrap_or_default())
        };
        match v.kind() {
            VerdictKind::Ok | VerdictKind::Unspecified => "gravando normalmente".into(),
            VerdictKind::CameraMissing | VerdictKind::RecorderSilent | VerdictKind::NotWriting => {
                v.detail.clone()
            }
            VerdictKind::NeverReported => "esperado, mas nunca enviou relatório".into(),
            VerdictKind::Silent => {
                let last = since.or_else(|| site.last_contact.as_ref().and_then(from_timestamp));
                let every = site.report_interval.as_ref().map(|d| {
                    human_duration(std::time::Duration::from_secs(d.seconds.max(0) as u64))
                });
                match last {
                    Some(t) => format!(
                        "sem relatório há {} (último contato em {}{})",
                        span(self.evaluated, t),
                        o.datetime(t),
                        every
                            .map(|e| format!("; relata a cada {e}"))
                            .unwrap_or_default()
                    ),
                    None => "sem relatório".into(),
                }
            }
            VerdictKind::Late => {
                let newest = since.or_else(|| {
                    status
                        .and_then(|s| s.newest_recording.as_ref())
                        .and_then(from_timestamp)
                });
                match (newest, observed) {
                    (Some(n), Some(obs)) => format!(
                        "gravação mais recente em {} ({} antes da última varredura)",
                        o.datetime(n),
                        span(obs, n)
                    ),
                    (Some(n), None) => format!("gravação mais recente em {}", o.datetime(n)),
                    _ => "o gravador parou de gravar".into(),
                }
            }
            VerdictKind::CameraLate => {
                let total = status.map(|s| s.cameras.len()).unwrap_or(v.cameras.len());
                let listed: Vec<String> = v
                    .cameras
                    .iter()
                    .map(|c| {
                        let newest = status
                            .and_then(|s| s.cameras.iter().find(|x| &x.camera == c))
                            .and_then(|x| x.newest_recording.as_ref())
                            .and_then(from_timestamp);
                        match newest {
                            Some(n) => format!("{c} desde {}", o.datetime(n)),
                            None => c.clone(),
                        }
                    })
                    .collect();
                format!(
                    "{} de {total} câmera(s) parada(s): {}",
                    v.cameras.len(),
                    listed.join(", ")
                )
            }
            VerdictKind::ShortRetention => {
                let days = status.map(|s| s.days_recorded).unwrap_or(0);
                format!(
                    "{days} dia(s) com gravação, menos que os {} exigidos",
                    site.min_retention_days
                )
            }
            VerdictKind::Gaps => {
                let mut days: Vec<NaiveDate> = status
                    .map(|s| {
                        s.recorded_days
                            .iter()
                            .filter_map(|d| parse_day(d))
                            .collect()
                    })
                    .unwrap_or_default();
                days.sort_unstable();
                days.dedup();
                let missing = vigia::days::missing_days(&days, 10_000);
                let named: Vec<String> = missing.iter().take(5).map(|d| o.day(*d)).collect();
                let rest = missing.len().saturating_sub(5);
                format!(
                    "{} dia(s) sem gravação: {}{}",
                    missing.len(),
                    named.join(", "),
                    if rest > 0 {
                        format!(" e mais {rest}")
                    } else {
                        String::new()
                    }
                )
            }
            VerdictKind::DiskLow => match status {
                Some(s) => format!(
                    "{} livres de {}",
                    human_bytes(s.disk_free_bytes),
                    human_bytes(s.disk_total_bytes)
                ),
                None => "pouco espaço livre no disco de gravação".into(),
            },
            VerdictKind::ScanError => match status {
                Some(s) => {
                    let first = s
                        .errors
                        .first()
                        .map(|e| format!(": {} ({})", e.path, e.reason))
                        .unwrap_or_default();
                    match s.outcome() {
                        ScanOutcome::PathMissing => {
                            format!("a pasta de gravação {} não existe", s.root_path)
                        }
                        ScanOutcome::PermissionDenied => {
                            format!(
                                "a pasta de gravação {} não pode ser lida{first}",
                                s.root_path
                            )
                        }
                        ScanOutcome::Empty => {
                            format!("nenhum arquivo de gravação em {}", s.root_path)
                        }
                        _ => format!(
                            "{} caminho(s) ilegível(is); o restante foi contado{first}",
                            s.errors.len() as u64 + s.errors_omitted
                        ),
                    }
                }
                None => "a pasta de gravação não pôde ser lida".into(),
            },
            VerdictKind::ClockSkew => {
                let mut parts = Vec::new();
                if let Some(s) = status {
                    let received = site
                        .recorders
                        .iter()
                        .find(|r| r.status.as_ref().is_some_and(|x| x.recorder == s.recorder))
                        .and_then(|r| r.received_at.as_ref())
                        .and_then(from_timestamp);
                    if let (Some(obs), Some(rec)) = (observed, received) {
                        if obs > rec + chrono::Duration::seconds(60) {
                            parts.push(format!(
                                "relógio da sonda {} adiantado em relação ao coletor",
                                span(obs, rec)
                            ));
                        }
                    }
                    let newest = s.newest_recording.as_ref().and_then(from_timestamp);
                    if let (Some(n), Some(obs)) = (newest, observed) {
                        if n > obs {
                            parts.push(format!(
                                "gravação mais recente datada de {}, {} depois da varredura",
                                o.datetime(n),
                                span(n, obs)
                            ));
                        }
                    }
                    if let Some(old) = s.oldest_recording.as_ref().and_then(from_timestamp) {
                        if old.timestamp() < 946_684_800 && s.file_count > 0 {
                            parts.push(format!(
                                "gravação mais antiga datada de {} (relógio do gravador zerado?)",
                                o.datetime(old)
                            ));
                        }
                    }
                }
                if parts.is_empty() {
                    "relógio da sonda ou do gravador fora de hora".into()
                } else {
                    parts.join("; ")
                }
            }
        }
    }
}

/// The frame shared by digests and alerts.
fn page(
    lang: Language,
    subject: &str,
    banner: Option<&str>,
    summary: Option<&str>,
    body: Markup,
    footer: &[&str],
) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (subject) }
            }
            body style=(PAGE) {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style=(PAGE) {
                    tr { td align="center" style="padding:12px 0" {
                        table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style=(OUTER) {
                            @if let Some(b) = banner { tr { td style=(BANNER) { (b) } } }
                            tr { td style=(TITLE) { (subject) } }
                            @if let Some(s) = summary { tr { td style=(SUMMARY) { (s) } } }
                            (body)
                            tr { td style=(FOOTER) {
                                @for (i, line) in footer.iter().enumerate() {
                                    @if i > 0 { br; }
                                    (line)
                                }
                            } }
                        }
                    } }
                }
            }
        }
    }
    .into_string()
}

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

/// The sentence of a verdict in the email's language, for alerts.
pub fn verdict_sentence(
    site: &SiteReport,
    v: &Verdict,
    evaluated: DateTime<Utc>,
    opts: &RenderOptions,
) -> String {
    Ctx { opts, evaluated }.sentence(site, v).into_owned()
}

/// Renders an urgent alert listing new problems and recoveries.
pub fn render_alert(changes: &[AlertChange], now: DateTime<Utc>, opts: &RenderOptions) -> Rendered {
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
                    div style="padding:2px 0" {
                        span style=(badge(c.kind)) { (kind_label(lang, c.kind)) } " " b { (c.site) } ": " (c.detail)
                    }
                }
            } }
        }
        @if !cleared.is_empty() {
            tr { td style=(SECTION) { (l.recovered) } }
            tr { td style=(BLOCK) {
                @for c in &cleared {
                    div style="padding:2px 0" {
                        span style=(badge(VerdictKind::Ok)) { "OK" } " " b { (c.site) } ": " (kind_label(lang, c.kind))
                    }
                }
            } }
        }
    };
    let html = page(lang, &subject, None, Some(&when), body, &[l.alert_footer]);
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
    }
}
