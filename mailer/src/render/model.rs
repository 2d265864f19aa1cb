//! The digest as the renderers see it, built once per email: sites ordered problems first (by
//! severity, then name), each problem site's findings grouped by recorder with their sentences,
//! change marks and coverage strips (per camera for the cameras at fault), acknowledged findings
//! apart, recovered sites, healthy sites with their figures. The HTML, text and CSV renderers only
//! lay it out.

use super::changes::{Change, DigestMemory, ProblemKey};
use super::rows::{FleetRows, RecorderRow, SiteRow};
use super::strip::{Strip, Windows};
use super::RenderOptions;
use crate::i18n;
use chrono::{DateTime, Utc};
use vigia::days::from_timestamp;
use vigia::pb::{Acknowledgement, Verdict, VerdictKind};
use vigia::rules::severity;

/// The whole digest.
pub struct DigestModel<'a> {
    /// When the collector evaluated the fleet.
    pub evaluated: DateTime<Utc>,
    /// Sites in the digest (retired ones left out).
    pub total: usize,
    /// Sites with at least one unacknowledged finding, worst first.
    pub problems: Vec<ProblemSite<'a>>,
    /// Acknowledged findings, by site.
    pub acknowledged: Vec<AckedFinding<'a>>,
    /// Sites without any finding now that had some in the previous digest.
    pub recovered: Vec<RecoveredSite>,
    /// Sites without any finding.
    pub healthy: Vec<HealthySite<'a>>,
    /// Problem sites per worst kind, by severity.
    pub by_kind: Vec<(VerdictKind, usize)>,
    /// Whether a previous digest was known (else no change marks).
    pub compared: bool,
    /// Sites whose findings are all acknowledged (neither problems nor healthy).
    pub acknowledged_only: usize,
}

/// One finding with its sentence in the email's language.
pub struct Finding<'a> {
    /// The verdict.
    pub verdict: &'a Verdict,
    /// Its sentence, worded by `vigia::wording` with the email's date formats.
    pub sentence: String,
    /// New, or open since when.
    pub change: Change,
}

/// The figures of one recorder, formatted.
pub struct Figures {
    /// Technology name.
    pub tech: &'static str,
    /// Oldest recording, when there are files.
    pub oldest: Option<String>,
    /// Newest recording, when there are files.
    pub newest: Option<String>,
    /// Days with recordings.
    pub days: u32,
    /// Under the site's minimum: the recorder has a SHORT_RETENTION finding.
    pub days_red: bool,
}

/// One recorder of a problem site.
pub struct RecorderBlock<'a> {
    /// The recorder's id.
    pub name: &'a str,
    /// Its figures; `None` when only a verdict names it.
    pub figures: Option<Figures>,
    /// Its unacknowledged findings, worst first.
    pub findings: Vec<Finding<'a>>,
    /// Its strips: one per camera at fault, and the recorder's own unless only cameras are.
    pub strips: Vec<Strip>,
}

/// A site with unacknowledged findings.
pub struct ProblemSite<'a> {
    /// The site's row.
    pub site: &'a SiteRow,
    /// Its worst unacknowledged kind.
    pub worst: VerdictKind,
    /// At least one finding is new since the previous digest.
    pub new: bool,
    /// Site-wide findings (SILENT, NEVER_REPORTED), worst first.
    pub findings: Vec<Finding<'a>>,
    /// Its recorders, in the report's order.
    pub recorders: Vec<RecorderBlock<'a>>,
    /// Findings of the previous digest that are gone.
    pub recovered: Vec<ProblemKey>,
}

/// One acknowledged finding.
pub struct AckedFinding<'a> {
    /// The site.
    pub site: &'a SiteRow,
    /// The finding.
    pub finding: Finding<'a>,
    /// Who, why, until when.
    pub ack: &'a Acknowledgement,
    /// `until`, formatted.
    pub until: Option<String>,
}

/// A site whose findings all cleared since the previous digest.
pub struct RecoveredSite {
    /// The site.
    pub site: String,
    /// What cleared.
    pub kinds: Vec<VerdictKind>,
}

/// A site without findings.
pub struct HealthySite<'a> {
    /// The site's row.
    pub site: &'a SiteRow,
    /// Each recorder's id and figures.
    pub lines: Vec<(&'a str, Figures)>,
}

impl ProblemSite<'_> {
    /// Every unacknowledged finding: site-wide first, then each recorder's.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding<'_>> {
        self.findings
            .iter()
            .chain(self.recorders.iter().flat_map(|r| r.findings.iter()))
    }
}

impl<'a> DigestModel<'a> {
    /// Reads the fleet once for every renderer.
    pub fn build(
        resp: &'a FleetRows,
        now: DateTime<Utc>,
        previous: Option<&DigestMemory>,
        opts: &RenderOptions,
    ) -> DigestModel<'a> {
        let evaluated = resp
            .evaluated_at
            .as_ref()
            .and_then(from_timestamp)
            .unwrap_or(now);
        let mut windows = Windows::new(evaluated, opts.tz);
        let mut m = DigestModel {
            evaluated,
            total: 0,
            problems: Vec::new(),
            acknowledged: Vec::new(),
            recovered: Vec::new(),
            healthy: Vec::new(),
            by_kind: Vec::new(),
            compared: previous.is_some(),
            acknowledged_only: 0,
        };
        for site in &resp.sites {
            m.total += 1;
            let finding = |v: &'a Verdict| Finding {
                verdict: v,
                sentence: super::verdict_sentence(v, opts),
                change: previous.map_or(Change::Unknown, |p| p.change(&site.site, v)),
            };
            let mut open: Vec<&Verdict> = Vec::new();
            let mut any = false;
            for v in &site.verdicts {
                any = true;
                match &v.acknowledgement {
                    Some(ack) => m.acknowledged.push(AckedFinding {
                        site,
                        finding: finding(v),
                        ack,
                        until: ack
                            .until
                            .as_ref()
                            .and_then(from_timestamp)
                            .map(|t| opts.datetime(t)),
                    }),
                    None => open.push(v),
                }
            }
            let gone = previous.map(|p| gone_findings(p, site)).unwrap_or_default();
            if !any {
                if !gone.is_empty() {
                    let mut kinds: Vec<VerdictKind> = gone.iter().map(ProblemKey::kind).collect();
                    kinds.sort_by_key(|k| std::cmp::Reverse(severity(*k)));
                    kinds.dedup();
                    m.recovered.push(RecoveredSite {
                        site: site.site.clone(),
                        kinds,
                    });
                }
                m.healthy.push(HealthySite {
                    site,
                    lines: site
                        .recorders
                        .iter()
                        .map(|s| (s.recorder.as_str(), figures(site, s, opts)))
                        .collect(),
                });
                continue;
            }
            if open.is_empty() {
                m.acknowledged_only += 1;
                continue;
            }
            open.sort_by_key(|v| std::cmp::Reverse(severity(v.kind())));
            let worst = open[0].kind();
            let site_wide: Vec<Finding<'a>> = open
                .iter()
                .filter(|v| v.recorder.is_empty())
                .map(|v| finding(v))
                .collect();
            let mut names: Vec<&'a str> =
                site.recorders.iter().map(|s| s.recorder.as_str()).collect();
            for v in &open {
                if !v.recorder.is_empty() && !names.contains(&v.recorder.as_str()) {
                    names.push(v.recorder.as_str());
                }
            }
            let recorders = names
                .into_iter()
                .map(|name| {
                    let status = site.recorders.iter().find(|s| s.recorder == name);
                    let findings: Vec<Finding<'a>> = open
                        .iter()
                        .filter(|v| v.recorder == name)
                        .map(|v| finding(v))
                        .collect();
                    let strips = match status {
                        Some(s) if !findings.is_empty() || !site_wide.is_empty() => {
                            strips(&mut windows, s, &findings)
                        }
                        _ => Vec::new(),
                    };
                    RecorderBlock {
                        name,
                        figures: status.map(|s| figures(site, s, opts)),
                        findings,
                        strips,
                    }
                })
                .collect();
            let p = ProblemSite {
                site,
                worst,
                new: false,
                findings: site_wide,
                recorders,
                recovered: gone,
            };
            let new = p.all_findings().any(|f| f.change == Change::New);
            m.problems.push(ProblemSite { new, ..p });
        }
        m.problems.sort_by(|a, b| {
            severity(b.worst)
                .cmp(&severity(a.worst))
                .then_with(|| a.site.site.cmp(&b.site.site))
        });
        for p in &m.problems {
            match m.by_kind.iter_mut().find(|(k, _)| *k == p.worst) {
                Some((_, n)) => *n += 1,
                None => m.by_kind.push((p.worst, 1)),
            }
        }
        m.acknowledged.sort_by(|a, b| {
            a.site.site.cmp(&b.site.site).then_with(|| {
                severity(b.finding.verdict.kind()).cmp(&severity(a.finding.verdict.kind()))
            })
        });
        m.healthy.sort_by(|a, b| a.site.site.cmp(&b.site.site));
        m.recovered.sort_by(|a, b| a.site.cmp(&b.site));
        m
    }

    /// (problem sites with a new finding, sites recovered) when a previous digest is known.
    pub fn change_counts(&self) -> Option<(usize, usize)> {
        self.compared.then(|| {
            (
                self.problems.iter().filter(|p| p.new).count(),
                self.recovered.len(),
            )
        })
    }
}

/// The previous digest's findings of `site` that it no longer has.
fn gone_findings(previous: &DigestMemory, site: &SiteRow) -> Vec<ProblemKey> {
    let start = ProblemKey {
        site: site.site.clone(),
        kind: i32::MIN,
        recorder: String::new(),
        camera: String::new(),
    };
    previous
        .first_seen
        .range(start..)
        .map(|(k, _)| k)
        .take_while(|k| k.site == site.site)
        .filter(|k| {
            !site
                .verdicts
                .iter()
                .any(|v| ProblemKey::of(&site.site, v) == **k)
        })
        .cloned()
        .collect()
}

/// A recorder's figures in the email's formats.
fn figures(site: &SiteRow, s: &RecorderRow, opts: &RenderOptions) -> Figures {
    let has_files = s.has_files;
    let ts = |t: Option<&prost_types::Timestamp>| {
        has_files
            .then(|| t.and_then(from_timestamp).map(|t| opts.datetime(t)))
            .flatten()
    };
    Figures {
        tech: i18n::technology(opts.language, s.technology()),
        oldest: ts(s.oldest.as_ref()),
        newest: ts(s.newest.as_ref()),
        days: s.days_recorded,
        // The verdict decides, not a threshold of the mailer's.
        days_red: site.verdicts.iter().any(|v| {
            v.kind() == VerdictKind::ShortRetention
                && v.recorder == s.recorder
                && v.cameras.is_empty()
        }),
    }
}

/// A recorder's strips: one per camera at fault (a camera gone from the scan shows no day), then
/// the recorder's own unless every finding is a camera's.
fn strips(windows: &mut Windows, s: &RecorderRow, findings: &[Finding<'_>]) -> Vec<Strip> {
    let mut out = Vec::new();
    let mut cameras: Vec<&str> = Vec::new();
    for f in findings {
        if let Some(c) = f.verdict.cameras.first() {
            if !cameras.contains(&c.as_str()) {
                cameras.push(c.as_str());
            }
        }
    }
    for c in &cameras {
        let strip = match s.cameras.iter().find(|x| x.camera == *c) {
            Some(cs) => windows.camera(s, cs),
            None => windows.absent_camera(s, c),
        };
        out.extend(strip);
    }
    let recorder_level =
        findings.is_empty() || findings.iter().any(|f| f.verdict.cameras.is_empty());
    if recorder_level || out.is_empty() {
        out.extend(windows.recorder(s));
    }
    out
}
