//! The plain-text part over the digest model: the same sections as the HTML, line by line, a
//! strip as `#` and `.` with a space before each Monday. The text part is never clipped, so it
//! always carries every problem and acknowledged finding; healthy sites get their figures when
//! the HTML body is the complete report, and their names when the report is attached.

use super::changes::Change;
use super::model::{DigestModel, Finding, ProblemSite};
use super::strip::Strip;
use super::RenderOptions;
use crate::i18n::{self, labels};
use std::fmt::Write as _;
use vigia::wording::kind_label;

fn mark(opts: &RenderOptions, c: Change) -> String {
    let l = labels(opts.language);
    match c {
        Change::New => format!(" [{}]", l.new_mark),
        Change::OpenSince(t) => format!(" ({} {})", l.open_since, opts.date(t)),
        Change::Unknown => String::new(),
    }
}

fn finding(out: &mut String, opts: &RenderOptions, indent: &str, f: &Finding<'_>) {
    let _ = writeln!(
        out,
        "{indent}- {}: {}{}",
        kind_label(opts.language, f.verdict.kind()),
        f.sentence,
        mark(opts, f.change)
    );
}

fn strip(out: &mut String, opts: &RenderOptions, s: &Strip) {
    let l = labels(opts.language);
    let label = match &s.camera {
        Some(c) => i18n::camera_strip(opts.language, c),
        None => l.last_30.to_string(),
    };
    let _ = writeln!(
        out,
        "    {label} ({} – {}): {}",
        opts.day(s.first),
        opts.day(s.last()),
        s.text()
    );
}

fn problem(out: &mut String, opts: &RenderOptions, p: &ProblemSite<'_>) {
    let lang = opts.language;
    let l = labels(lang);
    let site = p.site;
    let _ = write!(out, "* {} — {}", site.site, kind_label(lang, p.worst));
    if !site.note.is_empty() {
        let _ = write!(out, " ({})", site.note);
    }
    if p.new {
        let _ = write!(out, " [{}]", l.new_mark);
    }
    out.push('\n');
    for f in &p.findings {
        finding(out, opts, "  ", f);
    }
    for r in &p.recorders {
        match &r.figures {
            Some(f) => {
                let _ = write!(out, "  {} · {}", r.name, f.tech);
                if let Some(o) = &f.oldest {
                    let _ = write!(out, " · {} {o}", l.oldest.to_lowercase());
                }
                if let Some(n) = &f.newest {
                    let _ = write!(out, " · {} {n}", l.newest.to_lowercase());
                }
                let _ = writeln!(
                    out,
                    " · {}{}",
                    i18n::days_line(lang, f.days, site.min_retention_days),
                    if f.days_red { l.below_minimum } else { "" }
                );
            }
            None => {
                let _ = writeln!(out, "  {}", r.name);
            }
        }
        for f in &r.findings {
            finding(out, opts, "  ", f);
        }
        for s in &r.strips {
            strip(out, opts, s);
        }
    }
    if !p.recovered.is_empty() {
        let kinds: Vec<&str> = p
            .recovered
            .iter()
            .map(|k| kind_label(lang, k.kind()))
            .collect();
        let _ = writeln!(out, "  {}: {}", l.cleared, kinds.join(", "));
    }
    out.push('\n');
}

/// The text part; `notice` says what of the complete report is attached when the HTML body is
/// a summary, `None` when it is the complete report.
pub fn render(
    m: &DigestModel<'_>,
    subject: &str,
    summary: &str,
    notice: Option<&str>,
    opts: &RenderOptions,
) -> String {
    let complete = notice.is_none();
    let lang = opts.language;
    let l = labels(lang);
    let mut out = String::with_capacity(300 * m.problems.len() + 80 * m.healthy.len() + 1024);
    let _ = writeln!(out, "{subject}\n{summary}\n");
    if let Some(notice) = notice {
        let _ = writeln!(out, "{notice}\n");
    }
    if !m.problems.is_empty() {
        let _ = writeln!(out, "== {} ({}) ==\n", l.problems, m.problems.len());
        for p in &m.problems {
            problem(&mut out, opts, p);
        }
    }
    if !m.acknowledged.is_empty() {
        let _ = writeln!(out, "== {} ({}) ==\n", l.acknowledged, m.acknowledged.len());
        for a in &m.acknowledged {
            let v = a.finding.verdict;
            let _ = write!(out, "* {} — {}", a.site.site, kind_label(lang, v.kind()));
            if !v.recorder.is_empty() {
                let _ = write!(out, " [{}]", v.recorder);
            }
            let _ = writeln!(out, ": {}", a.finding.sentence);
            let _ = write!(out, "  {}", l.acknowledged_by);
            if !a.ack.who.is_empty() {
                let _ = write!(out, " {}", a.ack.who);
            }
            if let Some(u) = &a.until {
                let _ = write!(out, " {} {u}", l.until);
            }
            if !a.ack.note.is_empty() {
                let _ = write!(out, ": “{}”", a.ack.note);
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !m.recovered.is_empty() {
        let _ = writeln!(out, "== {} ({}) ==\n", l.recovered_since, m.recovered.len());
        for r in &m.recovered {
            let kinds: Vec<&str> = r.kinds.iter().map(|k| kind_label(lang, *k)).collect();
            let _ = writeln!(out, "{}: {}", r.site, kinds.join(", "));
        }
        out.push('\n');
    }
    if !m.healthy.is_empty() {
        let _ = writeln!(out, "== {} ({}) ==\n", l.healthy, m.healthy.len());
        if complete {
            for h in &m.healthy {
                let multi = h.lines.len() > 1;
                if h.lines.is_empty() {
                    let _ = writeln!(out, "{}", h.site.site);
                }
                for (rec, f) in &h.lines {
                    out.push_str(&h.site.site);
                    if multi {
                        let _ = write!(out, " [{rec}]");
                    }
                    let _ = write!(out, " · {} · {}", f.tech, i18n::days_short(lang, f.days));
                    if let (Some(o), Some(n)) = (&f.oldest, &f.newest) {
                        let _ = write!(out, " · {o} – {n}");
                    }
                    out.push('\n');
                }
            }
        } else {
            let names: Vec<&str> = m.healthy.iter().map(|h| h.site.site.as_str()).collect();
            let _ = writeln!(out, "{}", names.join(", "));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} {}.\n{}",
        l.evaluated_at,
        opts.datetime(m.evaluated),
        l.sent_by
    );
    out
}
