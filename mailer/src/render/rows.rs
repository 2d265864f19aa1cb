//! The fleet as the digest keeps it: one compact, owned row per site, folded from each
//! `ListSites` page as it arrives so that the page's full reports (every recorded day, every
//! camera, the inventory) are dropped before the next page is read. At 50,000 sites a report
//! weighs about 25 KB and its row a few hundred bytes, so the mailer's memory follows what the
//! digest shows, not what the collector stores.
//!
//! What a row keeps is what the renderers read and nothing else: a site's findings (the
//! verdicts themselves, since their sentences are worded from their facts), each recorder's
//! figures, and — for a site with findings only — the coverage strips' data: the recorded days
//! of the strip's window as numbers and the day bitmaps of the cameras a finding names. A
//! healthy site keeps its name and its figures.

use super::changes::is_finding;
use super::strip::{day_key, STRIP_DAYS};
use vigia::days::from_timestamp;
use vigia::pb::{ListSitesResponse, SiteReport, SiteState, Technology, Verdict};

/// The fleet as the digest and the alert check read it: non-retired sites in the collector's
/// order, with the instant the collector evaluated them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetRows {
    /// When the collector evaluated the fleet (the first page's instant).
    pub evaluated_at: Option<prost_types::Timestamp>,
    /// One row per site, retired sites left out.
    pub sites: Vec<SiteRow>,
    /// Recorded days before this `YYYYMMDD` are dropped: no strip reaches them.
    cutoff: Option<u32>,
}

/// One site, as much as the digest shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    /// The site's name.
    pub site: String,
    /// The operator's note on the site.
    pub note: String,
    /// Days of recordings its contract promises.
    pub min_retention_days: u32,
    /// Its findings (verdicts other than OK), acknowledged ones included.
    pub verdicts: Vec<Verdict>,
    /// Each recorder that reported a status, in the report's order.
    pub recorders: Vec<RecorderRow>,
}

/// One recorder's figures and, at a site with findings, its strips' data.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderRow {
    /// The recorder's id.
    pub recorder: String,
    /// Its technology (wire number).
    pub technology: i32,
    /// Whether the scan found any file (else no oldest/newest is shown).
    pub has_files: bool,
    /// Oldest recording.
    pub oldest: Option<prost_types::Timestamp>,
    /// Newest recording.
    pub newest: Option<prost_types::Timestamp>,
    /// Days with recordings.
    pub days_recorded: u32,
    /// The probe's zone (the strip's days are its calendar days); empty at a healthy site.
    pub time_zone: String,
    /// The recorded days of the strip's window as `YYYYMMDD`, ascending; empty at a healthy site.
    pub recent_days: Vec<u32>,
    /// The day bitmaps of the cameras a finding names; empty at a healthy site.
    pub cameras: Vec<CameraDays>,
}

/// One camera's days, as the wire's day bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraDays {
    /// The camera.
    pub camera: String,
    /// The bitmap's first day, `YYYY-MM-DD`.
    pub first_day: String,
    /// One bit per day from `first_day`.
    pub day_bitmap: Vec<u8>,
}

impl RecorderRow {
    /// Its technology, `Unspecified` for a number this build does not know.
    pub fn technology(&self) -> Technology {
        Technology::try_from(self.technology).unwrap_or(Technology::Unspecified)
    }
}

impl FleetRows {
    /// No site yet.
    pub fn new() -> FleetRows {
        FleetRows::default()
    }

    /// The rows of a whole answer (tests, and collectors that answer in one message).
    pub fn from_response(resp: &ListSitesResponse) -> FleetRows {
        let mut rows = FleetRows::new();
        rows.fold(resp.clone());
        rows
    }

    /// Adds one page's sites, dropping what the digest does not show. The first page that
    /// carries an instant sets the fleet's (every page is evaluated at the first one's).
    pub fn fold(&mut self, page: ListSitesResponse) {
        if self.evaluated_at.is_none() {
            self.evaluated_at = page.evaluated_at;
            self.cutoff = self
                .evaluated_at
                .as_ref()
                .and_then(from_timestamp)
                // A strip's window ends on the evaluation's day in the probe's zone (a day
                // either side of UTC at most) and spans STRIP_DAYS: keep two days of margin.
                .and_then(|t| {
                    t.date_naive()
                        .checked_sub_days(chrono::Days::new(STRIP_DAYS as u64 + 2))
                })
                .and_then(|d| day_key(&vigia::days::format_day(d)));
        }
        self.sites.reserve(page.sites.len());
        for site in page.sites {
            if site.state() != SiteState::Retired {
                self.sites.push(row(site, self.cutoff));
            }
        }
    }
}

/// A site's row; `cutoff` bounds the recorded days kept.
fn row(site: SiteReport, cutoff: Option<u32>) -> SiteRow {
    let verdicts: Vec<Verdict> = site.verdicts.into_iter().filter(is_finding).collect();
    let problem = !verdicts.is_empty();
    let recorders = site
        .recorders
        .into_iter()
        .filter_map(|r| r.status)
        .map(|s| {
            let technology = s.technology;
            let mut r = RecorderRow {
                has_files: s.file_count > 0,
                oldest: s.oldest_recording,
                newest: s.newest_recording,
                days_recorded: s.days_recorded,
                technology,
                time_zone: String::new(),
                recent_days: Vec::new(),
                cameras: Vec::new(),
                recorder: s.recorder,
            };
            if problem {
                r.time_zone = s.time_zone;
                // The wire's days are sorted; an entry that is not a day is skipped, as the
                // strip always did.
                r.recent_days = s
                    .recorded_days
                    .iter()
                    .filter_map(|d| day_key(d))
                    .filter(|k| cutoff.is_none_or(|c| *k >= c))
                    .collect();
                r.cameras = s
                    .cameras
                    .into_iter()
                    .filter(|c| {
                        verdicts.iter().any(|v| {
                            v.recorder == r.recorder && v.cameras.first() == Some(&c.camera)
                        })
                    })
                    .map(|c| CameraDays {
                        camera: c.camera,
                        first_day: c.first_day,
                        day_bitmap: c.day_bitmap,
                    })
                    .collect();
            }
            r
        })
        .collect();
    SiteRow {
        site: site.site,
        note: site.note,
        min_retention_days: site.min_retention_days,
        verdicts,
        recorders,
    }
}
