//! What grpcurl needs with no .proto at hand: server reflection (v1 and v1alpha) listing the
//! three services and describing the messages, and gRPC health answering SERVING.

mod support;

use support::{Env, STEP};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1 as r1;
use tonic_reflection::pb::v1alpha as r1a;
use vigia_collector::testkit::connect;

/// The next answer of a reflection stream, within [`STEP`].
async fn next_answer<T>(answers: &mut tonic::Streaming<T>) -> T {
    tokio::time::timeout(STEP, answers.next())
        .await
        .expect("bounded")
        .expect("answer")
        .expect("ok")
}

#[tokio::test]
async fn reflection_lists_the_services_in_both_versions_and_health_is_serving() {
    let env = Env::new();
    let c = env.collector().await;
    let reader = env.fleet.reader("ops").expect("reader");
    let ch = connect(&c.url(), &reader).await.expect("connect");

    // v1
    let mut client = r1::server_reflection_client::ServerReflectionClient::new(ch.clone());
    let reqs = vec![
        r1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        r1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                r1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "vigia.v1.RecordingStatus".into(),
                ),
            ),
        },
    ];
    let mut answers = tokio::time::timeout(
        STEP,
        client.server_reflection_info(tokio_stream::iter(reqs)),
    )
    .await
    .expect("bounded")
    .expect("reflection v1")
    .into_inner();
    let first = next_answer(&mut answers).await;
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("unexpected answer {first:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "vigia.v1.Ingest",
        "vigia.v1.Query",
        "vigia.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let second = next_answer(&mut answers).await;
    let Some(r1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        second.message_response
    else {
        panic!("unexpected answer {second:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // v1alpha (older grpcurl and GUI clients)
    let mut client = r1a::server_reflection_client::ServerReflectionClient::new(ch.clone());
    let req = r1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1a::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = tokio::time::timeout(
        STEP,
        client.server_reflection_info(tokio_stream::iter(vec![req])),
    )
    .await
    .expect("bounded")
    .expect("reflection v1alpha")
    .into_inner();
    let first = next_answer(&mut answers).await;
    let Some(r1a::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("unexpected answer {first:?}");
    };
    assert!(list.service.iter().any(|s| s.name == "vigia.v1.Query"));

    // health
    let mut health = HealthClient::new(ch);
    for service in ["", "vigia.v1.Ingest", "vigia.v1.Query", "vigia.v1.Admin"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    c.stop().await;
}
