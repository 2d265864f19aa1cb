//! The complete report as CSV for Excel, attached when the body is a summary: one row per
//! finding (open, then acknowledged) and one OK row per healthy recorder. UTF-8 with a BOM so
//! Excel reads the accents; `;` between fields in pt-BR (Excel's separator under a Brazilian
//! locale), `,` in English. A field that Excel would read as a formula is prefixed with `'`.

use super::changes::Change;
use super::model::{DigestModel, Figures, Finding};
use super::out::Out;
use super::RenderOptions;
use crate::i18n::labels;
use vigia::pb::VerdictKind;
use vigia::wording::{kind_label, Language};

/// Builds one row at a time and hands it to the destination.
struct Writer<'o> {
    out: &'o mut dyn Out,
    line: String,
    sep: char,
}

impl Writer<'_> {
    fn field(&mut self, first: bool, value: &str) {
        if !first {
            self.line.push(self.sep);
        }
        let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = formula
            || value.contains(self.sep)
            || value.contains('"')
            || value.contains('\n')
            || value.contains('\r');
        if quote {
            self.line.push('"');
        }
        if formula {
            self.line.push('\'');
        }
        if value.contains('"') {
            self.line.push_str(&value.replace('"', "\"\""));
        } else {
            self.line.push_str(value);
        }
        if quote {
            self.line.push('"');
        }
    }

    fn row(&mut self, fields: &[&str]) {
        for (i, f) in fields.iter().enumerate() {
            self.field(i == 0, f);
        }
        self.line.push_str("\r\n");
        self.out.push(&self.line);
        self.line.clear();
    }
}

fn code(kind: VerdictKind) -> &'static str {
    kind.as_str_name().trim_start_matches("VERDICT_KIND_")
}

fn change(opts: &RenderOptions, c: Change) -> String {
    let l = labels(opts.language);
    match c {
        Change::New => l.new_mark.to_string(),
        Change::OpenSince(t) => format!("{} {}", l.open_since, opts.date(t)),
        Change::Unknown => String::new(),
    }
}

/// The CSV text (with its BOM), written row by row into `out` (which may stop it early).
pub fn write(m: &DigestModel<'_>, opts: &RenderOptions, out: &mut dyn Out) {
    let lang = opts.language;
    let l = labels(lang);
    out.push("\u{feff}");
    let mut w = Writer {
        out,
        line: String::with_capacity(256),
        sep: if lang == Language::PtBr { ';' } else { ',' },
    };
    w.row(&[
        l.site,
        l.recorder,
        l.camera,
        l.status,
        "code",
        l.finding,
        l.change,
        l.acknowledged_by,
        l.until,
        l.note,
        l.technology,
        l.days,
        l.minimum,
        l.oldest,
        l.newest,
    ]);
    let min_days = |n: u32| n.to_string();
    let finding_row = |w: &mut Writer,
                       site: &str,
                       min: u32,
                       f: &Finding<'_>,
                       ack: (&str, &str, &str),
                       figures: Option<&Figures>| {
        let v = f.verdict;
        let days = figures.map(|x| x.days.to_string()).unwrap_or_default();
        w.row(&[
            site,
            &v.recorder,
            v.cameras.first().map(String::as_str).unwrap_or(""),
            kind_label(lang, v.kind()),
            code(v.kind()),
            &f.sentence,
            &change(opts, f.change),
            ack.0,
            ack.1,
            ack.2,
            figures.map(|x| x.tech).unwrap_or(""),
            &days,
            &min_days(min),
            figures.and_then(|x| x.oldest.as_deref()).unwrap_or(""),
            figures.and_then(|x| x.newest.as_deref()).unwrap_or(""),
        ]);
    };
    for p in &m.problems {
        if w.out.done() {
            return;
        }
        let min = p.site.min_retention_days;
        for f in &p.findings {
            finding_row(&mut w, &p.site.site, min, f, ("", "", ""), None);
        }
        for r in &p.recorders {
            for f in &r.findings {
                finding_row(
                    &mut w,
                    &p.site.site,
                    min,
                    f,
                    ("", "", ""),
                    r.figures.as_ref(),
                );
            }
        }
    }
    for a in &m.acknowledged {
        finding_row(
            &mut w,
            &a.site.site,
            a.site.min_retention_days,
            &a.finding,
            (&a.ack.who, a.until.as_deref().unwrap_or(""), &a.ack.note),
            None,
        );
    }
    for h in &m.healthy {
        if w.out.done() {
            return;
        }
        for (rec, f) in &h.lines {
            let days = f.days.to_string();
            w.row(&[
                &h.site.site,
                rec,
                "",
                kind_label(lang, VerdictKind::Ok),
                code(VerdictKind::Ok),
                "",
                "",
                "",
                "",
                "",
                f.tech,
                &days,
                &min_days(h.site.min_retention_days),
                f.oldest.as_deref().unwrap_or(""),
                f.newest.as_deref().unwrap_or(""),
            ]);
        }
    }
}
