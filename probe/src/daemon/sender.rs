//! The sender task: one long-lived Report stream fed from the spool, a status removed only when
//! its acknowledgement arrives, reconnection with backoff, and a refused status set aside.

use super::scan_loop::stopped;
use super::Shared;
use crate::backoff::Backoff;
use crate::client::Connector;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, error, info, warn};
use vigia::pb::RecordingStatus;

/// How one connection ended.
pub(super) enum Ended {
    /// Stopped on request.
    Stopped,
    /// Failed; `acked` tells whether the collector acknowledged anything on it first.
    Failed { error: String, acked: bool },
}

/// The reconnecting stream from the spool to the collector.
pub(super) struct Sender {
    pub(super) shared: Arc<Shared>,
    pub(super) connector: Connector,
    pub(super) backoff: Backoff,
    pub(super) drain_timeout: Duration,
    pub(super) in_flight: usize,
    pub(super) stop: watch::Receiver<bool>,
}

impl Sender {
    pub(super) async fn run(mut self) {
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

    /// A status the collector refused as invalid, or as too large to decode, would be refused
    /// again on every reconnect and block all later ones: set it aside and count it dropped.
    fn set_aside_refused(&self, status: &tonic::Status) {
        let refused: Vec<u64> = match status.code() {
            tonic::Code::InvalidArgument => refused_sequence(status).into_iter().collect(),
            tonic::Code::ResourceExhausted => match refused_frame_limit(status) {
                Some(limit) => self.larger_than(limit),
                // Over the site's rate: nothing is wrong with the statuses, retry later.
                None => return,
            },
            _ => return,
        };
        for seq in refused {
            // The refused set is held while the status leaves the spool: whoever sees it gone
            // (send-once's wait) then finds it in the set, never a delivered-looking gap.
            let rejected = {
                let mut set = self
                    .shared
                    .refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let rejected = self.shared.spool().reject(seq);
                if matches!(rejected, Ok(true)) {
                    set.insert(seq);
                }
                rejected
            };
            if matches!(rejected, Ok(true)) {
                self.shared.progress.send_modify(|n| *n += 1);
            }
            match rejected {
                Ok(true) => error!(
                    sequence = seq,
                    reason = status.message(),
                    "the collector refused this status; set aside in the spool (.rejected) and counted as dropped"
                ),
                Ok(false) => {}
                Err(e) => error!(error = %e, sequence = seq, "cannot set aside a refused status"),
            }
        }
    }

    /// The sequences, among those a stream may have in flight, whose encoding is over `limit`
    /// bytes: the frame the collector could not decode is one of them.
    fn larger_than(&self, limit: usize) -> Vec<u64> {
        match self.shared.spool().read_after(None, self.in_flight) {
            Ok(sent) => sent
                .iter()
                .filter(|s| prost::Message::encoded_len(*s) > limit)
                .map(|s| s.sequence)
                .collect(),
            Err(e) => {
                error!(error = %e, "cannot read the spool to find the status too large to send");
                Vec::new()
            }
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

/// The largest frame the collector decodes, from the trailer of a RESOURCE_EXHAUSTED that
/// refused a frame for its size (a rate refusal has none).
fn refused_frame_limit(status: &tonic::Status) -> Option<usize> {
    status
        .metadata()
        .get(vigia::pb::REFUSED_FRAME_LIMIT_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
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
