//! Prometheus text on `[metrics] listen` (off by default), for fleets that already watch
//! Grafana: per-site verdicts, recording and contact ages, ingest and rejection counters. The
//! verdicts come from the same code as Query, so a dashboard and the email never disagree.
//! Plain HTTP/1.1 with one route; the endpoint holds no secrets beyond site names, so bind it
//! to a trusted interface.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vigia::days::from_timestamp;
use vigia::pb::{SiteState, VerdictKind};

use crate::config::CollectorConfig;
use crate::store_cell::StoreCell;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The collector's counters, shared by the writer and the gRPC handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Statuses stored.
    pub ingested: Counter,
    /// Re-sent statuses acknowledged again without storing.
    pub duplicates: Counter,
    /// Statuses refused with INVALID_ARGUMENT.
    pub rejected_invalid: Counter,
    /// Calls refused with PERMISSION_DENIED.
    pub rejected_permission: Counter,
    /// Statuses refused with RESOURCE_EXHAUSTED: over the site's rate, or a frame over the size limit.
    pub rejected_exhausted: Counter,
    /// Store flushes (one per group commit).
    pub flushes: Counter,
    /// Ingest streams currently open.
    pub open_streams: AtomicU64,
    /// TLS connections open now (handshake done, until closed).
    pub connections_open: AtomicU64,
    /// Refused TLS handshakes by reason (`crate::accept::REFUSAL_REASONS`).
    pub handshakes_refused: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one refused TLS handshake.
    pub fn handshake_refused(&self, reason: &'static str) {
        let mut m = match self.handshakes_refused.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        *m.entry(reason).or_default() += 1;
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn age_secs(now: DateTime<Utc>, t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
}

/// Renders the whole exposition.
pub fn render(config: &CollectorConfig, cell: &StoreCell, metrics: &Metrics) -> String {
    let now = config.clock.now();
    let mut out = String::with_capacity(4096);
    let counters = [
        (
            "vigia_statuses_ingested_total",
            "Statuses stored.",
            metrics.ingested.get(),
        ),
        (
            "vigia_statuses_duplicate_total",
            "Re-sent statuses acknowledged again without storing.",
            metrics.duplicates.get(),
        ),
        (
            "vigia_store_flushes_total",
            "Store flushes (one per group commit).",
            metrics.flushes.get(),
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigia_rejections_total Statuses or calls refused, by reason.\n# TYPE vigia_rejections_total counter\nvigia_rejections_total{{reason=\"invalid_argument\"}} {}\nvigia_rejections_total{{reason=\"permission_denied\"}} {}\nvigia_rejections_total{{reason=\"resource_exhausted\"}} {}",
        metrics.rejected_invalid.get(),
        metrics.rejected_permission.get(),
        metrics.rejected_exhausted.get()
    );
    let _ = writeln!(
        out,
        "# HELP vigia_ingest_streams Ingest streams open now.\n# TYPE vigia_ingest_streams gauge\nvigia_ingest_streams {}",
        metrics.open_streams.load(Ordering::Relaxed)
    );
    render_connections(&mut out, metrics);
    render_store_health(&mut out, cell);
    let store = match cell.read() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "# store error: {}", e.to_string().replace('\n', " "));
            return out;
        }
    };
    let store = &store;
    let reports = match crate::report::all_reports(config, store, now, false) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "# store error: {}", e.to_string().replace('\n', " "));
            return out;
        }
    };
    out.push_str("# HELP vigia_site_verdict 1 for each verdict a site has now (OK when nothing is wrong).\n# TYPE vigia_site_verdict gauge\n");
    for r in &reports {
        let mut kinds: Vec<VerdictKind> = r.verdicts.iter().map(|v| v.kind()).collect();
        kinds.sort_by_key(|k| *k as i32);
        kinds.dedup();
        for k in kinds {
            let _ = writeln!(
                out,
                "vigia_site_verdict{{site=\"{}\",verdict=\"{}\"}} 1",
                escape(&r.site),
                k.as_str_name().trim_start_matches("VERDICT_KIND_")
            );
        }
    }
    out.push_str("# HELP vigia_site_worst_severity Severity of the site's worst verdict (1 = OK, 10 = never reported).\n# TYPE vigia_site_worst_severity gauge\n");
    for r in &reports {
        let _ = writeln!(
            out,
            "vigia_site_worst_severity{{site=\"{}\"}} {}",
            escape(&r.site),
            vigia::rules::severity(vigia::rules::worst(&r.verdicts))
        );
    }
    out.push_str("# HELP vigia_site_statuses_dropped_total Statuses the site's probe dropped from its full spool (lost while it could not deliver).\n# TYPE vigia_site_statuses_dropped_total counter\n");
    if let Ok(sites) = store.sites() {
        for (site, rec) in sites.iter().filter(|(_, r)| r.dropped_total > 0) {
            let _ = writeln!(
                out,
                "vigia_site_statuses_dropped_total{{site=\"{}\"}} {}",
                escape(site),
                rec.dropped_total
            );
        }
    }
    out.push_str("# HELP vigia_site_last_contact_age_seconds Seconds since the site's latest status arrived.\n# TYPE vigia_site_last_contact_age_seconds gauge\n");
    for r in &reports {
        if r.state() == SiteState::Expected {
            continue;
        }
        if let Some(a) = age_secs(now, r.last_contact.as_ref().and_then(from_timestamp)) {
            let _ = writeln!(
                out,
                "vigia_site_last_contact_age_seconds{{site=\"{}\"}} {a:.3}",
                escape(&r.site)
            );
        }
    }
    out.push_str("# HELP vigia_recorder_newest_recording_age_seconds Age of the recorder's newest recording, now.\n# TYPE vigia_recorder_newest_recording_age_seconds gauge\n");
    for r in &reports {
        for rec in &r.recorders {
            let Some(s) = &rec.status else { continue };
            if let Some(a) = age_secs(now, s.newest_recording.as_ref().and_then(from_timestamp)) {
                let _ = writeln!(
                    out,
                    "vigia_recorder_newest_recording_age_seconds{{site=\"{}\",recorder=\"{}\"}} {a:.3}",
                    escape(&r.site),
                    escape(&s.recorder)
                );
            }
        }
    }
    out
}

/// Whether the store writes, and if not why (the storage faults of `crate::store_cell`).
fn render_store_health(out: &mut String, cell: &StoreCell) {
    let fault = cell.fault();
    let _ = writeln!(
        out,
        "# HELP vigia_store_writable 1 when the store accepts writes; 0 during a storage fault (statuses refused, not acknowledged; probes keep them).\n# TYPE vigia_store_writable gauge\nvigia_store_writable {}",
        u8::from(cell.is_writable())
    );
    out.push_str("# HELP vigia_store_fault_info The storage fault now (absent when the store writes): reason and message.\n# TYPE vigia_store_fault_info gauge\n");
    if let Some(f) = &fault {
        let _ = writeln!(
            out,
            "vigia_store_fault_info{{reason=\"{}\",message=\"{}\"}} 1",
            f.reason,
            escape(&f.message)
        );
        let _ = writeln!(
            out,
            "# HELP vigia_store_fault_since_seconds Seconds since the storage fault began.\n# TYPE vigia_store_fault_since_seconds gauge\nvigia_store_fault_since_seconds {:.3}",
            (chrono::Utc::now() - f.since).num_milliseconds() as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "# HELP vigia_store_faults_total Storage faults since start.\n# TYPE vigia_store_faults_total counter\nvigia_store_faults_total {}\n# HELP vigia_store_reopens_total Times the store was reopened in-process after a fault.\n# TYPE vigia_store_reopens_total counter\nvigia_store_reopens_total {}",
        cell.faults.get(),
        cell.reopens.get()
    );
}

/// Open connections and refused handshakes (every reason, zeros included, so rates work).
fn render_connections(out: &mut String, metrics: &Metrics) {
    let _ = writeln!(
        out,
        "# HELP vigia_connections_open TLS connections open now.\n# TYPE vigia_connections_open gauge\nvigia_connections_open {}",
        metrics.connections_open.load(Ordering::Relaxed)
    );
    out.push_str("# HELP vigia_tls_handshakes_refused_total TLS handshakes refused, by reason.\n# TYPE vigia_tls_handshakes_refused_total counter\n");
    let refused = match metrics.handshakes_refused.lock() {
        Ok(m) => m.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for reason in crate::accept::REFUSAL_REASONS {
        let _ = writeln!(
            out,
            "vigia_tls_handshakes_refused_total{{reason=\"{reason}\"}} {}",
            refused.get(reason).copied().unwrap_or(0)
        );
    }
}

/// Serves `/metrics` on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    config: Arc<CollectorConfig>,
    store: Arc<StoreCell>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = crate::server::stopped(&mut stop) => return,
        };
        let Ok((mut sock, _)) = accepted else {
            continue;
        };
        let (config, store, metrics) = (config.clone(), store.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut n = 0;
            // Read the request head (bounded in size and time), answer, close.
            let head = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    let r = sock.read(&mut buf[n..]).await.ok()?;
                    if r == 0 {
                        return None;
                    }
                    n += r;
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        return Some(());
                    }
                }
                Some(())
            })
            .await;
            if !matches!(head, Ok(Some(()))) {
                return;
            }
            let line = String::from_utf8_lossy(&buf[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (code, ctype, body) = if path == "/metrics" || path.starts_with("/metrics?") {
                let body = tokio::task::spawn_blocking(move || render(&config, &store, &metrics))
                    .await
                    .unwrap_or_default();
                ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
            } else {
                ("404 Not Found", "text/plain", "try /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
