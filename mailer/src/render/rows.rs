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

//!
//! The pages are decoded into [`WirePage`], the `ListSitesResponse` of the contract with only the
//! fields a row keeps (protobuf skips the others without building them: the inventory, scan
//! errors, the cameras' figures), and the recorded days and cameras' names and bitmaps as
//! slices of the received page rather than one allocation each: at 50,000 sites those are some
//! seven million strings the digest never shows.

use super::days::{day_key_bytes, STRIP_DAYS};
use prost::bytes::Bytes;
use prost::Message as _;
use vigia::days::from_timestamp;
use vigia::pb::{ListSitesResponse, SiteState, Technology, Verdict, VerdictKind};

/// True for a verdict that is a finding (not OK, not unset).
pub fn is_finding(v: &Verdict) -> bool {
    !matches!(v.kind(), VerdictKind::Ok | VerdictKind::Unspecified)
}

/// `ListSitesResponse` as the mailer decodes it: the same wire, fewer fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WirePage {
    /// The page's sites.
    #[prost(message, repeated, tag = "1")]
    pub sites: Vec<WireSite>,
    /// The collector's clock when the verdicts were computed.
    #[prost(message, optional, tag = "2")]
    pub evaluated_at: Option<prost_types::Timestamp>,
    /// The next page's token; empty on the last.
    #[prost(string, tag = "3")]
    pub next_page_token: String,
}

/// `SiteReport`, the fields a row keeps.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireSite {
    /// The site's name.
    #[prost(string, tag = "1")]
    pub site: String,
    /// Its `SiteState` (wire number).
    #[prost(int32, tag = "2")]
    pub state: i32,
    /// Its recorders.
    #[prost(message, repeated, tag = "7")]
    pub recorders: Vec<WireRecorder>,
    /// Its verdicts.
    #[prost(message, repeated, tag = "8")]
    pub verdicts: Vec<Verdict>,
    /// Days of recordings its contract promises.
    #[prost(uint32, tag = "9")]
    pub min_retention_days: u32,
    /// The operator's note.
    #[prost(string, tag = "10")]
    pub note: String,
}

/// `RecorderReport`: its latest status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireRecorder {
    /// The latest status.
    #[prost(message, optional, tag = "1")]
    pub status: Option<WireStatus>,
}

/// `RecordingStatus`, the fields a row keeps.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireStatus {
    /// The recorder's id.
    #[prost(string, tag = "2")]
    pub recorder: String,
    /// Its `Technology` (wire number).
    #[prost(int32, tag = "3")]
    pub technology: i32,
    /// Oldest recording.
    #[prost(message, optional, tag = "9")]
    pub oldest_recording: Option<prost_types::Timestamp>,
    /// Newest recording.
    #[prost(message, optional, tag = "10")]
    pub newest_recording: Option<prost_types::Timestamp>,
    /// Days with recordings.
    #[prost(uint32, tag = "11")]
    pub days_recorded: u32,
    /// The recorded days, `YYYY-MM-DD`, as slices of the page.
    #[prost(bytes = "bytes", repeated, tag = "12")]
    pub recorded_days: Vec<Bytes>,
    /// Files found.
    #[prost(uint64, tag = "13")]
    pub file_count: u64,
    /// Per-camera status.
    #[prost(message, repeated, tag = "15")]
    pub cameras: Vec<WireCamera>,
    /// The probe's zone.
    #[prost(string, tag = "22")]
    pub time_zone: String,
}

/// `CameraStatus`: its name and day bitmap, as slices of the page.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireCamera {
    /// The camera (UTF-8).
    #[prost(bytes = "bytes", tag = "1")]
    pub camera: Bytes,
    /// The bitmap's first day, `YYYY-MM-DD`.
    #[prost(bytes = "bytes", tag = "8")]
    pub first_day: Bytes,
    /// One bit per day from `first_day`.
    #[prost(bytes = "bytes", tag = "9")]
    pub day_bitmap: Bytes,
}

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

    /// The rows of a whole answer (tests, and collectors that answer in one message), read
    /// through the same decoding as the pages.
    pub fn from_response(resp: &ListSitesResponse) -> FleetRows {
        let mut rows = FleetRows::new();
        // A message just encoded from the contract's own type decodes.
        rows.fold(WirePage::decode(resp.encode_to_vec().as_slice()).unwrap_or_default());
        rows
    }

    /// Adds one page's sites, dropping what the digest does not show. The first page that
    /// carries an instant sets the fleet's (every page is evaluated at the first one's).
    pub fn fold(&mut self, page: WirePage) {
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
                .and_then(|d| day_key_bytes(vigia::days::format_day(d).as_bytes()));
        }
        self.sites.reserve(page.sites.len());
        for site in page.sites {
            if site.state != SiteState::Retired as i32 {
                self.sites.push(row(site, self.cutoff));
            }
        }
    }
}

/// Text sent as bytes: the collector writes UTF-8; anything else is shown replaced.
fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A site's row; `cutoff` bounds the recorded days kept.
fn row(site: WireSite, cutoff: Option<u32>) -> SiteRow {
    let verdicts: Vec<Verdict> = site.verdicts.into_iter().filter(is_finding).collect();
    let problem = !verdicts.is_empty();
    let recorders = site
        .recorders
        .into_iter()
        .filter_map(|r| r.status)
        .map(|s| {
            let mut r = RecorderRow {
                has_files: s.file_count > 0,
                oldest: s.oldest_recording,
                newest: s.newest_recording,
                days_recorded: s.days_recorded,
                technology: s.technology,
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
                    .filter_map(|d| day_key_bytes(d))
                    .filter(|k| cutoff.is_none_or(|c| *k >= c))
                    .collect();
                r.cameras = s
                    .cameras
                    .iter()
                    .filter(|c| {
                        verdicts.iter().any(|v| {
                            v.recorder == r.recorder
                                && v.cameras.first().map(String::as_bytes) == Some(&c.camera[..])
                        })
                    })
                    .map(|c| CameraDays {
                        camera: text(&c.camera),
                        first_day: text(&c.first_day),
                        day_bitmap: c.day_bitmap.to_vec(),
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
