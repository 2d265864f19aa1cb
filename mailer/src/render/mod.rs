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
mod days;
mod fit;
mod html;
pub mod model;
pub mod out;
pub mod rows;
mod strip;
mod text;

use crate::i18n::{self, labels, Attached};
use chrono::format::Item;
use chrono::{DateTime, NaiveDate, Utc};
use vigia::pb::{ListSitesResponse, Verdict};
use vigia::wording::Language;
use vigia::Tz;

pub use alert::{render_alert, AlertChange};
pub use changes::{DigestMemory, ProblemKey};
pub use rows::FleetRows;
pub use strip::STRIP_DAYS;

/// Gmail shows "[Message clipped]" past this many bytes of HTML.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// What the digest's HTML body may weigh: Gmail's clip less a margin for the headers Gmail
/// counts and for a relay that rewrites links.
pub const BODY_BUDGET: usize = 100 * 1024;

/// What the attachments of a digest may weigh in the message by default (`[digest]
/// attachment_max_bytes`): under the 10 MB that many relays accept for a whole message.
pub const DEFAULT_ATTACHMENT_MAX_BYTES: usize = 10 << 20;

/// What the digest is about: the fleet as the collector answered, or the fact that it did not.
#[derive(Debug, Clone, Copy)]
pub enum FleetView<'a> {
    /// The collector answered in one message (tests, small fleets).
    Reachable(&'a ListSitesResponse),
    /// The collector answered, folded page by page into the digest's rows.
    Rows(&'a FleetRows),
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
    /// Most bytes the attachments may weigh in the message (base64); past it the email
    /// attaches what fits and says how to get the rest.
    pub attachment_max_bytes: usize,
    /// The command that writes the complete report on the mailer's machine, quoted when it is
    /// too large to attach.
    pub report_command: String,
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
            attachment_max_bytes: DEFAULT_ATTACHMENT_MAX_BYTES,
            report_command: "vigia-mailer preview --out digest.html".into(),
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

    /// Bounds the attachments (`[digest] attachment_max_bytes`) and names the command that
    /// writes the complete report when it is over that bound.
    pub fn with_attachments(mut self, max_bytes: usize, report_command: String) -> Self {
        self.attachment_max_bytes = max_bytes;
        self.report_command = report_command;
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
    /// Names of the complete report's files left out for their size (the body says so).
    pub omitted: Vec<String>,
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
                omitted: Vec::new(),
            }
        }
        FleetView::Reachable(resp) => {
            render_rows(&FleetRows::from_response(resp), now, previous, opts)
        }
        FleetView::Rows(rows) => render_rows(rows, now, previous, opts),
    }
}

/// The complete report's file names: `<stem>-<day>.html` and `.csv`.
fn report_names(now: DateTime<Utc>, opts: &RenderOptions) -> (String, String) {
    let stem = i18n::report_file_stem(opts.language);
    let day = vigia::days::format_day(vigia::days::local_date(now, opts.tz));
    (format!("{stem}-{day}.html"), format!("{stem}-{day}.csv"))
}

/// The subject and summary line of a digest.
fn heads(m: &model::DigestModel<'_>, now: DateTime<Utc>, opts: &RenderOptions) -> (String, String) {
    let lang = opts.language;
    let subject = format!(
        "{} {} — {}",
        opts.title,
        opts.date(now),
        i18n::subject_counts(lang, m.problems.len(), m.total, m.change_counts().as_ref())
    );
    let summary = i18n::summary(
        lang,
        m.problems.len(),
        m.total,
        &m.by_kind,
        m.acknowledged_only,
    );
    (subject, summary)
}

/// The digest of a reachable fleet: the complete report as the body when it fits under the
/// clip; else a summary, with as much of the complete report attached as
/// `attachment_max_bytes` allows (the HTML and the CSV, or the CSV alone, or nothing) and a
/// notice saying which and how to get the rest. The report is written piece by piece into
/// buffers that stop at what could still be sent, so a 50,000-site report is never held whole.
fn render_rows(
    rows: &FleetRows,
    now: DateTime<Utc>,
    previous: Option<&DigestMemory>,
    opts: &RenderOptions,
) -> Rendered {
    let lang = opts.language;
    let m = model::DigestModel::build(rows, now, previous, opts);
    let (subject, summary) = heads(&m, now, opts);
    let ctx = html::Ctx::new(opts);
    let cap = opts.attachment_max_bytes;
    let raw_cap = out::raw_limit(cap);
    let mut full = out::Capped::new(raw_cap.max(BODY_BUDGET));
    html::write_full_report(&ctx, &m, &subject, &summary, &mut full);
    let full = full.into_text();
    if let Some(full) = full.as_ref().filter(|f| f.len() <= BODY_BUDGET) {
        let text = text::render(&m, &subject, &summary, None, opts);
        return Rendered {
            subject,
            html: full.clone(),
            text,
            attachments: Vec::new(),
            omitted: Vec::new(),
        };
    }
    let mut csv_out = out::Capped::new(raw_cap);
    csv::write(&m, opts, &mut csv_out);
    let csv_text = csv_out.into_text();
    let (html_name, csv_name) = report_names(now, opts);
    let fits = |n: usize| out::encoded_len(n) <= cap;
    let html_file = full.filter(|f| fits(f.len()));
    let csv_file = csv_text.filter(|c| fits(c.len()));
    let mut attachments = Vec::new();
    let mut omitted = Vec::new();
    let attached = match (html_file, csv_file) {
        (Some(h), Some(c)) if out::encoded_len(h.len()) + out::encoded_len(c.len()) <= cap => {
            attachments.push(Attachment {
                name: html_name,
                content_type: "text/html; charset=utf-8".into(),
                bytes: h.into_bytes(),
            });
            attachments.push(Attachment {
                name: csv_name,
                content_type: "text/csv; charset=utf-8".into(),
                bytes: c.into_bytes(),
            });
            Attached::Both
        }
        (_, Some(c)) => {
            omitted.push(html_name);
            attachments.push(Attachment {
                name: csv_name,
                content_type: "text/csv; charset=utf-8".into(),
                bytes: c.into_bytes(),
            });
            Attached::CsvOnly
        }
        (_, None) => {
            omitted.push(html_name);
            omitted.push(csv_name);
            Attached::Nothing
        }
    };
    let notice = i18n::report_notice(lang, m.total, attached, cap, &opts.report_command);
    let body = fit::body(&ctx, &m, &subject, &summary, &notice);
    let text = text::render(&m, &subject, &summary, Some(&notice), opts);
    Rendered {
        subject,
        html: body,
        text,
        attachments,
        omitted,
    }
}

/// Which file of the complete report [`write_report`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFile {
    /// The complete report as HTML.
    Html,
    /// Its table as CSV for Excel.
    Csv,
}

/// Writes one file of the digest's complete report into `w`, whatever its size, piece by piece
/// (`vigia-mailer preview` uses it for what was too large to attach). Nothing is written for an
/// unreachable collector. Returns the file's usual name.
pub fn write_report(
    fleet: &FleetView<'_>,
    now: DateTime<Utc>,
    opts: &RenderOptions,
    file: ReportFile,
    w: impl std::io::Write,
) -> std::io::Result<String> {
    let owned;
    let rows = match fleet {
        FleetView::Reachable(resp) => {
            owned = FleetRows::from_response(resp);
            &owned
        }
        FleetView::Rows(rows) => *rows,
        FleetView::Unreachable { .. } => return Ok(String::new()),
    };
    let m = model::DigestModel::build(rows, now, None, opts);
    let mut out = out::Writer::new(w);
    let (html_name, csv_name) = report_names(now, opts);
    match file {
        ReportFile::Html => {
            let (subject, summary) = heads(&m, now, opts);
            html::write_full_report(&html::Ctx::new(opts), &m, &subject, &summary, &mut out);
            out.finish()?;
            Ok(html_name)
        }
        ReportFile::Csv => {
            csv::write(&m, opts, &mut out);
            out.finish()?;
            Ok(csv_name)
        }
    }
}
