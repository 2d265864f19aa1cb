//! The long-running probe: scan on schedule, spool every status to disk, and stream the spool to
//! the collector over one long-lived mTLS gRPC stream, removing a status only when its
//! acknowledgement arrives. This is what makes a collector restart or a WAN outage cost the
//! fleet nothing: the spool holds the statuses, the reconnection loop (exponential backoff with
//! full jitter) brings the stream back, and the unacknowledged ones go again, in order.
//!
//! Two tasks share the spool: the *scanner* (the blocking walk runs on a blocking thread, then
//! writes its statuses to the spool and wakes the sender) and the *sender* (connects, feeds the
//! stream from the spool, removes what is acknowledged; acknowledgements may come in any order).
//! One stop signal reaches both: scanning stops at once, the sender keeps going for a bounded
//! time to collect acknowledgements, and whatever is left stays in the spool for next time.

use crate::backoff::{self, Backoff};
use crate::client::Connector;
use crate::config::{CollectorSection, ProbeConfig};
use crate::schedule::{Schedule, Ticker};
use crate::spool::{Spool, SpoolError};
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, error, info, warn};
use vigia::pb::RecordingStatus;

/// How long a stopping daemon waits for acknowledgements of what it already sent.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Statuses sent and not yet acknowledged, at most (a backlog drains at stream speed, not at
/// one round trip per status, and a reconnect re-sends at most this many twice).
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// Where the daemon's statuses come from: normally the scanner; tests may pass a closure.
pub trait StatusSource: Send + 'static {
    /// Scans every recorder once and returns one status per recorder (blocking; runs on a
    /// blocking thread). The daemon fills in sequence, spool id, report interval and drops.
    fn scan(&mut self) -> Vec<RecordingStatus>;

    /// Called after each scan's statuses are spooled: persist what speeds up the next scan.
    fn after_scan(&mut self) {}
}

impl StatusSource for Box<dyn StatusSource> {
    fn scan(&mut self) -> Vec<RecordingStatus> {
        (**self).scan()
    }
    fn after_scan(&mut self) {
        (**self).after_scan()
    }
}

impl<F> StatusSource for F
where
    F: FnMut() -> Vec<RecordingStatus> + Send + 'static,
{
    fn scan(&mut self) -> Vec<RecordingStatus> {
        self()
    }
}

/// Why the daemon could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// `[collector]` is absent.
    #[error("section `[collector]` is required by `run` and `send-once` (url, ca, cert, key)")]
    NoCollector,
    /// The connection settings are unusable.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The schedule is unusable.
    #[error("key `schedule.cron`: {0}")]
    Schedule(#[from] crate::schedule::CronError),
    /// The spool cannot be opened or written.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A task of the daemon died.
    #[error("daemon task failed: {0}")]
    Task(String),
}

impl DaemonError {
    /// True for mistakes in `probe.toml` or the files it names (exit status 2).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            DaemonError::NoCollector | DaemonError::Client(_) | DaemonError::Schedule(_)
        )
    }
}

/// Counters the daemon keeps about itself (for logs and for tests that check it does not spin).
#[derive(Debug, Default)]
pub struct Stats {
    connect_attempts: AtomicU64,
    failures: AtomicU64,
    streams_opened: AtomicU64,
    acknowledged: AtomicU64,
    scans: AtomicU64,
    invalid: AtomicU64,
    spool_depth: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    /// Connection attempts so far (successful or not).
    pub fn connect_attempts(&self) -> u64 {
        self.connect_attempts.load(Ordering::Relaxed)
    }
    /// Connections that failed or ended in an error.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Report streams the collector accepted.
    pub fn streams_opened(&self) -> u64 {
        self.streams_opened.load(Ordering::Relaxed)
    }
    /// Statuses acknowledged and removed from the spool.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }
    /// Scans completed.
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
    /// Statuses not spooled because the collector would refuse them (counted as dropped).
    pub fn invalid(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
    }
    /// Statuses waiting in the spool, as of the latest scan or acknowledgement.
    pub fn spool_depth(&self) -> u64 {
        self.spool_depth.load(Ordering::Relaxed)
    }
    fn set_depth(&self, spool: &Spool) {
        self.spool_depth
            .store(spool.len() as u64, Ordering::Relaxed);
    }
    /// The latest connection or stream failure, as logged.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn set_error(&self, e: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}

/// What the scanner and the sender share.
struct Shared {
    spool: Mutex<Spool>,
    /// Wakes the sender when statuses were spooled.
    spooled: Notify,
    /// Bumped on every acknowledgement and every failed connection, so `send-once` can wait.
    progress: watch::Sender<u64>,
    stats: Arc<Stats>,
    site: String,
    tz_name: String,
    /// Sequences the collector refused as invalid (set aside, never acknowledged).
    refused: Mutex<std::collections::BTreeSet<u64>>,
}

impl Shared {
    fn spool(&self) -> MutexGuard<'_, Spool> {
        // A panic while holding the lock leaves the spool's files consistent (each write is
        // atomic), so carrying on with the inner value is safe.
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A configured probe daemon, ready to run.
pub struct Daemon {
    shared: Arc<Shared>,
    connector: Connector,
    collector: CollectorSection,
    schedule: Schedule,
    drain_timeout: Duration,
    backoff_initial: Duration,
    in_flight: usize,
}

impl Daemon {
    /// Checks the collector settings and TLS files, parses the schedule, opens the spool.
    pub fn new(config: &ProbeConfig) -> Result<Daemon, DaemonError> {
        let collector = config.collector.clone().ok_or(DaemonError::NoCollector)?;
        let connector = Connector::new(&collector)?;
        if let Err(problem) = connector.check_identity(&config.site) {
            // Not fatal: the collector is the judge, and the daemon keeps spooling meanwhile.
            error!(cert = %collector.cert.display(), "{problem}");
        }
        let tz = config.tz();
        let schedule = Schedule::from_config(&config.schedule, tz)?;
        let spool = Spool::open(&config.spool.dir, config.spool.max_entries)?
            .with_max_message_bytes(collector.max_message_bytes);
        let stats = Arc::new(Stats::default());
        stats.set_depth(&spool);
        info!(
            spool = %config.spool.dir.display(),
            spool_id = spool.spool_id(),
            waiting = spool.len(),
            next_sequence = spool.next_sequence(),
            "spool opened"
        );
        Ok(Daemon {
            shared: Arc::new(Shared {
                spool: Mutex::new(spool),
                spooled: Notify::new(),
                progress: watch::channel(0).0,
                stats,
                site: config.site.clone(),
                tz_name: tz.name().to_string(),
                refused: Mutex::new(std::collections::BTreeSet::new()),
            }),
            connector,
            collector,
            schedule,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            backoff_initial: backoff::INITIAL,
            in_flight: DEFAULT_IN_FLIGHT,
        })
    }

    /// The daemon's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// How long to wait for acknowledgements when stopping (default 5 s).
    pub fn with_drain_timeout(mut self, d: Duration) -> Daemon {
        self.drain_timeout = d;
        self
    }

    /// The HTTP/2 keepalive (default: PING every 20 s, dead after 20 s unanswered).
    pub fn with_keepalive(mut self, interval: Duration, timeout: Duration) -> Daemon {
        self.connector = self.connector.with_keepalive(interval, timeout);
        self
    }

    /// How many statuses may be sent ahead of their acknowledgements (default 64; 1 is
    /// stop-and-wait, the benchmark's baseline).
    pub fn with_in_flight(mut self, n: usize) -> Daemon {
        self.in_flight = n.max(1);
        self
    }

    /// The first reconnection delay ceiling (default 1 s; tests shorten it).
    pub fn with_backoff_initial(mut self, d: Duration) -> Daemon {
        self.backoff_initial = d;
        self
    }

    /// Statuses waiting in the spool.
    pub fn spool_depth(&self) -> usize {
        self.shared.spool().len()
    }

    fn sender(&self, stop: watch::Receiver<bool>) -> Sender {
        Sender {
            shared: self.shared.clone(),
            connector: self.connector.clone(),
            backoff: Backoff::new(self.backoff_initial, self.collector.backoff_max),
            drain_timeout: self.drain_timeout,
            in_flight: self.in_flight,
            stop,
        }
    }

    /// Scans on schedule and streams until `shutdown` completes; then stops scanning, waits
    /// up to the drain timeout for acknowledgements and returns, leaving the rest spooled.
    pub async fn run<S: StatusSource>(
        self,
        source: S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), DaemonError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sender = tokio::spawn(self.sender(stop_rx.clone()).run());
        let scanner = tokio::spawn(scan_loop(
            self.shared.clone(),
            source,
            self.schedule.ticker(),
            stop_rx,
            self.drain_timeout,
        ));
        shutdown.await;
        info!(
            drain = %vigia::config::duration::format(&self.drain_timeout),
            "stopping: no more scans; waiting for the collector's last acknowledgements"
        );
        let _ = stop_tx.send(true);
        let scan_result = scanner.await;
        let send_result = sender.await;
        let left = self.shared.spool().len();
        info!(left_in_spool = left, "stopped");
        scan_result.map_err(|e| DaemonError::Task(e.to_string()))?;
        send_result.map_err(|e| DaemonError::Task(e.to_string()))?;
        Ok(())
    }

    /// Scans once, spools the statuses, sends everything waiting and waits (at most `timeout`)
    /// for the new statuses' acknowledgements. True when they were all acknowledged.
    pub async fn send_once<S: StatusSource>(
        self,
        source: S,
        timeout: Duration,
    ) -> Result<bool, DaemonError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let interval = self.schedule.interval_after(chrono::Utc::now());
        let shared = self.shared.clone();
        let stats = shared.stats.clone();
        let mut progress = shared.progress.subscribe();
        let (stop_tx, stop_rx) = watch::channel(false);
        let sender = tokio::spawn(
            self.with_drain_timeout(Duration::ZERO)
                .sender(stop_rx)
                .run(),
        );
        // The backlog goes first (for at most half the time, and only while the collector is
        // reachable), so that a full spool makes room before the new status needs it.
        let backlog: Vec<u64> = shared.spool().sequences().collect();
        if !backlog.is_empty() {
            let failures = stats.failures();
            let half = tokio::time::Instant::now() + timeout / 2;
            let _ = tokio::time::timeout_at(half, async {
                loop {
                    let delivered = {
                        let spool = shared.spool();
                        backlog.iter().all(|s| !spool.contains(*s))
                    };
                    if delivered || stats.failures() > failures {
                        return;
                    }
                    if progress.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await;
        }
        let sh = shared.clone();
        let (_, spooled) =
            tokio::task::spawn_blocking(move || scan_and_spool(&sh, source, interval))
                .await
                .map_err(|e| DaemonError::Task(e.to_string()))?;
        let new = log_scan(&spooled, stats.spool_depth());
        // A status dropped as invalid is not delivered: `send-once` must not report success.
        let invalid = spooled
            .iter()
            .any(|s| matches!(s.result, Err(SpoolError::Invalid { .. })));
        let done = |shared: &Shared| {
            let spool = shared.spool();
            if new.is_empty() {
                spool.is_empty()
            } else {
                new.iter().all(|s| !spool.contains(*s))
            }
        };
        let refused = |shared: &Shared| {
            let set = shared
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            new.iter().any(|s| set.contains(s))
        };
        let ok = tokio::time::timeout_at(deadline, async {
            loop {
                if done(&shared) {
                    return;
                }
                if progress.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
            && done(&shared)
            && !refused(&shared)
            && !invalid;
        let _ = stop_tx.send(true);
        sender.await.map_err(|e| DaemonError::Task(e.to_string()))?;
        let left = shared.spool().len();
        if ok {
            info!(left_in_spool = left, "acknowledged");
        } else if invalid {
            warn!(
                left_in_spool = left,
                "a status of this scan was invalid and not sent (see the error above)"
            );
        } else {
            warn!(
                left_in_spool = left,
                timeout = %vigia::config::duration::format(&timeout),
                "not acknowledged in time; the status stays in the spool for the next run"
            );
        }
        Ok(ok)
    }
}

/// What one recorder's scan gave, for the log line written once back on the async side (so it
/// goes wherever the daemon's other logs go).
struct Spooled {
    recorder: String,
    outcome: &'static str,
    files: u64,
    days: u32,
    newest: String,
    elapsed: Duration,
    result: Result<crate::spool::Pushed, SpoolError>,
}

/// Scans once and writes the statuses to the spool (blocking); returns the source and what
/// was spooled.
fn scan_and_spool<S: StatusSource>(
    shared: &Shared,
    mut source: S,
    interval: Duration,
) -> (S, Vec<Spooled>) {
    let started = Instant::now();
    let statuses = source.scan();
    let mut out = Vec::with_capacity(statuses.len());
    for mut status in statuses {
        if status.site.is_empty() {
            status.site = shared.site.clone();
        }
        if status.probe_version.is_empty() {
            status.probe_version = env!("CARGO_PKG_VERSION").to_string();
        }
        if status.time_zone.is_empty() {
            status.time_zone = shared.tz_name.clone();
        }
        if status.observed_at.is_none() {
            status.observed_at = Some(vigia::days::to_timestamp(chrono::Utc::now()));
        }
        status.report_interval = prost_types::Duration::try_from(interval).ok();
        let elapsed = status
            .scan_duration
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or_else(|| started.elapsed());
        let newest = status
            .newest_recording
            .as_ref()
            .and_then(vigia::days::from_timestamp)
            .map_or_else(|| "none".to_string(), |t| t.to_rfc3339());
        let (recorder, outcome, files, days) = (
            status.recorder.clone(),
            status.outcome().as_str_name(),
            status.file_count,
            status.days_recorded,
        );
        let result = shared.spool().push(status);
        if matches!(result, Err(SpoolError::Invalid { .. })) {
            shared.stats.invalid.fetch_add(1, Ordering::Relaxed);
        }
        out.push(Spooled {
            recorder,
            outcome,
            files,
            days,
            newest,
            elapsed,
            result,
        });
    }
    source.after_scan();
    shared.stats.set_depth(&shared.spool());
    shared.stats.scans.fetch_add(1, Ordering::Relaxed);
    shared.spooled.notify_one();
    (source, out)
}

/// One INFO line per recorder scanned; returns the sequences spooled.
fn log_scan(spooled: &[Spooled], depth: u64) -> Vec<u64> {
    let mut new = Vec::with_capacity(spooled.len());
    for s in spooled {
        match &s.result {
            Ok(p) => {
                info!(
                    recorder = %s.recorder,
                    outcome = %s.outcome,
                    files = s.files,
                    days = s.days,
                    newest = %s.newest,
                    elapsed_ms = s.elapsed.as_millis() as u64,
                    sequence = p.sequence,
                    spool_depth = depth,
                    "scan done"
                );
                if p.dropped > 0 {
                    warn!(
                        dropped = p.dropped,
                        "spool full: dropped the oldest statuses; the first status written when there is room again reports how many"
                    );
                }
                new.push(p.sequence);
            }
            Err(SpoolError::Invalid { reason, .. }) => error!(
                recorder = %s.recorder,
                field = reason.field(),
                reason = %reason,
                "status not spooled: the collector would refuse it on every reconnect; counted as dropped (the next status reports it)"
            ),
            Err(e) => error!(
                recorder = %s.recorder,
                error = %e,
                "status lost: cannot write it to the spool"
            ),
        }
    }
    new
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the daemon object is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Scans at every slot until stopped; a scan in progress is never started twice. On stop, a
/// walk under way may finish within `grace` (its statuses are spooled); past that it is left
/// to finish on its own.
async fn scan_loop<S: StatusSource>(
    shared: Arc<Shared>,
    source: S,
    mut ticker: Ticker,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut source = Some(source);
    loop {
        let interval = tokio::select! {
            i = ticker.tick() => i,
            _ = stopped(&mut stop) => return,
        };
        let Some(src) = source.take() else { return };
        let sh = shared.clone();
        let mut scan = tokio::task::spawn_blocking(move || scan_and_spool(&sh, src, interval));
        let (result, stopping) = tokio::select! {
            r = &mut scan => (Some(r), false),
            _ = stopped(&mut stop) => (tokio::time::timeout(grace, &mut scan).await.ok(), true),
        };
        match result {
            Some(Ok((src, spooled))) => {
                log_scan(&spooled, shared.stats.spool_depth());
                source = Some(src);
            }
            Some(Err(e)) => {
                error!(error = %e, "the scan crashed; scanning stops");
                return;
            }
            None => {
                warn!("stopping while a scan is still walking; its statuses are spooled only if it ends before the process does");
                return;
            }
        }
        if stopping {
            return;
        }
    }
}

/// How one connection ended.
enum Ended {
    /// Stopped on request.
    Stopped,
    /// Failed; `acked` tells whether the collector acknowledged anything on it first.
    Failed { error: String, acked: bool },
}

/// The reconnecting stream from the spool to the collector.
struct Sender {
    shared: Arc<Shared>,
    connector: Connector,
    backoff: Backoff,
    drain_timeout: Duration,
    in_flight: usize,
    stop: watch::Receiver<bool>,
}

impl Sender {
    async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                return;
            }
            let ended = self.connection().await;
            let (error, acked) = match ended {
                Ended::Stopped => return,
                Ended::Failed { error, acked } => (error, acked),
            };
            if acked {
                self.backoff.reset();
            }
            let delay = self.backoff.next_delay();
            self.shared.stats.set_error(&error);
            self.shared.stats.failures.fetch_add(1, Ordering::Relaxed);
            self.shared.progress.send_modify(|n| *n += 1);
            warn!(
                attempt = self.backoff.failures(),
                retry_in_ms = delay.as_millis() as u64,
                waiting = self.shared.spool().len(),
                "collector connection failed: {error}"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut self.stop) => return,
            }
        }
    }

    /// Sends what waits and is not yet on this connection, as far as the stream has room and
    /// the window of unacknowledged statuses allows.
    fn fill(&self, tx: &mpsc::Sender<RecordingStatus>, last_sent: &mut Option<u64>) -> bool {
        let unacked = last_sent.map_or(0, |s| self.shared.spool().count_through(s));
        let room = tx.capacity().min(self.in_flight.saturating_sub(unacked));
        if room == 0 {
            return false;
        }
        let batch = match self.shared.spool().read_after(*last_sent, room) {
            Ok(b) => b,
            Err(e) => {
                error!(error = %e, "cannot read the spool");
                return false;
            }
        };
        let mut sent_any = false;
        for status in batch {
            let seq = status.sequence;
            if tx.try_send(status).is_err() {
                break;
            }
            *last_sent = Some(seq);
            sent_any = true;
        }
        sent_any
    }

    fn has_unsent(&self, last_sent: Option<u64>) -> bool {
        let last = self.shared.spool().sequences().last();
        match (last, last_sent) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(last), Some(sent)) => last > sent,
        }
    }

    fn in_flight(&self, last_sent: Option<u64>) -> bool {
        let first = self.shared.spool().sequences().next();
        match (first, last_sent) {
            (Some(first), Some(sent)) => first <= sent,
            _ => false,
        }
    }

    /// A status the collector refused as invalid would be refused again on every reconnect
    /// and block all later ones: set it aside and count it dropped.
    fn set_aside_refused(&self, status: &tonic::Status) {
        if status.code() != tonic::Code::InvalidArgument {
            return;
        }
        let Some(seq) = refused_sequence(status) else {
            return;
        };
        let rejected = self.shared.spool().reject(seq);
        if matches!(rejected, Ok(true)) {
            self.shared
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(seq);
            self.shared.progress.send_modify(|n| *n += 1);
        }
        match rejected {
            Ok(true) => error!(
                sequence = seq,
                reason = status.message(),
                "the collector refused this status as invalid; set aside in the spool (.rejected) and counted as dropped"
            ),
            Ok(false) => {}
            Err(e) => error!(error = %e, sequence = seq, "cannot set aside a refused status"),
        }
    }

    /// One connection: connect, open the stream, feed it and collect acknowledgements until it
    /// fails or a stop has drained.
    async fn connection(&mut self) -> Ended {
        let stats = self.shared.stats.clone();
        stats.connect_attempts.fetch_add(1, Ordering::Relaxed);
        let mut client = tokio::select! {
            c = self.connector.connect() => match c {
                Ok(c) => c,
                Err(error) => return Ended::Failed { error: error.to_string(), acked: false },
            },
            _ = stopped(&mut self.stop) => return Ended::Stopped,
        };
        debug!("connected to the collector");
        let (tx, rx) = mpsc::channel::<RecordingStatus>(self.in_flight);
        let mut last_sent = None;
        // The collector may wait for the first status before answering the call, so the
        // stream is fed while the call is being set up.
        self.fill(&tx, &mut last_sent);
        let mut inbound = {
            let call = client.report(ReceiverStream::new(rx));
            tokio::pin!(call);
            loop {
                tokio::select! {
                    r = &mut call => match r {
                        Ok(resp) => break resp.into_inner(),
                        Err(status) => return Ended::Failed { error: self.connector.explain_status(&status), acked: false },
                    },
                    _ = self.shared.spooled.notified() => { self.fill(&tx, &mut last_sent); }
                    _ = stopped(&mut self.stop) => return Ended::Stopped,
                }
            }
        };
        stats.streams_opened.fetch_add(1, Ordering::Relaxed);
        let mut acked_any = false;
        let mut delivered: Option<(u64, u64)> = None;
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            self.fill(&tx, &mut last_sent);
            if drain_until.is_some() && !self.in_flight(last_sent) && !self.has_unsent(last_sent) {
                return Ended::Stopped;
            }
            // Wait for room on the stream only when it is full and more waits to go.
            let unsent = tx.capacity() == 0 && self.has_unsent(last_sent);
            let draining = drain_until.is_some();
            let deadline = drain_until.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(ack)) => {
                        let seq = ack.sequence;
                        let was_sent = last_sent.is_some_and(|s| seq <= s);
                        let removed = was_sent && match self.shared.spool().ack(seq) {
                            Ok(r) => r,
                            Err(e) => {
                                error!(error = %e, sequence = seq, "cannot remove an acknowledged status from the spool");
                                false
                            }
                        };
                        if !was_sent {
                            warn!(sequence = seq, "acknowledgement for a status not sent on this stream; ignored");
                            continue;
                        }
                        if !acked_any {
                            acked_any = true;
                            if self.backoff.failures() > 0 {
                                info!(after_failures = self.backoff.failures(), "collector reachable again");
                            }
                            self.backoff.reset();
                        }
                        if ack.duplicate {
                            debug!(sequence = seq, "collector already had this status");
                        }
                        if removed {
                            stats.set_depth(&self.shared.spool());
                            stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                            delivered = Some(delivered.map_or((seq, seq), |(a, b)| (a.min(seq), b.max(seq))));
                            self.shared.progress.send_modify(|n| *n += 1);
                        }
                        if !self.in_flight(last_sent) {
                            if let Some((from, to)) = delivered.take() {
                                info!(from, to, spool_depth = self.shared.spool().len(), "delivered");
                            }
                        }
                    }
                    Ok(None) => return Ended::Failed {
                        error: "the collector closed the stream".into(),
                        acked: acked_any,
                    },
                    Err(status) => {
                        self.set_aside_refused(&status);
                        return Ended::Failed {
                            error: self.connector.explain_status(&status),
                            acked: acked_any,
                        };
                    }
                },
                _ = self.shared.spooled.notified(), if !draining => {}
                permit = tx.reserve(), if unsent => {
                    // Room again on the stream: the loop's fill uses it.
                    drop(permit);
                }
                _ = stopped(&mut self.stop), if !draining => {
                    drain_until = Some(tokio::time::Instant::now() + self.drain_timeout);
                }
                _ = tokio::time::sleep_until(deadline), if draining => {
                    let left = self.shared.spool().len();
                    warn!(left_in_spool = left, "stopped before every acknowledgement arrived; the rest stays in the spool");
                    return Ended::Stopped;
                }
            }
        }
    }
}

/// The stop signal of the process (Ctrl-C, SIGTERM on Unix), as every Vigia binary has it.
pub use vigia::process::shutdown_signal;

impl StatusSource for crate::scan::Scanner {
    fn scan(&mut self) -> Vec<RecordingStatus> {
        self.scan_all()
    }

    fn after_scan(&mut self) {
        if let Err(e) = self.save_cache() {
            warn!(error = %e, "cannot save the scan cache; the next scan may be slower");
        }
    }
}

/// The scanner of the real commands, with its incremental cache persisted in `scan.cache`, or
/// beside the spool when unset (so a restarted daemon does not walk every folder again).
pub fn scanner_source(config: &ProbeConfig) -> crate::scan::Scanner {
    let cache = config
        .scan
        .cache
        .clone()
        .unwrap_or_else(|| config.spool.dir.join("scan-cache"));
    crate::scan::Scanner::with_cache_file(config, &cache)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn start(config: &ProbeConfig) -> Result<Daemon, ExitCode> {
    Daemon::new(config).map_err(|e| {
        if e.is_configuration() {
            vigia::process::say_error(&format!("invalid configuration: {e}"));
            ExitCode::from(2)
        } else {
            vigia::process::say_error(&format!("error: {e}"));
            ExitCode::from(1)
        }
    })
}

/// `vigia-probe run`: scans on schedule and streams statuses until SIGTERM / Ctrl-C.
pub fn run_command(config: ProbeConfig) -> anyhow::Result<ExitCode> {
    run_until(config, shutdown_signal())
}

/// The daemon until `shutdown` resolves, then the same drain as on Ctrl-C: `run` passes the
/// process signals, the Windows service the SCM's stop.
pub fn run_until(
    config: ProbeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let result = rt.block_on(async {
        let daemon = match start(&config) {
            Ok(d) => d,
            Err(code) => return Ok(code),
        };
        let source = scanner_source(&config);
        let schedule = match (&config.schedule.cron, config.schedule.every) {
            (Some(cron), _) => format!("cron {cron:?} in {}", config.tz().name()),
            (None, every) => format!(
                "every {}",
                vigia::config::duration::format(&every.unwrap_or(crate::config::DEFAULT_EVERY))
            ),
        };
        let collector = config.collector.as_ref().map_or("", |c| c.url.as_str());
        info!(
            site = %config.site,
            recorders = config.recorders.len(),
            %schedule,
            collector,
            "probe running"
        );
        vigia::service_manager::ready();
        vigia::service_manager::spawn_watchdog();
        daemon.run(source, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    });
    // A walk still running on a blocking thread is abandoned: its statuses would only be spooled.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// `vigia-probe send-once`: one scan, one delivery attempt bounded by `timeout`.
pub fn send_once_command(config: ProbeConfig, timeout: Duration) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let result = rt.block_on(async {
        let daemon = match start(&config) {
            Ok(d) => d,
            Err(code) => return Ok(code),
        };
        let source = scanner_source(&config);
        let ok = daemon.send_once(source, timeout).await?;
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The sequence of the status a collector refused: from its trailer, or (collectors before the
/// trailer existed) from the end of the message, `(sequence N)`.
fn refused_sequence(status: &tonic::Status) -> Option<u64> {
    let from_trailer = status
        .metadata()
        .get(vigia::pb::REFUSED_SEQUENCE_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    from_trailer.or_else(|| {
        let message = status.message();
        let start = message.rfind("(sequence ")? + "(sequence ".len();
        let rest = &message[start..];
        rest[..rest.find(')')?].trim().parse().ok()
    })
}

#[cfg(test)]
mod refused_tests {
    use super::refused_sequence;
    use tonic::{Code, Status};

    fn refusal(message: &str) -> Status {
        Status::new(Code::InvalidArgument, message)
    }

    #[test]
    fn reads_the_sequence_of_a_refusal_from_its_trailer_first() {
        let mut st = refusal("recorded_days: too many (sequence 3)");
        st.metadata_mut().insert(
            vigia::pb::REFUSED_SEQUENCE_METADATA,
            "17".parse().expect("ascii"),
        );
        assert_eq!(refused_sequence(&st), Some(17));
        let mut st = refusal("site: empty");
        st.metadata_mut().insert(
            vigia::pb::REFUSED_SEQUENCE_METADATA,
            "9".parse().expect("ascii"),
        );
        assert_eq!(refused_sequence(&st), Some(9));
    }

    #[test]
    fn reads_the_sequence_of_an_older_collectors_refusal_from_its_message() {
        assert_eq!(
            refused_sequence(&refusal(
                "recorded_days: 5000 entries, at most 3660 (sequence 17)"
            )),
            Some(17)
        );
        assert_eq!(refused_sequence(&refusal("site: empty")), None);
        assert_eq!(refused_sequence(&refusal("x (sequence abc)")), None);
        let mut garbled = refusal("x");
        garbled.metadata_mut().insert(
            vigia::pb::REFUSED_SEQUENCE_METADATA,
            "abc".parse().expect("ascii"),
        );
        assert_eq!(refused_sequence(&garbled), None);
    }
}
