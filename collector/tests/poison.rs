//! Frames a real probe would never send, and a probe sending far too many: each is answered
//! with a code and a message naming the limit, the stream ends after the acks it earned, and
//! the rest of the fleet (and the same site once its rate is back) keeps working.

mod support;

use prost::bytes::{Buf, BufMut};
use prost::Message;
use std::time::Duration;
use support::{probe_stream, status, Env, STEP};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::Code;
use vigia::pb::ReportAck;
use vigia_collector::testkit::{connect, TestCollector};

/// Sends frames as given bytes and reads acks: what a broken or hostile client puts on the wire.
#[derive(Default)]
struct RawCodec;

struct RawEncoder;
struct AckDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ReportAck;
    type Encoder = RawEncoder;
    type Decoder = AckDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> AckDecoder {
        AckDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for AckDecoder {
    type Item = ReportAck;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ReportAck>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ReportAck::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Opens Ingest/Report on `channel`, sends `frames`, and returns the acks then the final status.
async fn send_raw(channel: Channel, frames: Vec<Vec<u8>>) -> (Vec<u64>, tonic::Status) {
    let mut grpc = tonic::client::Grpc::new(channel);
    tokio::time::timeout(STEP, grpc.ready())
        .await
        .expect("ready in time")
        .expect("ready");
    let (tx, rx) = mpsc::channel(16);
    for f in frames {
        tx.send(f).await.expect("queue a frame");
    }
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/vigia.v1.Ingest/Report");
    let call = grpc.streaming(tonic::Request::new(ReceiverStream::new(rx)), path, RawCodec);
    let mut acks = Vec::new();
    let outcome = tokio::time::timeout(STEP, async {
        let mut inbound = match call.await {
            Ok(r) => r.into_inner(),
            Err(s) => return s,
        };
        loop {
            match inbound.message().await {
                Ok(Some(a)) => acks.push(a.sequence),
                Ok(None) => return tonic::Status::ok("stream ended without an error"),
                Err(s) => return s,
            }
        }
    })
    .await
    .expect("the collector answers in time");
    drop(tx);
    (acks, outcome)
}

#[tokio::test]
async fn undecodable_and_oversize_frames_are_refused_naming_the_fault_and_the_fleet_keeps_reporting(
) {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.max_message_bytes = 64 * 1024;
    })
    .await
    .expect("start");
    let now = chrono::Utc::now();
    let probe = env.fleet.probe("loja-1").expect("probe");
    let good = |seq| status("loja-1", "nvr", seq, now).encode_to_vec();

    // Garbage after a good status: the good one is acknowledged, then INVALID_ARGUMENT.
    let channel = connect(&c.url(), &probe).await.expect("connect");
    let garbage = vec![0xff; 64];
    let (acks, end) = send_raw(channel, vec![good(1), garbage]).await;
    assert_eq!(
        acks,
        vec![1],
        "the status before the garbage is acknowledged"
    );
    assert_eq!(end.code(), Code::InvalidArgument, "{end:?}");
    assert!(
        end.message().contains("not a vigia.v1.RecordingStatus"),
        "{}",
        end.message()
    );

    // A frame over twice max_message_bytes is never decoded: RESOURCE_EXHAUSTED naming the key.
    let channel = connect(&c.url(), &probe).await.expect("connect");
    let huge = vec![0u8; 200 * 1024];
    let (acks, end) = send_raw(channel, vec![good(2), huge]).await;
    assert_eq!(acks, vec![2]);
    assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
    assert!(
        end.message().contains("max_message_bytes = 65536"),
        "{}",
        end.message()
    );
    let limit = end
        .metadata()
        .get(vigia::pb::REFUSED_FRAME_LIMIT_METADATA)
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        limit,
        Some("131072"),
        "the trailer names the largest frame decoded, so a probe can set aside what is larger"
    );

    // The same probe, and the store, are fine afterwards.
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 3, now)).await;
    assert_eq!(s.next().await.expect("ack").sequence, 3);
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let sites = support::list_sites(&mut q).await;
    assert_eq!(sites.len(), 1, "the fleet is still served");
    c.stop().await;
}

#[tokio::test]
async fn a_site_over_its_rate_is_refused_with_resource_exhausted_and_others_are_not() {
    let env = Env::new();
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.ingest.burst = 5;
        cfg.ingest.statuses_per_minute = 60;
    })
    .await
    .expect("start");
    let now = chrono::Utc::now();
    let noisy = env.fleet.probe("loja-1").expect("probe");
    let quiet = env.fleet.probe("loja-2").expect("probe");

    let mut s = probe_stream(&c, &noisy).await.expect("stream");
    for seq in 1..=8 {
        s.send(status("loja-1", "nvr", seq, now)).await;
    }
    for seq in 1..=5 {
        assert_eq!(s.next().await.expect("within the burst").sequence, seq);
    }
    let e = s.next().await.expect_err("over the rate");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    for says in ["loja-1", "ingest.statuses_per_minute", "status 6"] {
        assert!(e.message().contains(says), "{says:?} in {}", e.message());
    }

    // A second stream of the same site shares the bucket.
    let mut again = probe_stream(&c, &noisy).await.expect("stream");
    again.send(status("loja-1", "nvr", 6, now)).await;
    assert_eq!(
        again.next().await.expect_err("still over").code(),
        Code::ResourceExhausted
    );

    // Another site is not affected.
    let mut other = probe_stream(&c, &quiet).await.expect("stream");
    other.send(status("loja-2", "nvr", 1, now)).await;
    assert_eq!(other.next().await.expect("ack").sequence, 1);

    // One status per second comes back: the refused one goes through after the wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut later = probe_stream(&c, &noisy).await.expect("stream");
    later.send(status("loja-1", "nvr", 6, now)).await;
    assert_eq!(later.next().await.expect("rate is back").sequence, 6);

    let data = c.data_dir.clone();
    c.stop().await;
    let store = vigia_collector::store::Store::open(&data, 8 << 20).expect("reopen");
    assert_eq!(
        store.history_len("loja-1"),
        6,
        "every acknowledged status stored, nothing refused stored"
    );
}
