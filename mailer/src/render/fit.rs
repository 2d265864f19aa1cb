//! Keeping the HTML body under Gmail's clip ([`super::BODY_BUDGET`]) when the complete report
//! does not fit: the body says the complete report is attached, then spends its bytes by
//! priority — every problem site's name and verdict first, then the acknowledged findings'
//! lines, then every listed problem site's detail (the richest kind that fits them all: every
//! strip, only the strips with a missing day, or none; else brief detail for the worst ones),
//! the acknowledged findings' detail, the recovered sites, and as many healthy names as still
//! fit, each list ending with "and N more". Pieces are weighed as rendered, so the budget holds.

use super::html::{self, Ctx, Detail};
use super::model::DigestModel;
use super::BODY_BUDGET;
use crate::i18n;
use maud::html;

/// Bytes kept free for section headings and "and N more" rows.
const SLACK: usize = 2048;

/// How a problem site or acknowledged finding appears in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Left for the attachment ("and N more").
    Omitted,
    /// Name and verdict on one line.
    Line,
    /// Its block.
    Detail,
}

fn more_row(ctx: &Ctx<'_>, n: usize) -> String {
    html::lines_row(
        &html! { div style="color:#666666" { (i18n::and_more(ctx.lang, n)) } }.into_string(),
    )
}

/// The summarised body, opening with `notice` (what of the complete report is attached).
pub fn body(
    ctx: &Ctx<'_>,
    m: &DigestModel<'_>,
    subject: &str,
    summary: &str,
    notice: &str,
) -> String {
    let frame = html::page_of(ctx, m, subject, summary, "").len();
    let notice = html::notice(notice);
    let avail = BODY_BUDGET.saturating_sub(frame + notice.len() + SLACK);
    let mut used = 0usize;

    // Every problem site's line, then every acknowledged finding's, as far as they go (rendered
    // only while they fit: a mass outage at 10,000 sites has 10,000 of them).
    let mut p_lines: Vec<String> = Vec::new();
    for p in &m.problems {
        let l = html::problem_line(ctx, p);
        if used + l.len() > avail {
            break;
        }
        used += l.len();
        p_lines.push(l);
    }
    let mut p_tier = vec![Tier::Omitted; m.problems.len()];
    p_tier[..p_lines.len()].fill(Tier::Line);
    let mut a_lines: Vec<String> = Vec::new();
    for a in &m.acknowledged {
        let l = html::ack_line(ctx, a);
        if used + l.len() > avail {
            break;
        }
        used += l.len();
        a_lines.push(l);
    }
    let mut a_tier = vec![Tier::Omitted; m.acknowledged.len()];
    a_tier[..a_lines.len()].fill(Tier::Line);

    // Detail for every listed site, the richest kind that fits them all; else as many brief
    // ones as fit, worst first.
    let legend = html::legend(ctx);
    let listed = p_tier.iter().filter(|t| **t == Tier::Line).count();
    let mut blocks: Vec<String> = Vec::new();
    let mut with_strips = false;
    for detail in [Detail::Full, Detail::Lean, Detail::Brief] {
        let strips = detail != Detail::Brief;
        let mut grow = if strips { legend.len() } else { 0 };
        let mut tried: Vec<String> = Vec::with_capacity(listed);
        // Blocks are made for the listed sites only: a mass outage has thousands.
        for (p, line) in m.problems.iter().zip(&p_lines).take(listed) {
            let block = html::problem_block(ctx, p, detail);
            grow += block.len().saturating_sub(line.len());
            if used + grow > avail {
                break;
            }
            tried.push(block);
        }
        if tried.len() == listed || detail == Detail::Brief {
            used += tried
                .iter()
                .zip(&p_lines)
                .map(|(b, l)| b.len().saturating_sub(l.len()))
                .sum::<usize>()
                + if strips && !tried.is_empty() {
                    legend.len()
                } else {
                    0
                };
            for t in p_tier.iter_mut().take(tried.len()) {
                *t = Tier::Detail;
            }
            with_strips = strips && !tried.is_empty();
            blocks = tried;
            break;
        }
    }
    let mut ack_blocks: Vec<String> = Vec::new();
    for i in 0..a_lines.len() {
        if a_tier[i] != Tier::Line {
            break;
        }
        let block = html::ack_block(ctx, &m.acknowledged[i]);
        let grow = block.len().saturating_sub(a_lines[i].len());
        if used + grow > avail {
            break;
        }
        used += grow;
        a_tier[i] = Tier::Detail;
        ack_blocks.push(block);
    }

    let mut body = String::with_capacity(BODY_BUDGET);
    body.push_str(&notice);
    if !m.problems.is_empty() {
        body.push_str(&html::heading(ctx.l.problems, m.problems.len()));
        for b in &blocks {
            body.push_str(b);
        }
        if with_strips {
            body.push_str(&legend);
        }
        let lines: String = p_tier
            .iter()
            .zip(&p_lines)
            .filter(|(t, _)| **t == Tier::Line)
            .map(|(_, l)| l.as_str())
            .collect();
        let omitted = p_tier.iter().filter(|t| **t == Tier::Omitted).count();
        let listed = p_tier.iter().filter(|t| **t == Tier::Line).count();
        if listed > 0 || omitted > 0 {
            body.push_str(&html::heading(ctx.l.more_problems, listed + omitted));
            body.push_str(&html::lines_row(&lines));
        }
        if omitted > 0 {
            body.push_str(&more_row(ctx, omitted));
        }
    }
    if !m.acknowledged.is_empty() {
        body.push_str(&html::heading(ctx.l.acknowledged, m.acknowledged.len()));
        let mut lines = String::new();
        for (i, t) in a_tier.iter().enumerate() {
            match t {
                Tier::Detail => body.push_str(&ack_blocks[i]),
                Tier::Line => lines.push_str(&a_lines[i]),
                Tier::Omitted => {}
            }
        }
        if !lines.is_empty() {
            body.push_str(&html::lines_row(&lines));
        }
        let omitted = a_tier.iter().filter(|t| **t == Tier::Omitted).count();
        if omitted > 0 {
            body.push_str(&more_row(ctx, omitted));
        }
    }
    if !m.recovered.is_empty() {
        let mut lines = String::new();
        let mut shown = 0;
        for r in &m.recovered {
            let l = html::recovered_line(ctx, &r.site, &r.kinds);
            if used + l.len() > avail {
                break;
            }
            used += l.len();
            lines.push_str(&l);
            shown += 1;
        }
        body.push_str(&html::heading(ctx.l.recovered_since, m.recovered.len()));
        if shown > 0 {
            body.push_str(&html::lines_row(&lines));
        }
        if shown < m.recovered.len() {
            body.push_str(&more_row(ctx, m.recovered.len() - shown));
        }
    }
    if !m.healthy.is_empty() {
        body.push_str(&html::heading(ctx.l.healthy, m.healthy.len()));
        let mut names = String::new();
        let mut shown = 0;
        for h in &m.healthy {
            let name = html! { (h.site.site) }.into_string();
            let cost = name.len() + 2;
            if used + cost > avail {
                break;
            }
            used += cost;
            if shown > 0 {
                names.push_str(", ");
            }
            names.push_str(&name);
            shown += 1;
        }
        let rest = m.healthy.len() - shown;
        if rest > 0 {
            if shown > 0 {
                names.push_str(", ");
            }
            names.push_str(&html! { (i18n::and_more(ctx.lang, rest)) }.into_string());
        }
        body.push_str(&html::lines_row(&names));
    }
    html::page_of(ctx, m, subject, summary, &body)
}
