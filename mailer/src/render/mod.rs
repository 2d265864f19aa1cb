//! The digest and alert emails as pure functions of (fleet, previous digest, now, options): no
//! I/O and no clock, so snapshot tests feed a fixed fleet and compare bytes.
//!
//! One model is built per digest ([`model`]: sites ordered problems first, each problem's lines
//! with their sentences, strips and change marks, acknowledged findings apart); the HTML, the
//! plain text and the CSV are renderers over it ([`html`], [`text`], [`csv`]), and [`fit`] keeps
//! the HTML body under Gmail's clip by summarising what does not fit and attaching the complete
//! report. The mailer never words a finding itself: every sentence comes from
//! [`vigia::wording`], with this email's date formats ([`RenderOptions`] is its `DateText`).

mod alert;
pub mod changes;
mod csv;
mod fit;
mod html;
pub mod model;
mod strip;
mod text;

use crate::config::Language;
use crate::i18n::{self, labels};
use chrono::format::Item;
use chrono::{DateTime, NaiveDate, Utc};
use vigia::pb::{ListSitesResponse, Verdict};
use vigia::Tz;

pub use alert::{render_alert, AlertChange};
pub use changes::{DigestMemory, ProblemKey};
pub use strip::STRIP_DAYS;

/// Gmail shows "[Message clipped]" past this many bytes of HTML.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// What the digest's HTML body may weigh: Gmail's clip less a margin for the headers Gmail
/// counts and for a relay that rewrites links.
pub const BODY_BUDGET: usize = 100 * 1024;

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

    /// A calendar day in the configured format.
    pub fn day(&self, d: NaiveDate) -> String {
        d.format_with_items(self.day_items.iter()).to_string()
    }
}

/// Sentences write their dates with the email's formats.
impl vigia::wording::DateText for RenderOptions {
    fn instant(&self, t: DateTime<Utc>) -> String {
        self.datetime(t)
    }
    fn day(&self, d: NaiveDate) -> String {
        RenderOptions::day(self, d)
    }
}

/// A file sent with the email (the complete report when the body cannot hold it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the reader sees.
    pub name: String,
    /// Its MIME type, e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
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
    /// Files to attach; empty when the body holds everything.
    pub attachments: Vec<Attachment>,
}

/// The sentence of a verdict in the email's language and date formats (alerts use it).
pub fn verdict_sentence(v: &Verdict, opts: &RenderOptions) -> String {
    vigia::wording::sentence(v, opts.language, opts)
}

/// Renders the daily digest without a previous digest to compare with (no change marks).
pub fn render_digest(fleet: &FleetView<'_>, now: DateTime<Utc>, opts: &RenderOptions) -> Rendered {
    render_digest_since(fleet, now, None, opts)
}

/// Renders the daily digest, marking each problem new, still open or recovered against the
/// problems of the previous digest sent (`previous`, from the mailer's state).
pub fn render_digest_since(
    fleet: &FleetView<'_>,
    now: DateTime<Utc>,
    previous: Option<&DigestMemory>,
    opts: &RenderOptions,
) -> Rendered {
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
            let html = html::page(lang, &subject, Some(&line), None, "", &[l.sent_by]);
            let text = format!("{line}\n\n{subject}\n\n{}\n", l.sent_by);
            Rendered {
                subject,
                html,
                text,
                attachments: Vec::new(),
            }
        }
        FleetView::Reachable(resp) => {
            let m = model::DigestModel::build(resp, now, previous, opts);
            let subject = format!(
                "{} {date} — {}",
                opts.title,
                i18n::subject_counts(lang, m.problems.len(), m.total, m.change_counts().as_ref())
            );
            let summary = i18n::summary(
                lang,
                m.problems.len(),
                m.total,
                &m.by_kind,
                m.acknowledged_only,
            );
            let ctx = html::Ctx::new(opts);
            let problems: Vec<String> = m
                .problems
                .iter()
                .map(|p| html::problem_block(&ctx, p, html::Detail::Full))
                .collect();
            let acks: Vec<String> = m
                .acknowledged
                .iter()
                .map(|a| html::ack_block(&ctx, a))
                .collect();
            let full = html::full_report(&ctx, &m, &subject, &summary, &problems, &acks);
            if full.len() <= BODY_BUDGET {
                let text = text::render(&m, &subject, &summary, true, opts);
                return Rendered {
                    subject,
                    html: full,
                    text,
                    attachments: Vec::new(),
                };
            }
            let body = fit::body(&ctx, &m, &subject, &summary, &problems, &acks);
            let text = text::render(&m, &subject, &summary, false, opts);
            let stem = i18n::report_file_stem(lang);
            let day = vigia::days::format_day(vigia::days::local_date(now, opts.tz));
            let attachments = vec![
                Attachment {
                    name: format!("{stem}-{day}.html"),
                    content_type: "text/html; charset=utf-8".into(),
                    bytes: full.into_bytes(),
                },
                Attachment {
                    name: format!("{stem}-{day}.csv"),
                    content_type: "text/csv; charset=utf-8".into(),
                    bytes: csv::render(&m, opts).into_bytes(),
                },
            ];
            Rendered {
                subject,
                html: body,
                text,
                attachments,
            }
        }
    }
}
