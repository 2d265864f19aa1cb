//! What changed since the previous digest: the mailer remembers, per finding, when a digest
//! first showed it, and the renderer marks each finding new, still open since that day, or
//! recovered. The renderer only reads this memory; [`remember`] makes the next one, and the
//! service stores it once the relay accepted the digest.

use super::rows::FleetRows;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use vigia::pb::{ListSitesResponse, Verdict, VerdictKind};

/// One finding, as the digest memory identifies it from day to day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProblemKey {
    /// The site.
    pub site: String,
    /// The verdict kind, as its wire number.
    pub kind: i32,
    /// The recorder; empty for site-wide findings.
    pub recorder: String,
    /// The camera; empty for recorder- and site-wide findings.
    pub camera: String,
}

impl ProblemKey {
    /// The key of a site's verdict.
    pub fn of(site: &str, v: &Verdict) -> ProblemKey {
        ProblemKey {
            site: site.to_string(),
            kind: v.kind,
            recorder: v.recorder.clone(),
            camera: v.cameras.first().cloned().unwrap_or_default(),
        }
    }

    /// The kind, `Unspecified` for a number this build does not know.
    pub fn kind(&self) -> VerdictKind {
        VerdictKind::try_from(self.kind).unwrap_or(VerdictKind::Unspecified)
    }
}

/// The findings of the last digest sent, each with when a digest first showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestMemory {
    /// When that digest was made.
    pub at: Option<DateTime<Utc>>,
    /// Every finding it showed (acknowledged ones included) and when it was first shown.
    pub first_seen: BTreeMap<ProblemKey, DateTime<Utc>>,
}

/// How a finding compares with the previous digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No previous digest is known: nothing to compare with.
    Unknown,
    /// Not in the previous digest.
    New,
    /// Already there; first shown at this instant.
    OpenSince(DateTime<Utc>),
}

impl DigestMemory {
    /// How a finding of `site` compares with this memory.
    pub fn change(&self, site: &str, v: &Verdict) -> Change {
        match self.first_seen.get(&ProblemKey::of(site, v)) {
            Some(t) => Change::OpenSince(*t),
            None => Change::New,
        }
    }
}

/// True for a verdict that is a finding (not OK, not unset); defined with the rows it filters.
pub use super::rows::is_finding;

/// The memory to keep once the digest made at `at` from `fleet` went out: every finding shown,
/// with the first-seen time carried over from `previous` or `at` for new ones.
pub fn remember(
    fleet: &ListSitesResponse,
    previous: Option<&DigestMemory>,
    at: DateTime<Utc>,
) -> DigestMemory {
    remember_rows(&FleetRows::from_response(fleet), previous, at)
}

/// [`remember`] of the fleet as the digest folded it.
pub fn remember_rows(
    fleet: &FleetRows,
    previous: Option<&DigestMemory>,
    at: DateTime<Utc>,
) -> DigestMemory {
    let mut first_seen = BTreeMap::new();
    for site in &fleet.sites {
        for v in site.verdicts.iter().filter(|v| is_finding(v)) {
            let key = ProblemKey::of(&site.site, v);
            let t = previous
                .and_then(|p| p.first_seen.get(&key).copied())
                .unwrap_or(at);
            first_seen.insert(key, t);
        }
    }
    DigestMemory {
        at: Some(at),
        first_seen,
    }
}
