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
//! | `history` | site `\0` received µs (8) sequence (8) recorder `\0` spool | `pb::HistoryEntry` |
//! | `seen` | site `\0` spool `\0` sequence (8) | received µs (8), for dedup |
//!
//! `latest` points into `history` rather than copying the status: each status is written once
//! (sled copies a leaf on every insert, so a second 1 KB copy cost as much as the first), and
//! pruning never removes a history entry that a `latest` pointer names.
//!
//! Every write goes through one writer thread ([`Writer`]), which batches statuses, flushes once
//! per batch and only then answers: an acknowledged status is on disk (group commit).

use chrono::{DateTime, Utc};
use prost::Message;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use vigia::days::{from_timestamp, to_timestamp};
use vigia::pb::{HistoryEntry, RecordingStatus};

use crate::clock::Clock;
use crate::metrics::Metrics;

/// The layout this collector writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
const VERSION_KEY: &[u8] = b"layout_version";
const SEP: u8 = 0;
/// How long the writer waits for more statuses before a flush when statuses are streaming in.
const GATHER: Duration = Duration::from_millis(3);
const GATHER_POLL: Duration = Duration::from_micros(250);
/// Most statuses written between two flushes.
const MAX_BATCH: usize = 4096;

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
}

/// Why the store failed; each names the store folder or the record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("store {}: {source}", .dir.display())]
    Sled {
        /// The store folder.
        dir: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// Another process (or this one) holds the store's lock.
    #[error("store {} is in use by another process (only one collector may open it): {reason}", .dir.display())]
    Locked {
        /// The store folder.
        dir: PathBuf,
        /// sled's message.
        reason: String,
    },
    /// The store was written with another layout.
    #[error("store {} has layout version {found}, this collector reads version {LAYOUT_VERSION}", .dir.display())]
    Version {
        /// The store folder.
        dir: PathBuf,
        /// The version found on disk.
        found: u32,
    },
    /// A record cannot be decoded.
    #[error("store {}: corrupt record in tree {tree}: {reason}", .dir.display())]
    Corrupt {
        /// The store folder.
        dir: PathBuf,
        /// The tree.
        tree: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The writer thread is gone (the collector is shutting down).
    #[error("store writer stopped")]
    WriterStopped,
}

/// Open trees of one store folder.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    sites: sled::Tree,
    latest: sled::Tree,
    history: sled::Tree,
    seen: sled::Tree,
}

fn micros(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

fn prefix(site: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(site.len() + 1);
    k.extend_from_slice(site.as_bytes());
    k.push(SEP);
    k
}

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = prefix(a);
    k.extend_from_slice(b.as_bytes());
    k
}

fn seen_key(site: &str, spool: &str, seq: u64) -> Vec<u8> {
    let mut k = pair_key(site, spool);
    k.push(SEP);
    k.extend_from_slice(&seq.to_be_bytes());
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

/// The recorder named in a history key's suffix (after `site\0`).
fn history_recorder(suffix: &[u8]) -> Option<&[u8]> {
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

impl Store {
    /// Opens (or creates) the store in `dir`, with sled's cache limited to `cache_bytes`, and
    /// checks its layout version.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let sled_err = |source: sled::Error| match source {
            sled::Error::Io(ref e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked {
                    dir: dir.to_path_buf(),
                    reason: e.to_string(),
                }
            }
            sled::Error::Io(ref e) if e.to_string().contains("lock") => StoreError::Locked {
                dir: dir.to_path_buf(),
                reason: e.to_string(),
            },
            source => StoreError::Sled {
                dir: dir.to_path_buf(),
                source,
            },
        };
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(sled_err)?;
        let meta = db.open_tree("meta").map_err(sled_err)?;
        match meta.get(VERSION_KEY).map_err(sled_err)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if found != LAYOUT_VERSION {
                    return Err(StoreError::Version {
                        dir: dir.to_path_buf(),
                        found,
                    });
                }
            }
            None => {
                meta.insert(VERSION_KEY, &LAYOUT_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                db.flush().map_err(sled_err)?;
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            sites: db.open_tree("sites").map_err(sled_err)?,
            latest: db.open_tree("latest").map_err(sled_err)?,
            history: db.open_tree("history").map_err(sled_err)?,
            seen: db.open_tree("seen").map_err(sled_err)?,
            db,
        })
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            dir: self.dir.clone(),
            source,
        }
    }

    fn corrupt(&self, tree: &'static str, e: prost::DecodeError) -> StoreError {
        StoreError::Corrupt {
            dir: self.dir.clone(),
            tree,
            reason: e.to_string(),
        }
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
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
            if let Some(entry) = self.history.get(hkey).map_err(|e| self.err(e))? {
                out.push(
                    HistoryEntry::decode(entry.as_ref()).map_err(|e| self.corrupt("history", e))?,
                );
            }
        }
        Ok(out)
    }

    /// The history keys the `latest` pointers of a site name (kept by pruning).
    fn latest_keys(&self, site: &str) -> Result<std::collections::HashSet<Vec<u8>>, StoreError> {
        let mut keys = std::collections::HashSet::new();
        for kv in self.latest.scan_prefix(prefix(site)) {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            if let Some(k) = v.get(8..) {
                keys.insert(k.to_vec());
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
        for kv in self
            .history
            .range::<Vec<u8>, _>((Bound::Included(lo), hi))
            .rev()
        {
            let (k, v) = kv.map_err(|e| self.err(e))?;
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
            page.entries
                .push(HistoryEntry::decode(v.as_ref()).map_err(|e| self.corrupt("history", e))?);
        }
        Ok(page)
    }

    /// Number of history entries of a site (tests and metrics).
    pub fn history_len(&self, site: &str) -> usize {
        self.history.scan_prefix(prefix(site)).count()
    }

    /// Removes history (and dedup marks) received before `before`; returns how many statuses went.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = micros(before);
        let mut removed = 0;
        for (site, _) in self.sites()? {
            let lo = prefix(&site);
            let mut hi = lo.clone();
            hi.extend_from_slice(&cutoff.to_be_bytes());
            let keep = self.latest_keys(&site)?;
            let mut batch = sled::Batch::default();
            for kv in self.history.range(lo..hi) {
                let (k, _) = kv.map_err(|e| self.err(e))?;
                if keep.contains(k.as_ref()) {
                    continue;
                }
                batch.remove(k);
                removed += 1;
            }
            self.history.apply_batch(batch).map_err(|e| self.err(e))?;
        }
        let mut batch = sled::Batch::default();
        for kv in self.seen.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let at = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if at < cutoff {
                batch.remove(k);
            }
        }
        self.seen.apply_batch(batch).map_err(|e| self.err(e))?;
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

enum Job {
    Status {
        status: Box<RecordingStatus>,
        reply: oneshot::Sender<Result<Stored, String>>,
    },
    Site {
        site: String,
        change: SiteChange,
        reply: oneshot::Sender<Result<SiteRecord, String>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// The handle to the single writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// What a pending status write resolves to.
pub type PendingAck = oneshot::Receiver<Result<Stored, String>>;

impl Writer {
    /// Starts the writer thread over a store; statuses are stamped with `clock`.
    pub fn start(store: Store, clock: Clock, metrics: std::sync::Arc<Metrics>) -> Writer {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let spawned = std::thread::Builder::new()
            .name("vigia-store-writer".into())
            .spawn(move || WriterLoop::new(store, clock, metrics).run(rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the store writer thread");
        }
        Writer { tx }
    }

    /// Queues a status; the receiver resolves once it is durable (or failed).
    pub async fn submit(&self, status: RecordingStatus) -> Result<PendingAck, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Status {
                status: Box::new(status),
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        Ok(rx)
    }

    /// Applies an Admin change durably and returns the site's record.
    pub async fn change_site(&self, site: &str, change: SiteChange) -> Result<SiteRecord, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Site {
                site: site.to_string(),
                change,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped.to_string())?;
        rx.await
            .map_err(|_| StoreError::WriterStopped.to_string())?
    }

    /// Flushes and stops the thread; later submissions fail.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Job::Stop { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct WriterLoop {
    store: Store,
    clock: Clock,
    metrics: std::sync::Arc<Metrics>,
    /// observed_at (µs) of each recorder's latest status, so a replayed old status never
    /// replaces a newer one without decoding the stored one every time.
    latest_seen: HashMap<Vec<u8>, i64>,
    sites: HashMap<String, SiteRecord>,
}

/// Batch sizes and times, logged at debug level every few seconds to tune group commit.
#[derive(Default)]
struct BatchStats {
    since: Option<std::time::Instant>,
    batches: u64,
    jobs: u64,
    max_jobs: usize,
    apply: Duration,
    flush: Duration,
    max_flush: Duration,
}

impl BatchStats {
    fn record(&mut self, jobs: usize, apply: Duration, flush: Duration) {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        self.batches += 1;
        self.jobs += jobs as u64;
        self.max_jobs = self.max_jobs.max(jobs);
        self.apply += apply;
        self.flush += flush;
        self.max_flush = self.max_flush.max(flush);
        if since.elapsed() >= Duration::from_secs(5) {
            let n = self.batches.max(1) as u32;
            tracing::debug!(
                batches = self.batches,
                statuses = self.jobs,
                max_batch = self.max_jobs,
                apply_avg_us = (self.apply / n).as_micros() as u64,
                flush_avg_us = (self.flush / n).as_micros() as u64,
                flush_max_us = self.max_flush.as_micros() as u64,
                "group commit"
            );
            *self = BatchStats::default();
        }
    }
}

enum Reply {
    Status(
        oneshot::Sender<Result<Stored, String>>,
        Result<Stored, String>,
    ),
    Site(
        oneshot::Sender<Result<SiteRecord, String>>,
        Result<SiteRecord, String>,
    ),
}

fn observed_micros(s: &RecordingStatus) -> i64 {
    s.observed_at
        .as_ref()
        .and_then(from_timestamp)
        .map(|t| t.timestamp_micros())
        .unwrap_or(i64::MIN)
}

impl WriterLoop {
    fn new(store: Store, clock: Clock, metrics: std::sync::Arc<Metrics>) -> WriterLoop {
        WriterLoop {
            store,
            clock,
            metrics,
            latest_seen: HashMap::new(),
            sites: HashMap::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut replies = Vec::with_capacity(MAX_BATCH);
        let mut stop = None;
        let mut stats = BatchStats::default();
        let mut last_batch = 0usize;
        while let Some(first) = rx.blocking_recv() {
            let started = std::time::Instant::now();
            // Only gather when the previous batch was busy; a lone status is flushed at once.
            let gather_more = last_batch > 1;
            let now = self.clock.now();
            let mut job = Some(first);
            let mut dirty_sites: std::collections::BTreeSet<String> = Default::default();
            while let Some(j) = job.take() {
                match j {
                    Job::Status { status, reply } => {
                        let r = self
                            .apply(*status, now, &mut dirty_sites)
                            .map_err(|e| e.to_string());
                        replies.push(Reply::Status(reply, r));
                    }
                    Job::Site {
                        site,
                        change,
                        reply,
                    } => {
                        let r = self
                            .change(&site, change, now, &mut dirty_sites)
                            .map_err(|e| e.to_string());
                        replies.push(Reply::Site(reply, r));
                    }
                    Job::Stop { reply } => {
                        stop = Some(reply);
                        break;
                    }
                }
                if replies.len() < MAX_BATCH {
                    job = rx.try_recv().ok();
                    // Under load, wait a moment for more: one flush for many statuses costs far
                    // less CPU than many small flushes, and adds at most GATHER to a status's wait.
                    while job.is_none()
                        && stop.is_none()
                        && gather_more
                        && started.elapsed() < GATHER
                    {
                        std::thread::sleep(GATHER_POLL);
                        job = rx.try_recv().ok();
                    }
                }
            }
            let applied = started.elapsed();
            let written = self
                .write_sites(&dirty_sites)
                .and_then(|()| self.store.flush());
            self.metrics.flushes.inc();
            last_batch = replies.len();
            stats.record(replies.len(), applied, started.elapsed() - applied);
            for reply in replies.drain(..) {
                match (reply, &written) {
                    (Reply::Status(tx, r), Ok(())) => {
                        if let Ok(s) = &r {
                            if s.duplicate {
                                self.metrics.duplicates.inc();
                            } else {
                                self.metrics.ingested.inc();
                            }
                        }
                        let _ = tx.send(r);
                    }
                    (Reply::Status(tx, _), Err(e)) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                    (Reply::Site(tx, r), Ok(())) => {
                        let _ = tx.send(r);
                    }
                    (Reply::Site(tx, _), Err(e)) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            }
            if let Err(e) = written {
                tracing::error!(error = %e, "store flush failed; statuses not acknowledged");
                // The caches may hold what did not reach the disk: read the store again.
                self.sites.clear();
                self.latest_seen.clear();
            }
            if let Some(reply) = stop.take() {
                let _ = reply.send(());
                return;
            }
        }
        let _ = self.store.flush();
    }

    fn site_record(&mut self, site: &str) -> Result<&mut SiteRecord, StoreError> {
        if !self.sites.contains_key(site) {
            let rec = self.store.site(site)?.unwrap_or_default();
            self.sites.insert(site.to_string(), rec);
        }
        self.sites.get_mut(site).ok_or(StoreError::WriterStopped)
    }

    fn write_sites(
        &mut self,
        dirty: &std::collections::BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for site in dirty {
            if let Some(rec) = self.sites.get(site) {
                batch.insert(site.as_bytes(), rec.encode_to_vec());
            }
        }
        self.store
            .sites
            .apply_batch(batch)
            .map_err(|e| self.store.err(e))
    }

    fn apply(
        &mut self,
        status: RecordingStatus,
        now: DateTime<Utc>,
        dirty: &mut std::collections::BTreeSet<String>,
    ) -> Result<Stored, StoreError> {
        let store = self.store.clone();
        let now_us = micros(now);
        let seen = seen_key(&status.site, &status.spool_id, status.sequence);
        let duplicate = store
            .seen
            .insert(seen, &now_us.to_be_bytes())
            .map_err(|e| store.err(e))?
            .is_some();
        let site = status.site.clone();
        let rec = self.site_record(&site)?;
        let now_ts = to_timestamp(now);
        if rec.first_contact.is_none() {
            rec.first_contact = Some(now_ts);
        }
        rec.last_contact = Some(now_ts);
        if rec.spool_id != status.spool_id {
            rec.spool_id.clone_from(&status.spool_id);
            rec.last_sequence = status.sequence;
        } else {
            rec.last_sequence = rec.last_sequence.max(status.sequence);
        }
        if status.report_interval.is_some() {
            rec.report_interval = status.report_interval;
        }
        if !dirty.contains(&site) {
            dirty.insert(site);
        }
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
        let entry = HistoryEntry {
            status: Some(status),
            received_at: Some(now_ts),
        };
        let bytes = entry.encode_to_vec();
        store
            .history
            .insert(hkey.as_slice(), bytes)
            .map_err(|e| store.err(e))?;
        let newest_known = match self.latest_seen.get(&lkey) {
            Some(t) => Some(*t),
            None => store
                .latest
                .get(&lkey)
                .map_err(|e| store.err(e))?
                .and_then(|v| <[u8; 8]>::try_from(v.get(..8)?).ok())
                .map(i64::from_be_bytes),
        };
        if newest_known.is_none_or(|t| observed >= t) {
            let mut pointer = Vec::with_capacity(8 + hkey.len());
            pointer.extend_from_slice(&observed.to_be_bytes());
            pointer.extend_from_slice(&hkey);
            store
                .latest
                .insert(&lkey, pointer)
                .map_err(|e| store.err(e))?;
            self.latest_seen.insert(lkey, observed);
        } else if let Some(t) = newest_known {
            self.latest_seen.insert(lkey, t);
        }
        Ok(Stored { duplicate: false })
    }

    fn change(
        &mut self,
        site: &str,
        change: SiteChange,
        now: DateTime<Utc>,
        dirty: &mut std::collections::BTreeSet<String>,
    ) -> Result<SiteRecord, StoreError> {
        let rec = self.site_record(site)?;
        match change {
            SiteChange::Expect { note, interval } => {
                rec.expected = true;
                rec.retired = false;
                rec.retired_at = None;
                rec.note = note;
                rec.expected_interval = prost_types::Duration::try_from(interval).ok();
            }
            SiteChange::Retire => {
                rec.retired = true;
                rec.retired_at = Some(to_timestamp(now));
            }
        }
        let out = rec.clone();
        if !dirty.contains(site) {
            dirty.insert(site.to_string());
        }
        Ok(out)
    }
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
