//! The gRPC edge: who may call what (from the client certificate alone), validation with a
//! status code naming the field, and the Ingest stream's flow from status to durable ack.

use futures::stream::FuturesOrdered;
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vigia::days::{from_timestamp, to_timestamp};
use vigia::names::validate_name;
use vigia::pb::{self, RecordingStatus, ReportAck};
use vigia::tls::{PeerIdentity, Role};

use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::report;
use crate::store::{HistoryError, Store};
use crate::writer::Writer;
use vigia::validate;

/// Statuses of one stream waiting for their flush; a probe sending faster waits (backpressure).
const STREAM_WINDOW: usize = 256;
/// Acks buffered toward one probe.
const ACK_BUFFER: usize = 256;
/// Default and largest History page.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// ListSites page size when a page_token is given without a page_size, and the largest page.
const DEFAULT_SITES_PAGE: u32 = 500;
const MAX_SITES_PAGE: u32 = 1000;
/// A ListSites page stops growing past this many bytes.
const PAGE_BYTES: usize = 3 * 1024 * 1024;
/// The largest unpaged ListSites answer: what a gRPC client decodes by default.
const WHOLE_FLEET_BYTES: usize = 4 * 1024 * 1024;
/// Default and largest Timeline page.
const DEFAULT_TIMELINE_PAGE: u32 = 500;
const MAX_TIMELINE_PAGE: u32 = 5000;
/// Longest ExpectSite note, in bytes.
pub(crate) const MAX_NOTE: usize = 256;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub config: Arc<CollectorConfig>,
    /// The time verdicts are evaluated at (the collector's constructor argument).
    pub clock: crate::clock::Clock,
    /// Emptied at shutdown, so that a connection outliving the grace period cannot keep the
    /// store's folder locked (a restart in the same process must be able to open it).
    pub store: StoreSlot,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
    /// Each site's Ingest rate (`[ingest]`).
    pub limiter: Arc<RateLimiter>,
    /// Turns true when the collector shuts down: streams finish their acks and close.
    pub stopping: watch::Receiver<bool>,
    /// ListSites pages built ahead of the request that will ask for them.
    pub pages: Arc<crate::prefetch::Prefetch>,
}

fn identity<T>(req: &Request<T>) -> Result<PeerIdentity, Status> {
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated("a client certificate from the fleet CA is required")
    })?;
    let leaf = certs.first().ok_or_else(|| {
        Status::unauthenticated("a client certificate from the fleet CA is required")
    })?;
    PeerIdentity::from_der(leaf.as_ref())
        .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))
}

/// The open store, until shutdown; the live cell, so queries follow a reopen after a storage
/// fault and keep reading while writes are refused.
#[derive(Clone)]
pub(crate) struct StoreSlot(Arc<crate::store_cell::StoreCell>);

impl StoreSlot {
    pub fn new(cell: Arc<crate::store_cell::StoreCell>) -> StoreSlot {
        StoreSlot(cell)
    }

    fn get(&self) -> Result<Store, Status> {
        self.0.read().map_err(|e| match e {
            crate::store::StoreError::WriterStopped => {
                Status::unavailable("the collector is shutting down")
            }
            e => Status::unavailable(e.to_string()),
        })
    }

    /// Refuses later calls with UNAVAILABLE (shutdown).
    pub fn close(&self) {
        self.0.close();
    }
}

impl Shared {
    pub(crate) fn require_reader<T>(
        &self,
        req: &Request<T>,
        service: &str,
    ) -> Result<PeerIdentity, Status> {
        let id = identity(req)?;
        if id.role != Role::Reader {
            self.metrics.rejected_permission.inc();
            return Err(Status::permission_denied(format!(
                "{service} is for reader certificates; this certificate is {id}"
            )));
        }
        Ok(id)
    }

    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared, &Store) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let me = self.clone();
        let store = self.store.get()?;
        tokio::task::spawn_blocking(move || f(&me, &store))
            .await
            .map_err(|e| Status::internal(format!("query task failed: {e}")))?
    }
}

/// A store error as a status: storage faults (I/O, a store being reopened) are UNAVAILABLE —
/// the client may retry — and only damaged records are INTERNAL.
pub(crate) fn store_status(e: crate::store::StoreError) -> Status {
    use crate::store::StoreError as E;
    match e {
        E::Corrupt { .. } | E::Version { .. } | E::Damaged { .. } => {
            Status::internal(format!("store: {e}"))
        }
        e => Status::unavailable(format!("store: {e}")),
    }
}

pub(crate) fn site_name(field: &str, site: &str) -> Result<(), Status> {
    if site.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: empty")));
    }
    validate_name("site", site).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// The Ingest service.
#[derive(Clone)]
pub(crate) struct IngestService(pub Shared);

/// The Query service.
#[derive(Clone)]
pub(crate) struct QueryService(pub Shared);

#[tonic::async_trait]
impl pb::ingest_server::Ingest for IngestService {
    type ReportStream = ReceiverStream<Result<ReportAck, Status>>;

    async fn report(
        &self,
        request: Request<Streaming<RecordingStatus>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        let id = identity(&request)?;
        if id.role != Role::Probe {
            self.0.metrics.rejected_permission.inc();
            return Err(Status::permission_denied(format!(
                "Ingest is for probe certificates; this certificate is {id}"
            )));
        }
        let (tx, rx) = mpsc::channel(ACK_BUFFER);
        let shared = self.0.clone();
        let inbound = request.into_inner();
        tokio::spawn(async move {
            shared.metrics.open_streams.fetch_add(1, Ordering::Relaxed);
            run_stream(&shared, id, inbound, tx).await;
            shared.metrics.open_streams.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// One probe's stream: read, validate, queue for the writer, send acks in order as batches
/// become durable. A bad status ends this stream only (after the acks already earned).
async fn run_stream(
    shared: &Shared,
    id: PeerIdentity,
    mut inbound: Streaming<RecordingStatus>,
    tx: mpsc::Sender<Result<ReportAck, Status>>,
) {
    let mut inflight = FuturesOrdered::new();
    let mut stopping = shared.stopping.clone();
    let max_bytes = shared.config.max_message_bytes;
    let mut ending: Option<Status> = None;
    loop {
        tokio::select! {
            biased;
            _ = crate::shutdown::stopped(&mut stopping) => {
                ending = Some(Status::unavailable("the collector is shutting down; reconnect and re-send unacknowledged statuses"));
                break;
            }
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                if !send_ack(&tx, done).await {
                    return;
                }
            }
            msg = inbound.message(), if inflight.len() < STREAM_WINDOW => match msg {
                Ok(Some(status)) => {
                    if let Err(e) = check(&id, &status, max_bytes, &shared.metrics) {
                        ending = Some(e);
                        break;
                    }
                    if status.dry_run {
                        match dry_run(shared, &status).await {
                            Ok(ack) => {
                                if tx.send(Ok(ack)).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                            Err(e) => {
                                ending = Some(e);
                                break;
                            }
                        }
                    }
                    if let Err(e) = shared.limiter.take(&id.name) {
                        ending = Some(rate_refusal(shared, &id, status.sequence, e));
                        break;
                    }
                    let sequence = status.sequence;
                    let arrived = std::time::Instant::now();
                    match shared.writer.submit(status).await {
                        Ok(pending) => inflight.push_back(async move { (sequence, pending.await, arrived) }),
                        Err(e @ crate::store::StoreError::Retired { .. }) => {
                            shared.metrics.rejected_permission.inc();
                            tracing::warn!(site = %id.name, "a retired site's probe reported; refused");
                            ending = Some(Status::permission_denied(e.to_string()));
                            break;
                        }
                        Err(e) => {
                            ending = Some(Status::unavailable(e.to_string()));
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    ending = Some(frame_refusal(shared, &id, e));
                    break;
                }
            },
        }
    }
    // Deliver the acks already earned before closing, bounded: the writer answers within a flush.
    let drain = async {
        while let Some(done) = inflight.next().await {
            if !send_ack(&tx, done).await {
                return;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!(site = %id.name, "gave up waiting for the store to acknowledge");
    }
    if let Some(status) = ending {
        let _ = tx.send(Err(status)).await;
    }
}

/// A `check-config --connect` status, already validated and matched to its certificate: the
/// site must not be retired; nothing is stored, marked seen, or counted against the rate.
async fn dry_run(shared: &Shared, status: &RecordingStatus) -> Result<ReportAck, Status> {
    let site = status.site.clone();
    let sequence = status.sequence;
    let retired = shared
        .blocking(move |_, store| {
            Ok(store
                .site(&site)
                .map_err(store_status)?
                .is_some_and(|r| r.retired))
        })
        .await?;
    if retired {
        return Err(Status::permission_denied(format!(
            "site {:?} was retired (Admin/RetireSite); its probe's statuses are refused",
            status.site
        )));
    }
    tracing::info!(site = %status.site, "check-config --connect: dry-run status acknowledged, not stored");
    Ok(ReportAck {
        sequence,
        duplicate: false,
    })
}

/// The answer to a site over its `[ingest]` rate: the stream ends after the acks it earned, and
/// the probe keeps the rest in its spool and retries after its backoff.
fn rate_refusal(
    shared: &Shared,
    id: &PeerIdentity,
    sequence: u64,
    e: crate::rate_limit::Exceeded,
) -> Status {
    shared.metrics.rejected_exhausted.inc();
    let limits = &shared.config.ingest;
    tracing::warn!(
        site = %id.name,
        sequence,
        statuses_per_minute = limits.statuses_per_minute,
        burst = limits.burst,
        "site over its ingest rate; stream closed, the probe will retry"
    );
    Status::resource_exhausted(format!(
        "site {:?} sent more than its {} statuses per minute (burst {}; keys `ingest.statuses_per_minute`, `ingest.burst`); status {sequence} and later were not stored: retry in {} s",
        id.name,
        limits.statuses_per_minute,
        limits.burst,
        e.retry_after.as_secs().max(1)
    ))
}

/// A frame the collector could not read as a status. tonic reports an oversize frame as
/// OUT_OF_RANGE and an undecodable one as INTERNAL, which tell a probe's operator neither the
/// limit nor that the fault is on the sending side; anything else (a reset, a cancel) is the
/// connection ending and is passed on as it is.
fn frame_refusal(shared: &Shared, id: &PeerIdentity, e: Status) -> Status {
    let limit = shared.config.max_message_bytes;
    match e.code() {
        tonic::Code::OutOfRange => {
            shared.metrics.rejected_exhausted.inc();
            tracing::warn!(site = %id.name, error = e.message(), "status frame over the size limit; stream closed");
            let mut refused = Status::resource_exhausted(format!(
                "status frame larger than the collector decodes ({} bytes, twice max_message_bytes = {limit}): {}",
                limit.saturating_mul(2),
                e.message()
            ));
            if let Ok(v) = limit.saturating_mul(2).to_string().parse() {
                refused
                    .metadata_mut()
                    .insert(vigia::pb::REFUSED_FRAME_LIMIT_METADATA, v);
            }
            refused
        }
        tonic::Code::Internal if e.message().starts_with("failed to decode") => {
            shared.metrics.rejected_invalid.inc();
            tracing::warn!(site = %id.name, error = e.message(), "undecodable status frame; stream closed");
            Status::invalid_argument(format!(
                "frame is not a vigia.v1.RecordingStatus: {}",
                e.message()
            ))
        }
        _ => {
            tracing::debug!(site = %id.name, error = %e, "ingest stream ended");
            e
        }
    }
}

/// A status's sequence, its durable write's outcome, and when it arrived on the stream.
type Done = (
    u64,
    Result<
        Result<crate::store::Stored, crate::store::NotDurable>,
        tokio::sync::oneshot::error::RecvError,
    >,
    std::time::Instant,
);

async fn send_ack(
    tx: &mpsc::Sender<Result<ReportAck, Status>>,
    (sequence, done, arrived): Done,
) -> bool {
    let msg = match done {
        Ok(Ok(stored)) => Ok(ReportAck {
            sequence,
            duplicate: stored.duplicate,
        }),
        Ok(Err(e)) => Err(Status::unavailable(format!("store: {e}"))),
        Err(_) => Err(Status::unavailable("the collector is shutting down")),
    };
    let fatal = msg.is_err();
    let sent = tx.send(msg).await.is_ok();
    crate::writer::note_ack(arrived.elapsed());
    sent && !fatal
}

fn check(
    id: &PeerIdentity,
    status: &RecordingStatus,
    max_bytes: usize,
    metrics: &Metrics,
) -> Result<(), Status> {
    if let Err(e) = validate::status(status, max_bytes) {
        metrics.rejected_invalid.inc();
        tracing::info!(site = %id.name, sequence = status.sequence, reason = %e, "status refused");
        let mut refused = Status::invalid_argument(format!("{e} (sequence {})", status.sequence));
        if let Ok(v) = status.sequence.to_string().parse() {
            refused
                .metadata_mut()
                .insert(vigia::pb::REFUSED_SEQUENCE_METADATA, v);
        }
        return Err(refused);
    }
    if status.site != id.name {
        metrics.rejected_permission.inc();
        tracing::warn!(certificate = %id.name, site = %status.site, "probe reported for another site");
        return Err(Status::permission_denied(format!(
            "site: this probe certificate is for site {:?} and may not report for {:?}",
            id.name, status.site
        )));
    }
    Ok(())
}

/// `MILLIS:SITE`: the instant every page of a listing is evaluated at, and the last site given.
fn page_token(at: chrono::DateTime<chrono::Utc>, last: &str) -> String {
    format!("{}:{last}", at.timestamp_millis())
}

/// One ListSites answer: the page `req` asks for, evaluated at its token's instant (now for a
/// first page).
async fn list_page(
    shared: &Shared,
    req: pb::ListSitesRequest,
) -> Result<pb::ListSitesResponse, Status> {
    let (listing, at) = listing(&req)?;
    let whole_fleet = req.page_size == 0 && req.page_token.is_empty();
    let page_size = match req.page_size {
        0 => DEFAULT_SITES_PAGE,
        n => n.min(MAX_SITES_PAGE),
    } as usize;
    shared
        .blocking(move |s, store| {
            // Whole milliseconds, the token's precision, so later pages match the first.
            let now = at.unwrap_or_else(|| {
                let now = s.clock.now();
                chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
            });
            let (max_sites, max_bytes) = if whole_fleet {
                (usize::MAX, usize::MAX)
            } else {
                (page_size, PAGE_BYTES)
            };
            let (sites, more) = report::page(&s.config, store, now, &listing, max_sites, max_bytes)
                .map_err(store_status)?;
            let next_page_token = match (more, sites.last()) {
                (true, Some(last)) => page_token(now, &last.site),
                _ => String::new(),
            };
            let resp = pb::ListSitesResponse {
                sites,
                evaluated_at: Some(to_timestamp(now)),
                next_page_token,
            };
            // A page is bounded by `max_bytes` already; only the unpaged answer is measured.
            if whole_fleet {
                let len = prost::Message::encoded_len(&resp);
                if len > WHOLE_FLEET_BYTES {
                    return Err(Status::resource_exhausted(format!(
                        "the whole fleet is {len} bytes, more than one answer carries ({WHOLE_FLEET_BYTES}); ask in pages (page_size, page_token)"
                    )));
                }
            }
            Ok(resp)
        })
        .await
}

/// The filters of a ListSites request, and the instant its token carries.
fn listing(
    req: &pb::ListSitesRequest,
) -> Result<(report::Listing, Option<chrono::DateTime<chrono::Utc>>), Status> {
    let bad_token = || {
        Status::invalid_argument(
            "page_token: not a token from a previous ListSites answer; start again without one",
        )
    };
    let (at, after) = if req.page_token.is_empty() {
        (None, None)
    } else {
        let (millis, site) = req.page_token.split_once(':').ok_or_else(bad_token)?;
        let at = millis
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .ok_or_else(bad_token)?;
        validate_name("site", site).map_err(|_| bad_token())?;
        (Some(at), Some(site.to_string()))
    };
    let mut kinds = Vec::with_capacity(req.kinds.len());
    for (i, k) in req.kinds.iter().enumerate() {
        match pb::VerdictKind::try_from(*k) {
            Ok(pb::VerdictKind::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "kinds[{i}]: {k} is not a verdict kind"
                )))
            }
            Ok(kind) => kinds.push(kind),
        }
    }
    if !req.name_prefix.is_empty() && req.name_prefix.len() > vigia::names::MAX_NAME_LEN {
        return Err(Status::invalid_argument(
            "name_prefix: longer than any site name",
        ));
    }
    Ok((
        report::Listing {
            include_retired: req.include_retired,
            only_problems: req.only_problems,
            kinds,
            name_prefix: req.name_prefix.clone(),
            after,
        },
        at,
    ))
}

#[tonic::async_trait]
impl pb::query_server::Query for QueryService {
    async fn list_sites(
        &self,
        request: Request<pb::ListSitesRequest>,
    ) -> Result<Response<pb::ListSitesResponse>, Status> {
        self.0.require_reader(&request, "Query")?;
        let req = request.into_inner();
        // Validated first: a page built ahead is only ever for a request that was valid.
        listing(&req)?;
        let ahead = match self.0.pages.take(&req) {
            Some(answer) => answer.await.ok().and_then(Result::ok),
            None => None,
        };
        let resp = match ahead {
            Some(resp) => resp,
            // None built, or its build failed (the store was reopened, say): built now.
            None => list_page(&self.0, req.clone()).await?,
        };
        // Not while stopping: a build outliving the drain would keep the store open.
        if !resp.next_page_token.is_empty() && !*self.0.stopping.borrow() {
            let next = pb::ListSitesRequest {
                page_token: resp.next_page_token.clone(),
                ..req
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.0
                .pages
                .hold(next.clone(), self.0.pages.generation(), rx);
            let shared = self.0.clone();
            tokio::spawn(async move {
                // Nobody waiting any more (the page expired unclaimed) is not an error.
                let _ = tx.send(list_page(&shared, next).await);
            });
        }
        Ok(Response::new(resp))
    }

    async fn get_site(
        &self,
        request: Request<pb::GetSiteRequest>,
    ) -> Result<Response<pb::SiteReport>, Status> {
        self.0.require_reader(&request, "Query")?;
        let site = request.into_inner().site;
        site_name("site", &site)?;
        let report = self
            .0
            .blocking(move |s, store| {
                report::site_report(&s.config, store, &site, s.clock.now())
                    .map_err(store_status)?
                    .ok_or_else(|| {
                        Status::not_found(format!("site: {site:?} is neither known nor expected"))
                    })
            })
            .await?;
        Ok(Response::new(report))
    }

    async fn history(
        &self,
        request: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        self.0.require_reader(&request, "Query")?;
        let req = request.into_inner();
        site_name("site", &req.site)?;
        if !req.recorder.is_empty() {
            validate_name("recorder", &req.recorder)
                .map_err(|e| Status::invalid_argument(format!("recorder: {e}")))?;
        }
        let time = |field: &str, t: &Option<prost_types::Timestamp>| match t {
            None => Ok(None),
            Some(ts) => from_timestamp(ts)
                .map(Some)
                .ok_or_else(|| Status::invalid_argument(format!("{field}: not a valid time"))),
        };
        let from = time("from", &req.from)?;
        let to = time("to", &req.to)?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(Status::invalid_argument("from: later than to"));
            }
        }
        let page_size = match req.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        } as usize;
        let resp = self
            .0
            .blocking(move |_, store| {
                let recorder = (!req.recorder.is_empty()).then_some(req.recorder.as_str());
                let token = (!req.page_token.is_empty()).then_some(req.page_token.as_str());
                let page = store
                    .history(&req.site, recorder, from, to, page_size, token)
                    .map_err(|e| match e {
                        HistoryError::BadToken => Status::invalid_argument(e.to_string()),
                        HistoryError::Store(e) => store_status(e),
                    })?;
                Ok(pb::HistoryResponse {
                    entries: page.entries,
                    next_page_token: page.next_token.unwrap_or_default(),
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn timeline(
        &self,
        request: Request<pb::TimelineRequest>,
    ) -> Result<Response<pb::TimelineResponse>, Status> {
        self.0.require_reader(&request, "Query")?;
        let req = request.into_inner();
        site_name("site", &req.site)?;
        let from = match &req.from {
            None => return Err(Status::invalid_argument("from: required")),
            Some(ts) => from_timestamp(ts)
                .ok_or_else(|| Status::invalid_argument("from: not a valid time"))?,
        };
        let to = match &req.to {
            None => None,
            Some(ts) => Some(
                from_timestamp(ts)
                    .ok_or_else(|| Status::invalid_argument("to: not a valid time"))?,
            ),
        };
        let (token_to, offset) = timeline_token(&req.page_token)?;
        let page_size = match req.page_size {
            0 => DEFAULT_TIMELINE_PAGE,
            n => n.min(MAX_TIMELINE_PAGE),
        } as usize;
        let resp = self
            .0
            .blocking(move |s, store| {
                // Every page of one answer is evaluated to the same end (the token carries it).
                let to = match token_to {
                    Some(t) => t,
                    None => {
                        let now = crate::timeline::nanos(s.clock.now());
                        to.map_or(now, |t| crate::timeline::nanos(t).min(now))
                    }
                };
                let from = crate::timeline::nanos(from);
                if from >= to {
                    return Err(Status::invalid_argument(
                        "from: not before to (or before now when to is unset)",
                    ));
                }
                let rules = s.config.rules_for(&req.site);
                let all = crate::thin::timeline(store, &rules, &req.site, from, to)
                    .map_err(store_status)?;
                let ts = |n: i64| to_timestamp(crate::timeline::instant(n));
                let intervals: Vec<pb::VerdictInterval> = all
                    .iter()
                    .skip(offset)
                    .take(page_size)
                    .map(|f| pb::VerdictInterval {
                        kind: f.subject.0,
                        recorder: f.subject.1.clone(),
                        camera: f.subject.2.clone(),
                        start: Some(ts(f.start)),
                        end: Some(ts(f.end)),
                    })
                    .collect();
                let next = offset + intervals.len();
                Ok(pb::TimelineResponse {
                    intervals,
                    to: Some(ts(to)),
                    next_page_token: if next < all.len() {
                        format!("{to}:{next}")
                    } else {
                        String::new()
                    },
                })
            })
            .await?;
        Ok(Response::new(resp))
    }
}

/// `TO_NANOS:OFFSET` of a Timeline page token (none for the first page).
fn timeline_token(token: &str) -> Result<(Option<i64>, usize), Status> {
    if token.is_empty() {
        return Ok((None, 0));
    }
    let bad = || {
        Status::invalid_argument(
            "page_token: not a token from a previous Timeline answer; start again without one",
        )
    };
    let (to, offset) = token.split_once(':').ok_or_else(bad)?;
    Ok((
        Some(to.parse().map_err(|_| bad())?),
        offset.parse().map_err(|_| bad())?,
    ))
}
