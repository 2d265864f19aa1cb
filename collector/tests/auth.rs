//! Who may call what: every refusal the collector makes from the client certificate alone,
//! each with its code.

mod support;

use support::{probe_stream, status, Env, STEP};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;
use vigia::pb::admin_client::AdminClient;
use vigia::pb::query_client::QueryClient;
use vigia::pb::{ExpectSiteRequest, ListSitesRequest};
use vigia_collector::testkit::connect;

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let env = Env::new();
    let c = env.collector().await;
    let ca = std::fs::read(env.fleet.ca_pem()).expect("ca");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let endpoint = Channel::from_shared(c.url())
        .expect("url")
        .tls_config(tls)
        .expect("tls")
        .connect_timeout(STEP);
    // Under TLS 1.3 the handshake may complete; the first RPC must fail either way.
    let outcome = tokio::time::timeout(STEP, async {
        let ch = endpoint.connect().await.map_err(|e| e.to_string())?;
        QueryClient::new(ch)
            .list_sites(ListSitesRequest::default())
            .await
            .map(|_| ())
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    })
    .await
    .expect("bounded");
    let err = outcome.expect_err("no certificate must be refused");
    assert!(
        err.starts_with("Unknown") || err.starts_with("Unavailable") || err.contains("transport"),
        "{err}"
    );
    c.stop().await;
}

#[tokio::test]
async fn certificates_from_another_ca_or_expired_are_refused() {
    let env = Env::new();
    let c = env.collector().await;
    for paths in [
        env.fleet.foreign_probe("loja-1").expect("foreign"),
        env.fleet.expired_probe("loja-1").expect("expired"),
    ] {
        let result = tokio::time::timeout(STEP, async {
            let mut s = probe_stream(&c, &paths).await?;
            s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
            s.next().await
        })
        .await
        .expect("bounded");
        let e = result.expect_err("must be refused");
        // The TLS layer refuses: the RPC fails as a transport error, never reaching a handler.
        assert!(
            matches!(e.code(), Code::Unknown | Code::Unavailable),
            "{}: {e:?}",
            paths.cert.display()
        );
    }
    // Nothing was stored.
    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let sites = support::list_sites(&mut q).await;
    assert!(sites.is_empty(), "{sites:?}");
    c.stop().await;
}

#[tokio::test]
async fn a_probe_may_report_only_for_its_own_site() {
    let env = Env::new();
    let c = env.collector().await;
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    let now = chrono::Utc::now();
    s.send(status("loja-1", "nvr", 1, now)).await;
    assert_eq!(s.next().await.expect("own site").sequence, 1);
    s.send(status("loja-2", "nvr", 2, now)).await;
    let e = s.next().await.expect_err("other site");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("loja-2"), "{}", e.message());

    let mut q = c.query_client(&env.fleet, "ops").await.expect("query");
    let sites = support::list_sites(&mut q).await;
    let names: Vec<_> = sites.iter().map(|s| s.site.as_str()).collect();
    assert_eq!(names, ["loja-1"]);
    c.stop().await;
}

#[tokio::test]
async fn probes_may_not_query_or_administer_and_readers_may_not_ingest() {
    let env = Env::new();
    let c = env.collector().await;
    let probe = env.fleet.probe("loja-1").expect("probe");
    let ch = connect(&c.url(), &probe).await.expect("connect");
    let e = QueryClient::new(ch.clone())
        .list_sites(ListSitesRequest::default())
        .await
        .expect_err("probe queries");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = AdminClient::new(ch)
        .expect_site(ExpectSiteRequest {
            site: "loja-9".into(),
            ..Default::default()
        })
        .await
        .expect_err("probe administers");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    let reader = env.fleet.reader("ops").expect("reader");
    let e = match probe_stream(&c, &reader).await {
        Err(e) => e,
        Ok(mut s) => {
            s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
            s.next().await.expect_err("reader ingests")
        }
    };
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("probe"), "{}", e.message());
    c.stop().await;
}
