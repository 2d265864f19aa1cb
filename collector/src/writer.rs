//! The store's writer: statuses and Admin changes written, then made durable by group commit.
//!
//! It sits above the store and its live cell (`crate::store_cell`): the writer threads write
//! through the cell (a storage fault replaces the store it holds), the flusher thread flushes
//! it and brings the marker up to date after each flush (`crate::store_guard`). An ack is
//! answered only after a flush that began after the status's writes.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use vigia::days::to_timestamp;
use vigia::pb::RecordingStatus;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{
    apply_status, update_site, NotDurable, SiteChange, SiteRecord, Store, StoreError, Stored,
};
use crate::store_cell::StoreCell;

/// How long the writer waits for more statuses before a flush when statuses are streaming in.
const GATHER: Duration = Duration::from_millis(3);
const GATHER_POLL: Duration = Duration::from_micros(250);
/// Most statuses written between two flushes.
const MAX_BATCH: usize = 4096;

/// A request to make everything written so far durable.
enum FlushJob {
    Flush {
        /// The store generation the writes were made on (`crate::store_cell`).
        generation: u64,
        reply: oneshot::Sender<Result<(), NotDurable>>,
        /// When it was asked for: the wait until its answer is logged (`group commit`).
        asked: std::time::Instant,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// Writes statuses and Admin changes, and makes them durable with group commit.
///
/// Statuses are written by a few writer threads of their own ([`write_threads`]), never on the
/// async runtime's threads: a sled write can wait (for a log buffer, for a batch holding sled's
/// write lock, for a site lock whose holder the OS has descheduled), and on a runtime thread that
/// wait held up every stream that thread serves — reading statuses, sending the acks of statuses
/// already durable. Each writer thread then asks the flusher thread for durability. The flusher
/// takes every request queued since its last flush and answers them all with one flush, so a busy
/// collector flushes once for many statuses while a quiet one flushes at once.
/// Statuses of one recorder replayed out of order never replace a newer latest status
/// (compare-and-swap on the observed time), and a re-send is recognised under the site's lock
/// (its original found in history), so two streams of one probe (a reconnect racing its old
/// connection) store a sequence once.
#[derive(Clone)]
pub struct Writer {
    core: Core,
    /// Statuses for the writer threads (closed when the last `Writer` goes: they end then).
    writes: mpsc::Sender<WriteJob>,
}

/// What the writer threads and the Admin writes share: the store, the flusher, the site locks.
#[derive(Clone)]
struct Core {
    /// The live store: closed by `stop`, so that no handle left in a lingering task keeps the
    /// store open; replaced after a storage fault.
    cell: std::sync::Arc<StoreCell>,
    clock: Clock,
    metrics: std::sync::Arc<Metrics>,
    tx: mpsc::Sender<FlushJob>,
    /// One site's writes happen under its shard's lock: a re-send racing the original (two
    /// streams of one probe) then finds the original completely written, never half.
    site_locks: std::sync::Arc<Vec<std::sync::Mutex<()>>>,
}

/// A status for a writer thread, and where its outcome goes.
struct WriteJob {
    status: RecordingStatus,
    reply: oneshot::Sender<Result<PendingAck, StoreError>>,
}

/// How many writer threads apply statuses: one per core (sled writes from many threads at once),
/// at least 2 so that one waiting write does not stop the others, at most 8.
fn write_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// A writer thread: applies statuses in arrival order until every `Writer` is gone.
fn write_loop(core: &Core, jobs: &std::sync::Mutex<mpsc::Receiver<WriteJob>>) {
    loop {
        // One thread waits on the queue at a time; the others wait for the lock, then the queue.
        let job = jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .blocking_recv();
        let Some(WriteJob { status, reply }) = job else {
            return;
        };
        let _ = reply.send(core.write_status(status));
    }
}

/// Shards of the per-site write lock.
const SITE_LOCK_SHARDS: usize = 64;

/// A status written but not yet known durable; resolves once its flush is done.
pub struct PendingAck {
    flushed: FlushAnswer,
    stored: Stored,
    metrics: std::sync::Arc<Metrics>,
}

impl std::future::Future for PendingAck {
    type Output = Result<Result<Stored, NotDurable>, oneshot::error::RecvError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.flushed).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(()))) => {
                if self.stored.duplicate {
                    self.metrics.duplicates.inc();
                } else {
                    self.metrics.ingested.inc();
                }
                Poll::Ready(Ok(Ok(self.stored)))
            }
            Poll::Ready(Ok(Err(e))) => Poll::Ready(Ok(Err(e))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl Writer {
    /// Starts the flusher thread over a store; statuses are stamped with `clock`.
    pub fn start(store: Store, clock: Clock, metrics: std::sync::Arc<Metrics>) -> Writer {
        Writer::with_cell(StoreCell::new(store), clock, metrics)
    }

    /// Starts the flusher thread over a live store shared with readers.
    pub fn with_cell(
        cell: std::sync::Arc<StoreCell>,
        clock: Clock,
        metrics: std::sync::Arc<Metrics>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let flusher_cell = cell.clone();
        let flusher_metrics = metrics.clone();
        let spawned = std::thread::Builder::new()
            .name("vigia-store-flush".into())
            .spawn(move || flush_loop(&flusher_cell, &flusher_metrics, rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the store flusher thread");
        }
        let core = Core {
            cell,
            clock,
            metrics,
            tx,
            site_locks: std::sync::Arc::new(
                (0..SITE_LOCK_SHARDS)
                    .map(|_| std::sync::Mutex::new(()))
                    .collect(),
            ),
        };
        let (writes, jobs) = mpsc::channel(MAX_BATCH * 2);
        let jobs = std::sync::Arc::new(std::sync::Mutex::new(jobs));
        let mut started = 0;
        for i in 0..write_threads() {
            let (core, jobs) = (core.clone(), jobs.clone());
            match std::thread::Builder::new()
                .name(format!("vigia-store-write-{i}"))
                .spawn(move || write_loop(&core, &jobs))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a store writer thread"),
            }
        }
        if started == 0 {
            // Nothing would ever write: close the queue, so that every status is refused
            // (WriterStopped) instead of waiting.
            jobs.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .close();
        }
        Writer { core, writes }
    }

    /// The live store this writer writes to.
    pub fn cell(&self) -> &std::sync::Arc<StoreCell> {
        &self.core.cell
    }

    /// Stores a status (or recognises a re-send) on a writer thread; the receiver resolves once
    /// it is durable.
    pub async fn submit(&self, status: RecordingStatus) -> Result<PendingAck, StoreError> {
        let (reply, written) = oneshot::channel();
        self.writes
            .send(WriteJob { status, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        written.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Applies an Admin change durably and returns the site's record.
    pub async fn change_site(
        &self,
        site: &str,
        change: SiteChange,
    ) -> Result<SiteRecord, NotDurable> {
        let (store, generation) = self.core.store()?;
        let now = self.core.clock.now();
        let guard = self.core.site_lock(site);
        let rec = update_site(&store, site, |rec| match &change {
            SiteChange::Expect { note, interval } => {
                rec.expected = true;
                rec.retired = false;
                rec.retired_at = None;
                rec.note.clone_from(note);
                rec.expected_interval = prost_types::Duration::try_from(*interval).ok();
            }
            SiteChange::Retire => {
                rec.retired = true;
                rec.retired_at = Some(to_timestamp(now));
            }
        });
        let rec = self.core.write(generation, rec)?;
        drop(guard);
        drop(store);
        self.core
            .durable(generation)
            .await?
            .await
            .map_err(|_| StoreError::WriterStopped)??;
        Ok(rec)
    }

    /// Runs an operator's write under the site's lock, then waits until it is durable.
    pub async fn admin<T, E: From<StoreError>>(
        &self,
        site: &str,
        write: impl FnOnce(&Store, DateTime<Utc>) -> Result<T, E>,
    ) -> Result<T, E> {
        let (store, generation) = self.core.store()?;
        let now = self.core.clock.now();
        let out = {
            let _guard = self.core.site_lock(site);
            // An I/O error here shows again at the flush below, which faults the store.
            write(&store, now)?
        };
        drop(store);
        self.core
            .durable(generation)
            .await?
            .await
            .map_err(|_| StoreError::WriterStopped)?
            .map_err(|source| StoreError::Flush { source })?;
        Ok(out)
    }

    /// Refuses further writes, flushes and stops the flusher thread.
    pub async fn stop(&self) {
        // Writers already holding the store finish their writes; the flush below covers them
        // only if they came first, and a later one is simply not acknowledged.
        self.core.cell.close();
        let (reply, rx) = oneshot::channel();
        if self.core.tx.send(FlushJob::Stop { reply }).await.is_ok() {
            let _ = rx.await;
        }
        self.core.cell.release();
    }
}

impl Core {
    fn site_lock(&self, site: &str) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        site.hash(&mut h);
        let shard = (h.finish() % SITE_LOCK_SHARDS as u64) as usize;
        self.site_locks[shard]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn store(&self) -> Result<(Store, u64), StoreError> {
        self.cell.for_write()
    }

    /// Runs a write on the store of generation `generation`; a failure faults the store.
    fn write<T>(&self, generation: u64, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            self.cell.failed(generation, e);
        }
        r
    }

    /// Asks for a flush covering every write made so far on the store of `generation`.
    async fn durable(&self, generation: u64) -> Result<FlushAnswer, StoreError> {
        let (job, rx) = flush_request(generation);
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        Ok(rx)
    }

    /// Writes a status (a writer thread) and asks for its flush.
    fn write_status(&self, status: RecordingStatus) -> Result<PendingAck, StoreError> {
        let (store, generation) = self.store()?;
        let stored = {
            let started = std::time::Instant::now();
            let _site = self.site_lock(&status.site);
            let r = apply_status(&store, status, self.clock.now());
            SLOWEST_WRITE_US.fetch_max(
                started.elapsed().as_micros() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.write(generation, r)?
        };
        drop(store);
        let flushed = self.durable_blocking(generation)?;
        Ok(PendingAck {
            flushed,
            stored,
            metrics: self.metrics.clone(),
        })
    }

    /// [`Core::durable`] from a thread that may block (a writer thread).
    fn durable_blocking(&self, generation: u64) -> Result<FlushAnswer, StoreError> {
        let (job, rx) = flush_request(generation);
        self.tx
            .blocking_send(job)
            .map_err(|_| StoreError::WriterStopped)?;
        Ok(rx)
    }
}

/// Where the flusher answers whether a write was made durable.
type FlushAnswer = oneshot::Receiver<Result<(), NotDurable>>;

/// A flush request for the writes made on the store of `generation`, and where it is answered.
fn flush_request(generation: u64) -> (FlushJob, FlushAnswer) {
    let (reply, rx) = oneshot::channel();
    let job = FlushJob::Flush {
        generation,
        reply,
        asked: std::time::Instant::now(),
    };
    (job, rx)
}

/// The slowest status write (lock and sled inserts) since the last group-commit log line.
static SLOWEST_WRITE_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The slowest status from its arrival on a stream to its ack handed to that stream, since the
/// last group-commit log line (`crate::service` notes it): the collector's own share of an
/// ack's latency, without the client's.
static SLOWEST_ACK_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Notes how long a status took from its arrival to its ack (the `group commit` log's `ack_max_us`).
pub(crate) fn note_ack(took: Duration) {
    SLOWEST_ACK_US.fetch_max(
        u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Batch sizes and times, logged at debug level every second to tune group commit and to tell
/// where a slow ack waited: its write (`write_max_us`), the flusher (`wait_max_us`, from the
/// flush request to its answer, of which `flush_max_us` is sled's flush), or the stream's task
/// (`ack_max_us` beyond those: the async worker threads were busy).
#[derive(Default)]
struct BatchStats {
    since: Option<std::time::Instant>,
    batches: u64,
    jobs: u64,
    max_jobs: usize,
    flush: Duration,
    max_flush: Duration,
    max_wait: Duration,
}

impl BatchStats {
    fn record(&mut self, jobs: usize, flush: Duration, wait: Duration) {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        self.batches += 1;
        self.jobs += jobs as u64;
        self.max_jobs = self.max_jobs.max(jobs);
        self.flush += flush;
        self.max_flush = self.max_flush.max(flush);
        self.max_wait = self.max_wait.max(wait);
        if since.elapsed() >= Duration::from_secs(1) {
            let n = self.batches.max(1) as u32;
            tracing::debug!(
                flushes = self.batches,
                writes = self.jobs,
                max_batch = self.max_jobs,
                flush_avg_us = (self.flush / n).as_micros() as u64,
                flush_max_us = self.max_flush.as_micros() as u64,
                wait_max_us = self.max_wait.as_micros() as u64,
                write_max_us = SLOWEST_WRITE_US.swap(0, std::sync::atomic::Ordering::Relaxed),
                ack_max_us = SLOWEST_ACK_US.swap(0, std::sync::atomic::Ordering::Relaxed),
                "group commit"
            );
            *self = BatchStats::default();
        }
    }
}

/// Flushes the current store and brings the marker up to date; the generation flushed.
fn flush_current(cell: &StoreCell) -> (Result<(), NotDurable>, u64) {
    match cell.current() {
        Some((store, generation)) => {
            let r = store
                .flush()
                .and_then(|()| crate::store_guard::after_flush(&store));
            if let Err(e) = &r {
                cell.failed(generation, e);
            }
            (r.map_err(NotDurable::from), generation)
        }
        None => (Err(StoreError::WriterStopped.into()), 0),
    }
}

/// What one waiting write is told: durable only if its own store generation was flushed.
fn answer(
    result: &Result<(), NotDurable>,
    flushed: u64,
    generation: u64,
) -> Result<(), NotDurable> {
    match result {
        Ok(()) if flushed == generation => Ok(()),
        Ok(()) => Err(NotDurable::Reopened),
        Err(e) => Err(e.clone()),
    }
}

/// The flusher thread: one flush for every request queued since the last one.
fn flush_loop(cell: &StoreCell, metrics: &Metrics, mut rx: mpsc::Receiver<FlushJob>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    let mut stats = BatchStats::default();
    let mut last_batch = 0usize;
    while let Some(first) = rx.blocking_recv() {
        let started = std::time::Instant::now();
        let mut stop = None;
        let mut oldest = None;
        let mut job = Some(first);
        // Only gather when the previous batch was busy; a lone status is flushed at once.
        let gather_more = last_batch > 1;
        while let Some(j) = job.take() {
            match j {
                FlushJob::Flush {
                    generation,
                    reply,
                    asked,
                } => {
                    oldest = Some(oldest.map_or(asked, |o: std::time::Instant| o.min(asked)));
                    waiting.push((generation, reply));
                }
                FlushJob::Stop { reply } => {
                    stop = Some(reply);
                    break;
                }
            }
            if waiting.len() < MAX_BATCH {
                job = rx.try_recv().ok();
                // Under load, wait a moment for more: one flush for many statuses costs far
                // less CPU than many small flushes, and adds at most GATHER to a status's wait.
                while job.is_none() && gather_more && started.elapsed() < GATHER {
                    std::thread::sleep(GATHER_POLL);
                    job = rx.try_recv().ok();
                }
            }
        }
        let flush_started = std::time::Instant::now();
        let (result, flushed) = flush_current(cell);
        metrics.flushes.inc();
        last_batch = waiting.len();
        let flush_took = flush_started.elapsed();
        if let Err(e) = &result {
            tracing::error!(error = %e, "store flush failed; statuses not acknowledged");
        }
        for (generation, reply) in waiting.drain(..) {
            let _ = reply.send(answer(&result, flushed, generation));
        }
        stats.record(
            last_batch,
            flush_took,
            oldest.map_or(Duration::ZERO, |o| o.elapsed()),
        );
        if let Some(reply) = stop {
            // Anything queued behind the stop was written before it: flush it too.
            while let Ok(FlushJob::Flush {
                generation, reply, ..
            }) = rx.try_recv()
            {
                waiting.push((generation, reply));
            }
            let (result, flushed) = flush_current(cell);
            for (generation, r) in waiting.drain(..) {
                let _ = r.send(answer(&result, flushed, generation));
            }
            let _ = reply.send(());
            return;
        }
    }
    let _ = flush_current(cell);
}
