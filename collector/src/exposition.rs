//! `/metrics` on `[metrics] listen` (off by default), for fleets that already watch Grafana:
//! per-site verdicts, recording and contact ages, ingest and rejection counters. The verdicts
//! come from the same code as Query, so a dashboard and the email never disagree.
//!
//! A scrape reads the counters ([`crate::metrics`]), the store's health and the fleet's reports
//! into one [`Snapshot`] and hands it to prometheus-client as a collector, which writes the
//! exposition: the Prometheus text format (0.0.4, what `curl` gets) or OpenMetrics when the
//! scraper asks for it in `Accept`. The HTTP/1.1 side is hyper (tonic's own), one request per
//! connection, bounded in connections, head size and time. The endpoint holds no secrets
//! beyond site names, so bind it to a trusted interface. This is the top of the crate's layers
//! beside the server: it reads the report, the store and the counters; nothing imports it but
//! the server, which starts it.

use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{header, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use vigia::days::from_timestamp;
use vigia::pb::{SiteReport, SiteState, VerdictKind};

use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use crate::store_cell::{Fault, StoreCell};

/// Scrapes served at once; a scraper beyond that is closed at once (it retries next interval).
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may live, the answer included (a slow reader is cut off).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// hyper's smallest read buffer, and so the largest request head accepted.
const MAX_HEAD_BYTES: usize = 8192;

/// What one scrape shows, read before anything is written.
#[derive(Debug)]
pub struct Snapshot {
    counters: [u64; 3],
    rejections: [u64; 3],
    open_streams: u64,
    connections_open: u64,
    handshakes_refused: Vec<(&'static str, u64)>,
    writable: bool,
    fault: Option<Fault>,
    faults: u64,
    reopens: u64,
    /// The fleet's reports and the sites' dropped counts, or why the store could not say.
    fleet: Result<Fleet, String>,
}

#[derive(Debug)]
struct Fleet {
    now: DateTime<Utc>,
    reports: Vec<SiteReport>,
    dropped: Vec<(String, u64)>,
}

impl Snapshot {
    /// Reads the counters, the store's health and the fleet's verdicts at `now` (blocking: the
    /// store is read).
    pub fn take(
        config: &CollectorConfig,
        now: chrono::DateTime<chrono::Utc>,
        cell: &StoreCell,
        metrics: &Metrics,
    ) -> Snapshot {
        let refused = match metrics.handshakes_refused.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Snapshot {
            counters: [
                metrics.ingested.get(),
                metrics.duplicates.get(),
                metrics.flushes.get(),
            ],
            rejections: [
                metrics.rejected_invalid.get(),
                metrics.rejected_permission.get(),
                metrics.rejected_exhausted.get(),
            ],
            open_streams: metrics.open_streams.load(Ordering::Relaxed),
            connections_open: metrics.connections_open.load(Ordering::Relaxed),
            // Every reason, zeros included, so rates work from the first scrape.
            handshakes_refused: crate::accept::REFUSAL_REASONS
                .iter()
                .map(|r| (*r, refused.get(r).copied().unwrap_or(0)))
                .collect(),
            writable: cell.is_writable(),
            fault: cell.fault(),
            faults: cell.faults.get(),
            reopens: cell.reopens.get(),
            fleet: fleet(config, now, cell).map_err(|e| e.to_string().replace('\n', " ")),
        }
    }
}

fn fleet(
    config: &CollectorConfig,
    now: chrono::DateTime<chrono::Utc>,
    cell: &StoreCell,
) -> Result<Fleet, crate::store::StoreError> {
    let store = cell.read()?;
    let reports = crate::report::all_reports(config, &store, now, false)?;
    let dropped = store
        .sites()
        .map(|sites| {
            sites
                .into_iter()
                .filter(|(_, r)| r.dropped_total > 0)
                .map(|(site, r)| (site, r.dropped_total))
                .collect()
        })
        .unwrap_or_default();
    Ok(Fleet {
        now,
        reports,
        dropped,
    })
}

fn age_secs(now: DateTime<Utc>, t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
}

/// One metric without labels.
fn single(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(enc.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Names without `_total`: prometheus-client adds it to counters.
        let counters = [
            ("vigia_statuses_ingested", "Statuses stored."),
            (
                "vigia_statuses_duplicate",
                "Re-sent statuses acknowledged again without storing.",
            ),
            (
                "vigia_store_flushes",
                "Store flushes (one per group commit).",
            ),
        ];
        for ((name, help), v) in counters.into_iter().zip(self.counters) {
            single(&mut enc, name, help, ConstCounter::new(v))?;
        }
        let mut m = enc.encode_descriptor(
            "vigia_rejections",
            "Statuses or calls refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        let reasons = [
            "invalid_argument",
            "permission_denied",
            "resource_exhausted",
        ];
        for (reason, v) in reasons.into_iter().zip(self.rejections) {
            ConstCounter::new(v).encode(m.encode_family(&[("reason", reason)])?)?;
        }
        single(
            &mut enc,
            "vigia_ingest_streams",
            "Ingest streams open now.",
            ConstGauge::new(self.open_streams),
        )?;
        self.encode_connections(&mut enc)?;
        self.encode_store_health(&mut enc)?;
        if let Ok(fleet) = &self.fleet {
            fleet.encode(&mut enc)?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// Open connections and refused handshakes.
    fn encode_connections(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        single(
            enc,
            "vigia_connections_open",
            "TLS connections open now.",
            ConstGauge::new(self.connections_open),
        )?;
        let mut m = enc.encode_descriptor(
            "vigia_tls_handshakes_refused",
            "TLS handshakes refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, v) in &self.handshakes_refused {
            ConstCounter::new(*v).encode(m.encode_family(&[("reason", *reason)])?)?;
        }
        Ok(())
    }

    /// Whether the store writes, and if not why (the storage faults of `crate::store_cell`).
    fn encode_store_health(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        single(
            enc,
            "vigia_store_writable",
            "1 when the store accepts writes; 0 during a storage fault (statuses refused, not acknowledged; probes keep them).",
            ConstGauge::new(i64::from(self.writable)),
        )?;
        let mut m = enc.encode_descriptor(
            "vigia_store_fault_info",
            "The storage fault now (absent when the store writes): reason and message.",
            None,
            MetricType::Gauge,
        )?;
        if let Some(f) = &self.fault {
            let labels = [("reason", f.reason), ("message", f.message.as_str())];
            ConstGauge::new(1).encode(m.encode_family(&labels)?)?;
            single(
                enc,
                "vigia_store_fault_since_seconds",
                "Seconds since the storage fault began.",
                ConstGauge::new((Utc::now() - f.since).num_milliseconds() as f64 / 1000.0),
            )?;
        }
        single(
            enc,
            "vigia_store_faults",
            "Storage faults since start.",
            ConstCounter::new(self.faults),
        )?;
        single(
            enc,
            "vigia_store_reopens",
            "Times the store was reopened in-process after a fault.",
            ConstCounter::new(self.reopens),
        )
    }
}

impl Fleet {
    /// The per-site families, from the same reports as Query.
    fn encode(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = enc.encode_descriptor(
            "vigia_site_verdict",
            "1 for each verdict a site has now (OK when nothing is wrong).",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.reports {
            let mut kinds: Vec<VerdictKind> = r.verdicts.iter().map(|v| v.kind()).collect();
            kinds.sort_by_key(|k| *k as i32);
            kinds.dedup();
            for k in kinds {
                let verdict = k.as_str_name().trim_start_matches("VERDICT_KIND_");
                let labels = [("site", r.site.as_str()), ("verdict", verdict)];
                ConstGauge::new(1).encode(m.encode_family(&labels)?)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "vigia_site_worst_severity",
            "Severity of the site's worst verdict (1 = OK, 10 = never reported).",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.reports {
            let severity = vigia::rules::severity(vigia::rules::worst(&r.verdicts));
            ConstGauge::new(i64::from(severity))
                .encode(m.encode_family(&[("site", r.site.as_str())])?)?;
        }
        let mut m = enc.encode_descriptor(
            "vigia_site_statuses_dropped",
            "Statuses the site's probe dropped from its full spool (lost while it could not deliver).",
            None,
            MetricType::Counter,
        )?;
        for (site, dropped) in &self.dropped {
            ConstCounter::new(*dropped).encode(m.encode_family(&[("site", site.as_str())])?)?;
        }
        let mut m = enc.encode_descriptor(
            "vigia_site_last_contact_age_seconds",
            "Seconds since the site's latest status arrived.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.reports {
            if r.state() == SiteState::Expected {
                continue;
            }
            let contact = r.last_contact.as_ref().and_then(from_timestamp);
            if let Some(a) = age_secs(self.now, contact) {
                ConstGauge::new(a).encode(m.encode_family(&[("site", r.site.as_str())])?)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "vigia_recorder_newest_recording_age_seconds",
            "Age of the recorder's newest recording, now.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.reports {
            for rec in &r.recorders {
                let Some(s) = &rec.status else { continue };
                let newest = s.newest_recording.as_ref().and_then(from_timestamp);
                if let Some(a) = age_secs(self.now, newest) {
                    let labels = [("site", r.site.as_str()), ("recorder", s.recorder.as_str())];
                    ConstGauge::new(a).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// The two text formats a scrape can get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: what a plain `GET` gets, as the collector always served.
    Prometheus,
    /// OpenMetrics 1.0 text, for a scraper whose `Accept` names it (Prometheus does).
    OpenMetrics,
}

impl Format {
    /// The format a request's `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Writes `snapshot` as the whole exposition in `format`.
pub fn render(snapshot: Snapshot, format: Format) -> String {
    let store_error = snapshot.fleet.as_ref().err().cloned();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::with_capacity(4096);
    let written = match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    if let Err(e) = written {
        // Writing into a String fails only on a metric the encoder refuses: say so in place.
        tracing::warn!(error = %e, "metrics exposition failed");
    }
    if let Some(e) = store_error {
        tracing::warn!(error = %e, "/metrics: the store could not be read; per-site metrics left out");
        // OpenMetrics allows no comment after `# EOF`; the Prometheus text keeps its old hint.
        if format == Format::Prometheus {
            out.push_str(&format!("# store error: {e}\n"));
        }
    }
    out
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

/// Serves `/metrics` on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    config: Arc<CollectorConfig>,
    clock: crate::clock::Clock,
    store: Arc<StoreCell>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of file descriptors, typically: let some close before accepting again.
                tracing::debug!(error = %e, "/metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let (config, clock, store, metrics) = (
            config.clone(),
            clock.clone(),
            store.clone(),
            metrics.clone(),
        );
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (config, clock, store, metrics) = (
                config.clone(),
                clock.clone(),
                store.clone(),
                metrics.clone(),
            );
            async move {
                let path = req.uri().path();
                if path != "/metrics" {
                    let body = "try /metrics\n".to_string();
                    return Ok::<_, std::convert::Infallible>(answer(
                        StatusCode::NOT_FOUND,
                        "text/plain",
                        body,
                    ));
                }
                let accept = req.headers().get(header::ACCEPT);
                let format = Format::from_accept(accept.and_then(|a| a.to_str().ok()));
                let body = tokio::task::spawn_blocking(move || {
                    render(
                        Snapshot::take(&config, clock.now(), &store, &metrics),
                        format,
                    )
                })
                .await
                .unwrap_or_default();
                Ok(answer(StatusCode::OK, format.content_type(), body))
            }
        });
        tokio::spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                // One request per connection, closed after the answer (as before).
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
}
