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
use crate::schedule::ScanSchedule;
use crate::spool::{Spool, SpoolError};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};
use vigia::pb::RecordingStatus;

mod scan_loop;
mod sender;
mod stats;

pub use stats::Stats;

use scan_loop::{log_scan, scan_and_spool, scan_loop};
use sender::Sender;

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
    Schedule(#[from] vigia::cron::CronError),
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
    schedule: ScanSchedule,
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
        let schedule = ScanSchedule::from_config(&config.schedule, tz)?;
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
            drain = %vigia::units::duration::format(&self.drain_timeout),
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
                timeout = %vigia::units::duration::format(&timeout),
                "not acknowledged in time; the status stays in the spool for the next run"
            );
        }
        Ok(ok)
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
