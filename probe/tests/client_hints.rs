//! The hint in a failed connection's log line comes from the error's type, checked here with
//! real failures on loopback: nothing listening, a peer that hangs up during the handshake, a
//! collector with a certificate from another CA or for another name, and a collector refusing
//! this probe's certificate. A collector that is simply away is never "the collector refused
//! this probe's certificate".

mod daemon_support;

use daemon_support::*;
use vigia_collector::testkit::{reserve_addr, CertPaths, TestFleet};
use vigia_probe::client::{ClientError, ConnectError, Connector, Failure, UrlError};
use vigia_probe::config::CollectorSection;

fn section(site: &SiteDir, url: &str, certs: &CertPaths) -> CollectorSection {
    site.config(url, certs, &Opts::default())
        .collector
        .expect("[collector]")
}

/// Connects, then opens a report stream (under TLS 1.3 a refused client certificate shows
/// only at the first RPC); returns the failure's classification and its sentence.
async fn attempt(connector: &Connector) -> (Failure, String) {
    let fut = async {
        match connector.connect().await {
            Err(e) => (e.failure(), e.to_string()),
            Ok(mut client) => {
                match client
                    .report(tokio_stream::pending::<vigia::pb::RecordingStatus>())
                    .await
                {
                    Ok(_) => panic!("the stream was accepted"),
                    Err(status) => {
                        let failure = std::error::Error::source(&status)
                            .map_or(Failure::Other, vigia_probe::client::classify);
                        (failure, connector.explain_status(&status))
                    }
                }
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("the attempt ends in time")
}

#[tokio::test]
async fn nothing_listening_is_unreachable_not_a_certificate_problem() {
    let site = SiteDir::new();
    let addr = reserve_addr().expect("free port");
    let connector =
        Connector::new(&section(&site, &url_of(addr), &site.probe_certs())).expect("connector");
    let err = connector.connect().await.expect_err("nothing listens");
    assert!(matches!(err, ConnectError::Failed { .. }), "{err}");
    assert_eq!(err.failure(), Failure::NotListening, "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("collector unreachable: nothing accepts connections at localhost:")
            && msg.contains("is vigia-collector running"),
        "{msg}"
    );
    assert!(!msg.contains("refused this probe"), "{msg}");
}

#[tokio::test]
async fn a_peer_that_hangs_up_during_the_handshake_is_a_cut_connection() {
    let site = SiteDir::new();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts and closes at once, like a collector going down under the probe.
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    let connector =
        Connector::new(&section(&site, &url_of(addr), &site.probe_certs())).expect("connector");
    let (failure, msg) = attempt(&connector).await;
    assert_eq!(failure, Failure::ConnectionLost, "{msg}");
    assert!(msg.contains("was cut"), "{msg}");
    assert!(!msg.contains("certificate"), "{msg}");
}

#[tokio::test]
async fn a_collector_certificate_from_another_ca_says_check_collector_ca() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    // A probe of another fleet: its CA did not issue this collector's certificate.
    let other_dir = site.path("other-fleet");
    std::fs::create_dir_all(&other_dir).expect("dir");
    let other = TestFleet::new(&other_dir).expect("other fleet");
    let connector = Connector::new(&section(
        &site,
        &collector.url(),
        &other.probe(SITE).expect("cert"),
    ))
    .expect("connector");
    let (failure, msg) = attempt(&connector).await;
    assert_eq!(failure, Failure::ServerUntrusted, "{msg}");
    assert!(msg.contains("`collector.ca`"), "{msg}");
    collector.stop().await;
}

#[tokio::test]
async fn a_collector_certificate_for_another_name_says_set_server_name() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let mut s = section(&site, &collector.url(), &site.probe_certs());
    s.server_name = Some("vigia.example.com".into());
    let connector = Connector::new(&s).expect("connector");
    let (failure, msg) = attempt(&connector).await;
    assert_eq!(failure, Failure::ServerWrongName, "{msg}");
    assert!(msg.contains("`collector.server_name`"), "{msg}");
    collector.stop().await;
}

#[tokio::test]
async fn a_probe_certificate_the_collector_refuses_says_so() {
    let site = SiteDir::new();
    let collector = site.start_collector().await;
    let foreign = site.fleet.foreign_probe(SITE).expect("cert");
    let connector = Connector::new(&section(&site, &collector.url(), &foreign)).expect("connector");
    let (failure, msg) = attempt(&connector).await;
    // Under TLS 1.3 the collector's alert arrives after our handshake, on the first request,
    // where h2 keeps only the I/O error's kind; during the handshake it is rustls' own verdict.
    assert!(
        matches!(failure, Failure::TlsSession | Failure::ClientRefused),
        "{failure:?}: {msg}"
    );
    assert!(
        msg.contains("refuses this probe's certificate")
            || msg.contains("refused this probe's certificate"),
        "{msg}"
    );
    collector.stop().await;
}

#[test]
fn an_unresolvable_host_name_says_so() {
    let rt = vigia::process::runtime(Some(1)).expect("runtime");
    rt.block_on(async {
        let site = SiteDir::new();
        // `.invalid` never resolves (RFC 2606).
        let connector = Connector::new(&section(
            &site,
            "https://collector.invalid:50051",
            &site.probe_certs(),
        ))
        .expect("connector");
        let err = connector.connect().await.expect_err("does not resolve");
        assert_eq!(err.failure(), Failure::NameNotResolved, "{err}");
        assert!(err.to_string().contains("does not resolve"), "{err}");
    });
}

#[test]
fn the_connect_timeout_is_unreachable() {
    let e = ConnectError::Timeout {
        addr: "h:1".into(),
        timeout: "2s".into(),
    };
    assert_eq!(e.failure(), Failure::TimedOut);
    assert!(e.to_string().starts_with("collector unreachable at h:1"));
}

#[test]
fn an_unusable_url_is_told_by_type() {
    let site = SiteDir::new();
    // Loading the file refuses these URLs already; the connector checks them again, by type,
    // for a section built in code.
    let mut s = section(&site, "https://localhost:50051", &site.probe_certs());
    s.url = "http://localhost:50051".into();
    let e = Connector::new(&s).expect_err("plain http");
    assert!(
        matches!(e, ClientError::Url(UrlError::NotHttps { .. })),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("key `collector.url`: "), "{e}");
    s.url = "https://local host:50051".into();
    let e = Connector::new(&s).expect_err("a space in the host");
    assert!(
        matches!(e, ClientError::Url(UrlError::Unparsable { .. })),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
}
