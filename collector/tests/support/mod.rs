//! Helpers shared by the collector's integration tests: a minted fleet in a temp dir, statuses
//! that pass validation, and a probe-side stream that sends and collects acks under timeouts.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;
use vigia::pb::ingest_client::IngestClient;
use vigia::pb::{RecordingStatus, ReportAck};
use vigia::status_builder::StatusBuilder;
use vigia_collector::testkit::{connect, CertPaths, TestCollector, TestFleet};

/// Every wait in a test.
pub const STEP: Duration = Duration::from_secs(10);

/// A temp dir with a fleet in `certs/` and room for a store in `data/`.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub fleet: TestFleet,
}

impl Env {
    pub fn new() -> Env {
        vigia::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
        Env { dir, fleet }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A collector with the default configuration on this fleet and store.
    pub async fn collector(&self) -> TestCollector {
        TestCollector::start(&self.fleet, &self.data(), |_| {})
            .await
            .expect("start")
    }
}

/// A healthy status that passes validation, scanned at `now` (41 days kept, in UTC).
pub fn status(
    site: &str,
    recorder: &str,
    sequence: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> RecordingStatus {
    healthy(site, recorder, sequence, now).build()
}

/// [`status`] before it is built, for a test that changes more of it (cameras, say).
pub fn healthy(
    site: &str,
    recorder: &str,
    sequence: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> StatusBuilder {
    StatusBuilder::new(now)
        .site(site)
        .recorder(recorder)
        .sequence(sequence)
        .spool_id("spool-a")
        .zone("UTC")
        .days(41)
        .newest(now - chrono::Duration::minutes(3))
        .disk(1 << 39, 1 << 40)
}

/// One open Ingest stream from a probe's point of view.
pub struct ProbeStream {
    pub tx: mpsc::Sender<RecordingStatus>,
    pub acks: Streaming<ReportAck>,
}

impl ProbeStream {
    pub async fn open(channel: Channel) -> Result<ProbeStream, tonic::Status> {
        let (tx, rx) = mpsc::channel(1024);
        let mut client = IngestClient::new(channel);
        let resp = tokio::time::timeout(STEP, client.report(ReceiverStream::new(rx)))
            .await
            .map_err(|_| tonic::Status::deadline_exceeded("open timed out"))??;
        Ok(ProbeStream {
            tx,
            acks: resp.into_inner(),
        })
    }

    pub async fn send(&self, s: RecordingStatus) {
        self.tx.send(s).await.expect("stream open");
    }

    /// The next ack, or the stream's error status.
    pub async fn next(&mut self) -> Result<ReportAck, tonic::Status> {
        match tokio::time::timeout(STEP, self.acks.message()).await {
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "no ack within the test timeout",
            )),
            Ok(Err(s)) => Err(s),
            Ok(Ok(Some(a))) => Ok(a),
            Ok(Ok(None)) => Err(tonic::Status::cancelled("stream ended")),
        }
    }
}

/// Opens a probe stream with `paths`' certificate.
pub async fn probe_stream(
    c: &TestCollector,
    paths: &CertPaths,
) -> Result<ProbeStream, tonic::Status> {
    let channel = connect(&c.url(), paths)
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:#}")))?;
    ProbeStream::open(channel).await
}

/// Every site ListSites reports (retired ones left out), through a reader's client.
pub async fn list_sites(
    q: &mut vigia::pb::query_client::QueryClient<Channel>,
) -> Vec<vigia::pb::SiteReport> {
    q.list_sites(vigia::pb::ListSitesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .sites
}
