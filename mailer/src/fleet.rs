//! Reading the fleet from the collector's Query service with the mailer's reader certificate,
//! page by page, each page folded into the digest's compact rows ([`FleetRows`]) as it arrives.

use crate::config::CollectorConfig;
use crate::render::rows::WirePage;
use crate::render::FleetRows;
use tonic::transport::{Channel, Endpoint};
use vigia::pb::query_client::QueryClient;
use vigia::pb::ListSitesRequest;
use vigia::tls::TlsMaterial;

/// Largest answer accepted: a page stops growing at 3 MiB, plus the one site that crossed it.
const MAX_ANSWER: usize = 16 << 20;

/// Why the fleet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The certificate files are missing or wrong.
    #[error("collector certificates: {0}")]
    Tls(#[from] vigia::tls::TlsError),
    /// The URL or TLS settings were refused by the client library.
    #[error("collector {url}: {reason}")]
    Setup {
        /// The collector's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No connection could be made.
    #[error("collector {url} unreachable: {reason}")]
    Connect {
        /// The collector's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The collector answered with an error.
    #[error("collector {url} answered with an error: {status}")]
    Rpc {
        /// The collector's URL.
        url: String,
        /// The gRPC status.
        status: Box<tonic::Status>,
    },
}

/// Opens a Query client to the collector (mutual TLS with the reader certificate).
pub async fn connect(cfg: &CollectorConfig) -> Result<QueryClient<Channel>, FleetError> {
    Ok(QueryClient::new(channel(cfg).await?).max_decoding_message_size(MAX_ANSWER))
}

/// Asks the collector's gRPC health service whether it serves: cheap, no fleet data, so `run`
/// can notice an outage (and its start) between digests.
pub async fn ping(cfg: &CollectorConfig) -> Result<(), FleetError> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let mut client = HealthClient::new(channel(cfg).await?);
    let answer = tokio::time::timeout(
        cfg.timeout,
        client.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .map_err(|_| FleetError::Connect {
        url: cfg.url.clone(),
        reason: format!("no health answer within {:?}", cfg.timeout),
    })?
    .map_err(|status| FleetError::Rpc {
        url: cfg.url.clone(),
        status: Box::new(status),
    })?;
    match answer.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(FleetError::Connect {
            url: cfg.url.clone(),
            reason: format!("health check says {}", other.as_str_name()),
        }),
    }
}

/// A connected channel to the collector.
async fn channel(cfg: &CollectorConfig) -> Result<Channel, FleetError> {
    let tls = TlsMaterial::load(&cfg.ca, &cfg.cert, &cfg.key)?;
    let setup = |reason: String| FleetError::Setup {
        url: cfg.url.clone(),
        reason,
    };
    let endpoint = Endpoint::from_shared(cfg.url.clone())
        .map_err(|e| setup(e.to_string()))?
        .tls_config(tls.client_tls())
        .map_err(|e| setup(e.to_string()))?
        .connect_timeout(cfg.timeout)
        .timeout(cfg.timeout);
    endpoint.connect().await.map_err(|e| FleetError::Connect {
        url: cfg.url.clone(),
        reason: vigia::process::error_chain(&e),
    })
}

/// Most pages one listing may take: a collector that keeps answering with a token (a bug, or
/// a fleet a thousand times larger than any) must not keep the mailer reading forever.
const MAX_PAGES: usize = 10_000;

/// The whole fleet (retired sites left out), evaluated by the collector at one instant, read
/// page by page (`[collector] page_size`), each page folded into the digest's rows as it
/// arrives and dropped before the next is asked for.
pub async fn list_sites(cfg: &CollectorConfig) -> Result<FleetRows, FleetError> {
    list_sites_with(cfg, &[]).await
}

/// The sites with a verdict of one of `kinds` (every site when empty), as [`list_sites`]: the
/// alert check asks only for what can alert, not for 50,000 healthy sites every few minutes.
/// A collector that predates the filter answers with every site, which gives the same findings.
pub async fn list_sites_with(
    cfg: &CollectorConfig,
    kinds: &[vigia::pb::VerdictKind],
) -> Result<FleetRows, FleetError> {
    let mut rows = FleetRows::new();
    for_each_page(cfg, kinds, |page| rows.fold(page)).await?;
    Ok(rows)
}

/// Reads the listing page by page, handing each page to `each` in order. The next page is
/// asked for as soon as its token arrives, before `each` folds the current one, so the
/// collector builds page N+1 while the mailer folds page N: at most two pages are held.
/// Pages are decoded as [`WirePage`]: only what the digest keeps is built.
pub async fn for_each_page(
    cfg: &CollectorConfig,
    kinds: &[vigia::pb::VerdictKind],
    mut each: impl FnMut(WirePage),
) -> Result<(), FleetError> {
    let client =
        tonic::client::Grpc::new(channel(cfg).await?).max_decoding_message_size(MAX_ANSWER);
    let fetch = |token: String| {
        let (cfg, mut client, kinds) = (cfg.clone(), client.clone(), kinds.to_vec());
        tokio::spawn(async move { one_page(&cfg, &mut client, &token, &kinds).await })
    };
    let started = std::time::Instant::now();
    let mut pending = fetch(String::new());
    for pages in 1..=MAX_PAGES {
        let mut page = pending.await.map_err(|e| FleetError::Connect {
            url: cfg.url.clone(),
            reason: format!("the page reader stopped: {e}"),
        })??;
        let next = std::mem::take(&mut page.next_page_token);
        if next.is_empty() {
            each(page);
            tracing::debug!(
                pages,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "fleet read"
            );
            return Ok(());
        }
        pending = fetch(next);
        each(page);
    }
    pending.abort();
    Err(FleetError::Connect {
        url: cfg.url.clone(),
        reason: format!("the collector kept paging past {MAX_PAGES} pages of ListSites"),
    })
}

/// One page of `Query/ListSites`, decoded as [`WirePage`].
async fn one_page(
    cfg: &CollectorConfig,
    client: &mut tonic::client::Grpc<Channel>,
    token: &str,
    kinds: &[vigia::pb::VerdictKind],
) -> Result<WirePage, FleetError> {
    let rpc = |status| FleetError::Rpc {
        url: cfg.url.clone(),
        status: Box::new(status),
    };
    let request = ListSitesRequest {
        include_retired: false,
        page_size: cfg.page_size,
        page_token: token.to_string(),
        kinds: kinds.iter().map(|k| *k as i32).collect(),
        ..Default::default()
    };
    let call = async {
        client
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("collector not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<ListSitesRequest, WirePage>::default();
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/vigia.v1.Query/ListSites");
        let mut req = tonic::Request::new(request);
        req.extensions_mut()
            .insert(tonic::GrpcMethod::new("vigia.v1.Query", "ListSites"));
        client.unary(req, path, codec).await
    };
    let answer =
        tokio::time::timeout(cfg.timeout, call)
            .await
            .map_err(|_| FleetError::Connect {
                url: cfg.url.clone(),
                reason: format!("no answer within {:?}", cfg.timeout),
            })?;
    answer.map(tonic::Response::into_inner).map_err(rpc)
}
