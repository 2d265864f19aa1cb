//! The sled store. One tree per record type, keys built for prefix scans: names first (site and
//! recorder names can never contain the `\0` separator, see `validate_name`), then big-endian
//! numbers so that byte order is time order. The layout has a version number checked at open,
//! so a future collector never misreads an old store (or the other way round).
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `layout_version` | u32 BE |
//! | `sites` | site | [`SiteRecord`] |
//! | `latest` | site `\0` recorder | observed_at µs (8, i64 BE) + the `history` key of the latest status |
//! | `history` | site `\0` received µs (8) sequence (8) recorder `\0` spool | `pb::HistoryEntry`, or `0x00` + `crate::beat::Beat` (a repeat of a full entry) |
//! | `history` | site `\0` window start µs (8) `0` (8) `\0` (no recorder) | `0x01` + a block: the window's heartbeats under their own keys (`crate::block`, `crate::fold`) |
//! | `seen` | site `\0` spool `\0` sequence (8) | received µs (8): dedup marks of an older collector, no longer written (a re-send is found in `history`), pruned at `full_for` |
//! | `inventory` | site `\0` recorder | recorders and cameras seen (`crate::inventory`) |
//! | `acks` | site `\0` id (8) | acknowledgements (`crate::acks`) |
//! | `timeline` | site `\0` start ns (8, i64 BE) kind (4) recorder `\0` camera | end ns (8): a verdict fragment of thinned history (`crate::thin`) |
//! | `thinned` | site | ns (8, i64 BE): history received before it is thinned, its timeline stored |
//! | `thinned` | site `\0` | watermark µs (8, BE), daily line µs (8, BE) of the site's last pass that finished deleting (`crate::thin_ranges`) |
//! | `thinned` | site `\0fold` | µs (8, BE): the thinning watermark the site's last pass that finished folding its archive folded days up to (`crate::thin_ranges`, `crate::fold`) |
//! | archive's `history` | as `history` | what the hourly pass moved out of `history`: blocks, and full statuses as records of their own (`crate::archive`, `crate::fold`) |
//!
//! With `[store] compression`, a store the collector creates compresses its own sled pages
//! with zstd, for about half the peak ingest rate (sled 0.34 builds a compression context for
//! every page it writes; bench/collector.sh), which still leaves thousands of statuses a
//! second where a fleet sends a few. Off by default, so the ingest floor of 10,000 durable
//! acks a second holds. The archive (`crate::archive`) always compresses: the ack path never
//! writes it. sled fixes the setting when a store is created (`store salvage --to` copies a
//! store into a new one made with the configured setting).
//!
//! `latest` points into `history` rather than copying the status: each status is written once
//! (sled copies a leaf on every insert, so a second 1 KB copy cost as much as the first), and
//! pruning never removes a history entry that a `latest` pointer names.
//!
//! A status repeating its recorder's previous full status in everything verdicts are made of is
//! stored as a heartbeat naming that full status (`crate::beat`); a heartbeat's base is at most
//! [`REBASE`] older than it, so that pruning knows how far past its cut-off to look for bases to
//! keep. Layout 2 added heartbeats, layout 3 thinning (`crate::thin`), layout 4 blocks (the
//! hourly pass folds each past hour's heartbeats into one record: sled spends a few hundred
//! bytes on each record), layout 5 the archive (a second sled database in the store folder,
//! where the pass moves history past its first hour, so that what dies young and what lives
//! for months are in different logs); an older store is read as it is and marked 5 at open.
//! Every reader of history goes through `crate::history_scan`, which opens blocks and reads
//! both trees.
//!
//! Statuses are written by the writer's own threads (`crate::writer`, never on the async
//! runtime's threads, where a waiting sled call held up every stream); a status is
//! acknowledged only after a flush that began after its writes, and one flush serves every
//! status waiting for it (group commit).

use chrono::{DateTime, Utc};
use prost::Message;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigia::days::{from_timestamp, to_timestamp};
use vigia::pb::{HistoryEntry, RecordingStatus};

use crate::beat::{Beat, Fingerprint, Hasher128};
pub use crate::store_error::{NotDurable, StoreError};

/// The layout this collector writes and reads.
pub const LAYOUT_VERSION: u32 = 5;
/// The older layouts this collector still opens (and upgrades: layout 2 only added heartbeats,
/// layout 3 the `timeline` and `thinned` trees, empty in an older store: nothing thinned yet,
/// layout 4 history blocks, none in an older store: its history is folded as passes go,
/// layout 5 the archive, created empty: an older store's history moves there as passes go).
const LAYOUT_UPGRADABLE: [u32; 4] = [1, 2, 3, 4];
/// Longest time a heartbeat may follow its base: past it the next status is stored in full.
pub const REBASE: Duration = Duration::from_secs(24 * 3600);

/// [`REBASE`] in µs, the unit of history keys.
pub(crate) const REBASE_US: u64 = REBASE.as_secs() * 1_000_000;
/// How far back a re-sent status's original is looked for. A probe re-sends what was not
/// acknowledged, when it reconnects; a week covers a site machine switched off for days.
pub const DEDUP_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);
const VERSION_KEY: &[u8] = b"layout_version";
/// Set in `meta` when a layout-5 store was opened without its archive (`crate::archive`).
const ARCHIVE_LOST_KEY: &[u8] = b"archive_lost";
const SEP: u8 = 0;

/// What the collector knows of a site beyond its statuses (the inventory).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SiteRecord {
    /// First status ever received.
    #[prost(message, optional, tag = "1")]
    pub first_contact: Option<prost_types::Timestamp>,
    /// Latest status received.
    #[prost(message, optional, tag = "2")]
    pub last_contact: Option<prost_types::Timestamp>,
    /// Highest sequence stored for `spool_id`.
    #[prost(uint64, tag = "3")]
    pub last_sequence: u64,
    /// The probe's current spool.
    #[prost(string, tag = "4")]
    pub spool_id: String,
    /// Interval the probe announced in its latest status.
    #[prost(message, optional, tag = "5")]
    pub report_interval: Option<prost_types::Duration>,
    /// Expected through Admin.
    #[prost(bool, tag = "6")]
    pub expected: bool,
    /// Retired through Admin.
    #[prost(bool, tag = "7")]
    pub retired: bool,
    /// Note given with ExpectSite.
    #[prost(string, tag = "8")]
    pub note: String,
    /// Interval given with ExpectSite, until the probe announces its own.
    #[prost(message, optional, tag = "9")]
    pub expected_interval: Option<prost_types::Duration>,
    /// When it was retired.
    #[prost(message, optional, tag = "10")]
    pub retired_at: Option<prost_types::Timestamp>,
    /// Statuses the site's probe said it dropped from its full spool, in all.
    #[prost(uint64, tag = "11")]
    pub dropped_total: u64,
    /// When a status last reported drops (collector's clock).
    #[prost(message, optional, tag = "12")]
    pub last_drop_at: Option<prost_types::Timestamp>,
    /// How many that status reported.
    #[prost(uint64, tag = "13")]
    pub last_drop_count: u64,
    /// The site's other recent spools, newest first (at most [`OTHER_SPOOLS`]): two probes at
    /// one site, or a probe reinstalled, each keep their highest sequence.
    #[prost(message, repeated, tag = "14")]
    pub other_spools: Vec<SpoolMark>,
}

/// A spool's highest sequence stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpoolMark {
    /// The spool.
    #[prost(string, tag = "1")]
    pub spool_id: String,
    /// Its highest sequence stored.
    #[prost(uint64, tag = "2")]
    pub last_sequence: u64,
}

/// Spools of a site remembered besides its current one.
pub const OTHER_SPOOLS: usize = 3;

impl SiteRecord {
    /// The highest sequence stored from `spool`, if the site has had it recently.
    fn sequence_of(&self, spool: &str) -> Option<u64> {
        if self.spool_id == spool {
            return Some(self.last_sequence);
        }
        self.other_spools
            .iter()
            .find(|m| m.spool_id == spool)
            .map(|m| m.last_sequence)
    }

    /// Records `sequence` stored from `spool`, which becomes the current one.
    fn stored(&mut self, spool: &str, sequence: u64) {
        if self.spool_id == spool {
            self.last_sequence = self.last_sequence.max(sequence);
            return;
        }
        let before = self
            .other_spools
            .iter()
            .position(|m| m.spool_id == spool)
            .map(|i| self.other_spools.remove(i).last_sequence);
        let current = SpoolMark {
            spool_id: std::mem::replace(&mut self.spool_id, spool.to_string()),
            last_sequence: self.last_sequence,
        };
        if !current.spool_id.is_empty() {
            self.other_spools.insert(0, current);
            self.other_spools.truncate(OTHER_SPOOLS);
        }
        self.last_sequence = before.map_or(sequence, |b| b.max(sequence));
    }
}

/// Open trees of one store folder.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    cache_bytes: u64,
    /// `[store] compression`, for a store created when the folder is empty.
    compress_new: bool,
    /// Keeps the marker beside sled's files up to date (`crate::store_guard`).
    pub(crate) marker: std::sync::Arc<crate::marker::MarkerWatch>,
    pub(crate) db: sled::Db,
    sites: sled::Tree,
    pub(crate) latest: sled::Tree,
    pub(crate) history: sled::Tree,
    /// The archive (`crate::archive`) and its `history` tree: what the hourly pass moved.
    archive_db: sled::Db,
    pub(crate) archive: sled::Tree,
    pub(crate) seen: sled::Tree,
    /// Verdict fragments of thinned history (`crate::thin`).
    pub(crate) timeline: sled::Tree,
    /// How far each site's history is thinned (`crate::thin`).
    pub(crate) thinned: sled::Tree,
    pub(crate) inventory: sled::Tree,
    pub(crate) acks: sled::Tree,
    /// The last full status written per `site \0 recorder` (lost at restart: the first status
    /// after one is stored in full).
    bases: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, Base>>>,
    hasher: std::sync::Arc<Hasher128>,
}

/// A recorder's base for heartbeats: its last full status.
struct Base {
    /// Its history key after `site\0`.
    suffix: Vec<u8>,
    fingerprint: Fingerprint,
    received_us: u64,
}

pub(crate) fn micros(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

pub(crate) use crate::history_scan::prefix;

pub(crate) fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = prefix(a);
    k.extend_from_slice(b.as_bytes());
    k
}

fn history_key(site: &str, received_us: u64, seq: u64, recorder: &str, spool: &str) -> Vec<u8> {
    let mut k = prefix(site);
    k.extend_from_slice(&received_us.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(recorder.as_bytes());
    k.push(SEP);
    k.extend_from_slice(spool.as_bytes());
    k
}

/// When a `latest` pointer's status arrived: its history key holds the arrival time right
/// after `site\0`.
pub fn pointer_received(site: &str, pointer: &[u8]) -> Option<DateTime<Utc>> {
    let at = pointer.get(8 + site.len() + 1..8 + site.len() + 9)?;
    let us = u64::from_be_bytes(<[u8; 8]>::try_from(at).ok()?);
    let t = prost_types::Timestamp {
        seconds: i64::try_from(us / 1_000_000).ok()?,
        nanos: i32::try_from((us % 1_000_000) * 1000).ok()?,
    };
    from_timestamp(&t)
}

/// The recorder named in a history key's suffix (after `site\0`).
pub(crate) fn history_recorder(suffix: &[u8]) -> Option<&[u8]> {
    let rest = suffix.get(16..)?;
    let end = rest.iter().position(|b| *b == SEP)?;
    Some(&rest[..end])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One page of history.
#[derive(Debug, Default)]
pub struct HistoryPage {
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
    /// Where the next page starts; `None` when there is no more.
    pub next_token: Option<String>,
}

/// Why a history request is refused.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The page token did not come from this collector.
    #[error("page_token: not a token returned by this collector")]
    BadToken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// zstd's level for sled's pages: zstd's own default (every page write on the ingest path pays
/// its CPU; bench/collector.sh and bench/latency.sh measure that cost).
const COMPRESSION_LEVEL: i32 = 3;

/// Whether the store in `dir` compresses its pages: as it was created (sled refuses to open a
/// store with the other setting, and records it in its `conf` file), or `compress_new` for a
/// new store. Stores made before compression was turned on stay uncompressed.
fn compressed(dir: &Path, compress_new: bool) -> bool {
    match std::fs::read(dir.join("conf")) {
        Ok(conf) => conf
            .windows(b"use_compression: true".len())
            .any(|w| w == b"use_compression: true"),
        Err(_) => compress_new,
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, with sled's cache limited to `cache_bytes`, and
    /// checks its layout version. Unfinished snapshots of a failed open are removed first, and
    /// a panic inside sled becomes [`StoreError::Damaged`]. The collector opens with
    /// [`Store::open_checked`], which also refuses a store that lost data.
    /// A new store is created uncompressed (`[store] compression`'s default).
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_as(dir, cache_bytes, false)
    }

    /// [`Store::open`], creating a new store with sled's page compression if `compress_new`
    /// (`[store] compression`); an existing store keeps the setting it was created with.
    pub fn open_as(dir: &Path, cache_bytes: u64, compress_new: bool) -> Result<Store, StoreError> {
        crate::marker::remove_stale_snapshots(dir).map_err(|e| StoreError::Sled {
            dir: dir.to_path_buf(),
            source: sled::Error::Io(e),
        })?;
        crate::marker::no_panic(dir, "opening it", || {
            Store::open_inner(dir, cache_bytes, compress_new)
        })
    }

    fn open_inner(dir: &Path, cache_bytes: u64, compress_new: bool) -> Result<Store, StoreError> {
        let sled_err = |source: sled::Error| StoreError::Sled {
            dir: dir.to_path_buf(),
            source,
        };
        // A quarter for the archive (`crate::archive`: History and the pass read it); the ack
        // path and the fleet view read this one.
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes - cache_bytes / 4)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(1000))
            .use_compression(compressed(dir, compress_new))
            .compression_factor(COMPRESSION_LEVEL);
        // A holder just exiting (a restart) is waited for briefly before calling the folder in use.
        let wait = std::time::Duration::from_secs(2);
        let db = vigia::sled_open::open_waiting(dir, wait, || config.open())
            .map_err(|e| StoreError::opening(dir, e))?;
        let meta = db.open_tree("meta").map_err(sled_err)?;
        let layout = meta.get(VERSION_KEY).map_err(sled_err)?;
        if layout.as_deref() == Some(&LAYOUT_VERSION.to_be_bytes()[..])
            && !crate::archive::exists(dir)
        {
            // sled would make an empty one: the history it held is lost, which the open guard
            // (`crate::store_guard`) and `store check` say until the store is salvaged.
            let now = micros(Utc::now());
            meta.insert(ARCHIVE_LOST_KEY, &now.to_be_bytes())
                .map_err(sled_err)?;
            db.flush().map_err(sled_err)?;
        }
        match layout {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if LAYOUT_UPGRADABLE.contains(&found) {
                    meta.insert(VERSION_KEY, &LAYOUT_VERSION.to_be_bytes())
                        .map_err(sled_err)?;
                    db.flush().map_err(sled_err)?;
                } else if found != LAYOUT_VERSION {
                    return Err(StoreError::Version {
                        dir: dir.to_path_buf(),
                        found,
                        expected: LAYOUT_VERSION,
                    });
                }
            }
            None => {
                meta.insert(VERSION_KEY, &LAYOUT_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                db.flush().map_err(sled_err)?;
            }
        }
        let marker = crate::marker::read_marker(dir).ok().flatten();
        let (archive_db, archive) = crate::archive::open(dir, cache_bytes / 4)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            cache_bytes,
            compress_new,
            marker: std::sync::Arc::new(crate::marker::MarkerWatch::from_marker(marker.as_ref())),
            sites: db.open_tree("sites").map_err(sled_err)?,
            latest: db.open_tree("latest").map_err(sled_err)?,
            history: db.open_tree("history").map_err(sled_err)?,
            archive_db,
            archive,
            seen: db.open_tree("seen").map_err(sled_err)?,
            timeline: db.open_tree("timeline").map_err(sled_err)?,
            thinned: db.open_tree("thinned").map_err(sled_err)?,
            inventory: db.open_tree("inventory").map_err(sled_err)?,
            acks: db.open_tree("acks").map_err(sled_err)?,
            bases: Default::default(),
            hasher: Default::default(),
            db,
        })
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// sled's cache limit it was opened with (a reopen uses the same).
    pub fn cache_bytes(&self) -> u64 {
        self.cache_bytes
    }

    /// Whether a store created in its place compresses (a reopen uses the same).
    pub fn compress_new(&self) -> bool {
        self.compress_new
    }

    /// Number of sites in the inventory.
    pub fn site_count(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kv in self.sites.iter().keys() {
            kv.map_err(|e| self.err(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Number of `latest` pointers naming a history record that is not there (damage).
    pub fn dangling_latest(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kv in self.latest.iter() {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            let present = match v.get(8..) {
                Some(k) => self.trees().get(k)?.is_some(),
                None => false,
            };
            if !present {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Writes and flushes a small record: proof that the store writes (after a reopen).
    pub fn write_check(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree("meta").map_err(|e| self.err(e))?;
        let now = micros(Utc::now());
        meta.insert(b"write_check", &now.to_be_bytes())
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// The raw sled database (the `store` commands copy every tree).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    pub(crate) fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            dir: self.dir.clone(),
            source,
        }
    }

    pub(crate) fn corrupt(&self, tree: &'static str, e: prost::DecodeError) -> StoreError {
        StoreError::Corrupt {
            dir: self.dir.clone(),
            tree,
            reason: e.to_string(),
        }
    }

    /// A damaged history named by what is wrong with it (no decode error behind it).
    pub(crate) fn corrupt_because(&self, reason: &str) -> StoreError {
        StoreError::Corrupt {
            dir: self.dir.clone(),
            tree: "history",
            reason: reason.to_string(),
        }
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// Makes every write to the archive so far durable (the pass, before it removes what it
    /// moved; a collector stopping).
    pub fn flush_archive(&self) -> Result<(), StoreError> {
        self.archive_db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// When an open found this store's archive missing (µs since the epoch): the history the
    /// hourly passes had moved there is lost (the open guard refuses such a store).
    pub fn archive_lost(&self) -> Result<Option<u64>, StoreError> {
        let meta = self.db.open_tree("meta").map_err(|e| self.err(e))?;
        Ok(meta
            .get(ARCHIVE_LOST_KEY)
            .map_err(|e| self.err(e))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// The archive's sled database (the `store` commands copy it too).
    pub fn archive_db(&self) -> &sled::Db {
        &self.archive_db
    }

    /// Both trees a site's statuses are in (`crate::history_scan::Trees`).
    pub(crate) fn trees(&self) -> crate::history_scan::Trees<'_> {
        crate::history_scan::Trees {
            hot: &self.history,
            archive: &self.archive,
            dir: &self.dir,
        }
    }

    /// One site's inventory record.
    pub fn site(&self, site: &str) -> Result<Option<SiteRecord>, StoreError> {
        match self.sites.get(site.as_bytes()).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(
                SiteRecord::decode(v.as_ref()).map_err(|e| self.corrupt("sites", e))?,
            )),
            None => Ok(None),
        }
    }

    /// Every site in the inventory, by name.
    pub fn sites(&self) -> Result<Vec<(String, SiteRecord)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.sites.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let rec = SiteRecord::decode(v.as_ref()).map_err(|e| self.corrupt("sites", e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), rec));
        }
        Ok(out)
    }

    /// The sites after `after` (all when `None`) whose names start with `prefix`, by name,
    /// read one at a time: a ListSites page costs what it returns, not the whole fleet.
    pub fn sites_after<'a>(
        &'a self,
        after: Option<&str>,
        prefix: &'a str,
    ) -> impl Iterator<Item = Result<(String, SiteRecord), StoreError>> + 'a {
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a.as_bytes().to_vec()),
            _ => std::ops::Bound::Included(prefix.as_bytes().to_vec()),
        };
        self.sites
            .range((start, std::ops::Bound::Unbounded))
            .take_while(move |kv| {
                kv.as_ref()
                    .map_or(true, |(k, _)| k.starts_with(prefix.as_bytes()))
            })
            .map(move |kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                let rec = SiteRecord::decode(v.as_ref()).map_err(|e| self.corrupt("sites", e))?;
                Ok((String::from_utf8_lossy(&k).into_owned(), rec))
            })
    }

    /// The latest status of each recorder of a site, by recorder id.
    pub fn latest(&self, site: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.latest.scan_prefix(prefix(site)) {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            let Some(hkey) = v.get(8..) else {
                return Err(StoreError::Corrupt {
                    dir: self.dir.clone(),
                    tree: "latest",
                    reason: format!("{} bytes, expected a pointer", v.len()),
                });
            };
            if let Some(entry) = self.trees().get(hkey)? {
                out.push(self.entry(site, &entry, &mut None)?);
            }
        }
        Ok(out)
    }

    /// A stored history value as the entry received, a heartbeat rebuilt from its base.
    /// `last_base` keeps the base last read (consecutive heartbeats mostly share it).
    pub(crate) fn entry(
        &self,
        site: &str,
        value: &[u8],
        last_base: &mut Option<(Vec<u8>, HistoryEntry)>,
    ) -> Result<HistoryEntry, StoreError> {
        let beat = match crate::beat::decode(value).map_err(|e| self.corrupt("history", e))? {
            crate::beat::Stored::Full(e) => return Ok(*e),
            crate::beat::Stored::Beat(b) => b,
        };
        let base = match last_base {
            Some((k, e)) if *k == beat.base => e.clone(),
            _ => {
                let key = [prefix(site).as_slice(), &beat.base].concat();
                let v = self
                    .trees()
                    .get(&key)?
                    .ok_or_else(|| self.corrupt_because("a heartbeat's base status is missing"))?;
                let base = match crate::beat::decode(&v).map_err(|e| self.corrupt("history", e))? {
                    crate::beat::Stored::Full(e) => *e,
                    crate::beat::Stored::Beat(_) => {
                        return Err(self.corrupt_because("a heartbeat's base is a heartbeat"))
                    }
                };
                *last_base = Some((beat.base.clone(), base.clone()));
                base
            }
        };
        beat.rebuild(base)
            .map_err(|e| self.corrupt_because(&format!("a heartbeat does not fit its base: {e}")))
    }

    /// The history keys pruning must keep for a site: those the `latest` pointers name, and the
    /// bases of the heartbeats kept (received from `cutoff` on: their bases are at most
    /// [`REBASE`] older, so only heartbeats up to `cutoff + REBASE` can name a base before it).
    fn kept_keys(
        &self,
        site: &str,
        cutoff: u64,
    ) -> Result<std::collections::HashSet<Vec<u8>>, StoreError> {
        let pre = prefix(site);
        let mut keys = self.with_bases(site, &self.named_by_latest(site)?)?;
        let rebase_us = REBASE_US;
        let lo = crate::history_scan::key_at(&pre, cutoff);
        let hi =
            crate::history_scan::key_at(&pre, cutoff.saturating_add(rebase_us).saturating_add(1));
        for m in self.scan(site, Bound::Included(lo), Bound::Excluded(hi), false) {
            if let Some(base) = crate::beat::base_of(&m?.value) {
                keys.insert([pre.as_slice(), &base].concat());
            }
        }
        Ok(keys)
    }

    /// `named` (history keys of `site`) and the bases of the heartbeats among them: what must
    /// stay readable for those statuses to be rebuilt (pruning, and the pass keeping the latest
    /// statuses in the store's own tree).
    pub(crate) fn with_bases(
        &self,
        site: &str,
        named: &std::collections::HashSet<Vec<u8>>,
    ) -> Result<std::collections::HashSet<Vec<u8>>, StoreError> {
        let pre = prefix(site);
        let mut keys = named.clone();
        for key in named {
            if let Some(base) = self
                .trees()
                .get(key)?
                .and_then(|v| crate::beat::base_of(&v))
            {
                keys.insert([pre.as_slice(), &base].concat());
            }
        }
        Ok(keys)
    }

    /// Past statuses of a site (one recorder, or all), newest first, received in `[from, to]`.
    pub fn history(
        &self,
        site: &str,
        recorder: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<HistoryPage, HistoryError> {
        let pre = prefix(site);
        let mut lo = pre.clone();
        lo.extend_from_slice(&from.map(micros).unwrap_or(0).to_be_bytes());
        let hi = match page_token {
            Some(t) => {
                let suffix = unhex(t).ok_or(HistoryError::BadToken)?;
                if suffix.len() < 16 || history_recorder(&suffix).is_none() {
                    return Err(HistoryError::BadToken);
                }
                let mut k = pre.clone();
                k.extend_from_slice(&suffix);
                Bound::Included(k)
            }
            None => match to {
                Some(t) => {
                    let mut k = pre.clone();
                    k.extend_from_slice(&micros(t).saturating_add(1).to_be_bytes());
                    Bound::Excluded(k)
                }
                None => {
                    // Everything of the site: the prefix with its separator bumped past \0.
                    let mut k = site.as_bytes().to_vec();
                    k.push(SEP + 1);
                    Bound::Excluded(k)
                }
            },
        };
        let mut page = HistoryPage::default();
        let mut last_base = None;
        for m in self.scan(site, Bound::Included(lo), hi, true) {
            let crate::history_scan::Member {
                key: k, value: v, ..
            } = m?;
            let suffix = &k[pre.len()..];
            if let Some(r) = recorder {
                if history_recorder(suffix) != Some(r.as_bytes()) {
                    continue;
                }
            }
            if page.entries.len() == page_size {
                page.next_token = Some(hex(suffix));
                break;
            }
            page.entries.push(self.entry(site, &v, &mut last_base)?);
        }
        Ok(page)
    }

    /// The history keys the `latest` pointers of `site` name (records of their own, never folded
    /// or thinned away).
    pub(crate) fn named_by_latest(
        &self,
        site: &str,
    ) -> Result<std::collections::HashSet<Vec<u8>>, StoreError> {
        let mut named = std::collections::HashSet::new();
        for kv in self.latest.scan_prefix(prefix(site)) {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            if let Some(k) = v.get(8..) {
                named.insert(k.to_vec());
            }
        }
        Ok(named)
    }

    /// The statuses of `site` with history keys within `(lo, hi)`, in key order (reversed when
    /// `rev`), blocks opened (`crate::history_scan`).
    pub(crate) fn scan(
        &self,
        site: &str,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        rev: bool,
    ) -> crate::history_scan::Scan<'_> {
        crate::history_scan::scan(self.trees(), site, lo, hi, rev)
    }

    /// Number of history entries of a site (tests and metrics).
    pub fn history_len(&self, site: &str) -> usize {
        self.scan(site, Bound::Unbounded, Bound::Unbounded, false)
            .count()
    }

    /// Removes history received before `before`; returns how many statuses went. (An older
    /// collector's dedup marks go in `thin::compact`, at `full_for`.)
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = micros(before);
        let mut removed = 0;
        for (site, _) in self.sites()? {
            let lo = prefix(&site);
            let mut hi = lo.clone();
            hi.extend_from_slice(&cutoff.to_be_bytes());
            // Nothing this old (the site's first record is newer): nothing read but that key.
            let oldest = self.trees().first_from(&lo)?;
            if oldest.is_none_or(|k| k.as_ref() >= hi.as_slice()) {
                continue;
            }
            let keep = self.kept_keys(&site, cutoff)?;
            let mut gone = crate::history_scan::Removals::default();
            let old = self.scan(&site, Bound::Included(lo), Bound::Excluded(hi), false);
            for m in old {
                let m = m?;
                if !keep.contains(&m.key) {
                    gone.remove(&m);
                }
            }
            // `apply` skips an empty batch: it still takes sled's global write lock (0.34),
            // which every ack waits behind (at 10,000 sites a pass with nothing to remove
            // stalled ingest).
            removed += gone.len();
            gone.apply(self.trees(), &site)?;
        }
        Ok(removed)
    }
}

/// What the writer answers for one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Already stored before (a re-send): acknowledged again, not stored twice.
    pub duplicate: bool,
}

/// A change to a site's inventory, made by Admin.
#[derive(Debug, Clone)]
pub enum SiteChange {
    /// Expect the site (and un-retire it).
    Expect {
        /// Free-text note.
        note: String,
        /// Interval until the probe announces its own.
        interval: Duration,
    },
    /// Retire the site.
    Retire,
}

/// Reads, changes and writes a site's record atomically (compare-and-swap, retried).
pub(crate) fn update_site(
    store: &Store,
    site: &str,
    mut change: impl FnMut(&mut SiteRecord),
) -> Result<SiteRecord, StoreError> {
    let mut corrupt = None;
    let after = store
        .sites
        .update_and_fetch(site.as_bytes(), |old| {
            let mut rec = match old.map(SiteRecord::decode) {
                None => {
                    // The marker must learn of it before the write is acknowledged.
                    store.marker.site_added();
                    SiteRecord::default()
                }
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    corrupt = Some(e);
                    return old.map(<[u8]>::to_vec);
                }
            };
            change(&mut rec);
            Some(rec.encode_to_vec())
        })
        .map_err(|e| store.err(e))?;
    if let Some(e) = corrupt {
        return Err(store.corrupt("sites", e));
    }
    match after {
        Some(v) => SiteRecord::decode(v.as_ref()).map_err(|e| store.corrupt("sites", e)),
        None => Ok(SiteRecord::default()),
    }
}

pub(crate) fn apply_status(
    store: &Store,
    status: RecordingStatus,
    now: DateTime<Utc>,
) -> Result<Stored, StoreError> {
    let now_us = micros(now);
    let now_ts = to_timestamp(now);
    let record = store.site(&status.site)?;
    if let Some(rec) = &record {
        if rec.retired {
            return Err(StoreError::Retired {
                site: status.site.clone(),
                at: rec.retired_at.as_ref().and_then(from_timestamp),
            });
        }
    }
    // A re-send (its ack was lost) carries a sequence its spool has had already; anything else
    // is new (a spool the site has not had recently: a new probe, a reinstall). Such a status
    // is a duplicate only if its record is found: a flush cut short (a full disk, a crash) can
    // keep the site's sequence without the status, which was then never acknowledged and must
    // be stored now.
    let resent = record
        .as_ref()
        .and_then(|rec| rec.sequence_of(&status.spool_id))
        .is_some_and(|last| status.sequence <= last);
    let duplicate = resent && stored_before(store, &status, now_us)?;
    if resent && !duplicate {
        tracing::debug!(site = %status.site, sequence = status.sequence, "a status at or below the site's newest sequence, not stored before: storing it");
    }
    let dropped = if duplicate {
        0
    } else {
        status.dropped_statuses
    };
    if dropped > 0 {
        tracing::warn!(
            site = %status.site,
            dropped,
            "the probe's spool overflowed while it could not deliver: statuses were lost"
        );
    }
    update_site(store, &status.site, |rec| {
        if rec.first_contact.is_none() {
            rec.first_contact = Some(now_ts);
        }
        if dropped > 0 {
            rec.dropped_total = rec.dropped_total.saturating_add(dropped);
            rec.last_drop_at = Some(now_ts);
            rec.last_drop_count = dropped;
        }
        rec.last_contact = Some(now_ts);
        // A re-send says nothing new of its spool.
        if !duplicate {
            rec.stored(&status.spool_id, status.sequence);
        }
        if status.report_interval.is_some() {
            rec.report_interval = status.report_interval;
        }
    })?;
    if duplicate {
        return Ok(Stored { duplicate: true });
    }
    let hkey = history_key(
        &status.site,
        now_us,
        status.sequence,
        &status.recorder,
        &status.spool_id,
    );
    let lkey = pair_key(&status.site, &status.recorder);
    let observed = observed_micros(&status);
    let fingerprint = store.hasher.fingerprint(&status);
    let suffix = hkey[prefix(&status.site).len()..].to_vec();
    // A repeat of the recorder's last full status (and not too long after it) is a heartbeat.
    let base = {
        let bases = store.bases.lock().unwrap_or_else(|p| p.into_inner());
        bases
            .get(&lkey)
            .filter(|b| {
                b.fingerprint == fingerprint && now_us.saturating_sub(b.received_us) < REBASE_US
            })
            .map(|b| b.suffix.clone())
    };
    let value = match base {
        Some(base) => Beat::of(&status, now_ts, base).to_value(),
        None => HistoryEntry {
            status: Some(status.clone()),
            received_at: Some(now_ts),
        }
        .encode_to_vec(),
    };
    let full = value.first() != Some(&crate::beat::BEAT_TAG);
    store
        .history
        .insert(hkey.as_slice(), value)
        .map_err(|e| store.err(e))?;
    if full {
        store
            .bases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                lkey.clone(),
                Base {
                    suffix,
                    fingerprint,
                    received_us: now_us,
                },
            );
    }
    let entry = HistoryEntry {
        status: Some(status),
        received_at: Some(now_ts),
    };
    let mut pointer = Vec::with_capacity(8 + hkey.len());
    pointer.extend_from_slice(&observed.to_be_bytes());
    pointer.extend_from_slice(&hkey);
    loop {
        let old = store.latest.get(&lkey).map_err(|e| store.err(e))?;
        let newer_known = old
            .as_ref()
            .and_then(|v| <[u8; 8]>::try_from(v.get(..8)?).ok())
            .map(i64::from_be_bytes)
            .is_some_and(|t| t > observed);
        if newer_known {
            break;
        }
        match store
            .latest
            .compare_and_swap(&lkey, old.clone(), Some(pointer.as_slice()))
            .map_err(|e| store.err(e))?
        {
            Ok(()) => {
                if let Some(st) = entry.status.as_ref() {
                    let previous_at = old.as_ref().and_then(|p| pointer_received(&st.site, p));
                    // Read only to seed a recorder's first inventory record (after an upgrade).
                    let previous = || {
                        let hkey = old.as_ref()?.get(8..)?;
                        let v = store.trees().get(hkey).ok()??;
                        store.entry(&st.site, &v, &mut None).ok()?.status
                    };
                    store.observe_inventory(st, now, previous_at, previous)?;
                }
                break;
            }
            Err(_) => continue,
        }
    }
    Ok(Stored { duplicate: false })
}

/// Whether `status` (by site, sequence and spool) was received within [`DEDUP_HORIZON`]
/// before `now_us`: its history record, looked for from the newest back to the first of its
/// spool with a lower sequence (a few records, more when another probe reports for the site).
fn stored_before(store: &Store, status: &RecordingStatus, now_us: u64) -> Result<bool, StoreError> {
    let pre = prefix(&status.site);
    let horizon = now_us.saturating_sub(u64::try_from(DEDUP_HORIZON.as_micros()).unwrap_or(0));
    let lo = crate::history_scan::key_at(&pre, horizon);
    // The first key past the site's: `site` then the byte after the separator.
    let mut hi = status.site.as_bytes().to_vec();
    hi.push(SEP + 1);
    let sequence = status.sequence.to_be_bytes();
    let mut tail = vec![SEP];
    tail.extend_from_slice(status.spool_id.as_bytes());
    let newest_first = store.scan(&status.site, Bound::Included(lo), Bound::Excluded(hi), true);
    for m in newest_first {
        let k = m?.key;
        // The recorder between the sequence and the spool may differ in a re-send (it is not
        // part of the identity).
        if !k.ends_with(&tail) {
            continue;
        }
        match k.get(pre.len() + 8..pre.len() + 16) {
            Some(seq) if seq == sequence => return Ok(true),
            // A spool's statuses are stored in sequence order: past a lower one of the same
            // spool, the original would have been met already. (Big-endian: byte order is
            // number order.)
            Some(seq) if seq < &sequence[..] => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}

fn observed_micros(s: &RecordingStatus) -> i64 {
    s.observed_at
        .as_ref()
        .and_then(from_timestamp)
        .map(|t| t.timestamp_micros())
        .unwrap_or(i64::MIN)
}

/// Whether a stored history value decodes (any form, a block's every member; a heartbeat's base
/// is not checked).
pub fn history_value_ok(value: &[u8]) -> bool {
    if crate::block::is_block(value) {
        return crate::block::decode(value)
            .is_ok_and(|members| members.iter().all(|(_, v)| crate::beat::decode(v).is_ok()));
    }
    crate::beat::decode(value).is_ok()
}

/// A status's arrival time as stored.
pub fn received_at(entry: &HistoryEntry) -> Option<DateTime<Utc>> {
    entry.received_at.as_ref().and_then(from_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_by_time_and_never_leak_into_another_site() {
        let a1 = history_key("a", 1, 9, "z", "s");
        let a2 = history_key("a", 2, 0, "a", "s");
        let ab = history_key("a-b", 0, 0, "a", "s");
        assert!(a1 < a2, "time first, then sequence and names");
        assert!(a1.starts_with(&prefix("a")) && !ab.starts_with(&prefix("a")));
        // The exclusive upper bound used for "all of site a" is below every other site's keys.
        let upper = [b"a".as_slice(), &[SEP + 1]].concat();
        assert!(a2 < upper && ab > upper);
        assert_eq!(history_recorder(&a2[2..]), Some(b"a".as_slice()));
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let k = history_key("loja", 123, 4, "nvr", "spool");
        let suffix = &k[prefix("loja").len()..];
        assert_eq!(unhex(&hex(suffix)).as_deref(), Some(suffix));
        for bad in ["zz", "abc", "é1", "0g"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }
}
