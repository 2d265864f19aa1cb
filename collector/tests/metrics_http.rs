//! `/metrics` over real HTTP/1.1 on loopback: the Prometheus text a plain GET gets (as the
//! collector always served it), OpenMetrics when `Accept` asks for it, one answer per
//! connection, 404 elsewhere, and the bound on connections held open at once.

mod support;

use support::{probe_stream, status, Env, STEP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use vigia_collector::testkit::TestCollector;

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    timeout(STEP, async {
        let mut sock = TcpStream::connect(addr).await.expect("connect");
        sock.write_all(request.as_bytes()).await.expect("write");
        let mut out = String::new();
        sock.read_to_string(&mut out).await.expect("read");
        out
    })
    .await
    .expect("the server closes the connection after one answer")
}

#[track_caller]
fn header<'a>(response: &'a str, name: &str) -> &'a str {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in {head}"))
}

async fn collector_with_metrics(env: &Env) -> (TestCollector, std::net::SocketAddr) {
    let c = TestCollector::start(&env.fleet, &env.data(), |cfg| {
        cfg.metrics.listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await
    .expect("start");
    let addr = c.metrics_addr.expect("metrics bound");
    (c, addr)
}

#[tokio::test]
async fn plain_get_gets_prometheus_text_and_openmetrics_is_negotiated() {
    let env = Env::new();
    let (c, addr) = collector_with_metrics(&env).await;
    let probe = env.fleet.probe("loja-1").expect("probe");
    let mut s = probe_stream(&c, &probe).await.expect("stream");
    s.send(status("loja-1", "nvr", 1, chrono::Utc::now())).await;
    s.next().await.expect("ack");

    let text = exchange(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        header(&text, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for line in [
        "# HELP vigia_statuses_ingested_total Statuses stored.\n",
        "# TYPE vigia_statuses_ingested_total counter\n",
        "vigia_statuses_ingested_total 1\n",
        "# TYPE vigia_site_verdict gauge\n",
        "vigia_site_verdict{site=\"loja-1\",verdict=\"OK\"} 1\n",
        "vigia_site_worst_severity{site=\"loja-1\"} 1\n",
        "vigia_store_writable 1\n",
        "vigia_tls_handshakes_refused_total{reason=\"timeout\"} 0\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(!text.contains("# EOF"), "{text}");

    let open = exchange(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n",
    )
    .await;
    assert!(open.starts_with("HTTP/1.1 200"), "{open}");
    assert!(
        header(&open, "content-type").starts_with("application/openmetrics-text"),
        "{open}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE vigia_statuses_ingested counter\n"),
        "{open}"
    );
    assert!(open.contains("vigia_statuses_ingested_total 1\n"), "{open}");

    let other = exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    assert!(other.ends_with("try /metrics\n"), "{other}");
    c.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_bound_are_closed_and_the_endpoint_recovers() {
    let env = Env::new();
    let (c, addr) = collector_with_metrics(&env).await;
    // Connections that never send a request hold every slot...
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // ...so one more is closed without an answer (the accept loop takes them in order).
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    let _ = extra
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let read = timeout(STEP, extra.read_to_end(&mut got))
        .await
        .expect("closed at once, not left waiting");
    assert!(
        read.is_err() || got.is_empty(),
        "answered beyond the bound: {}",
        String::from_utf8_lossy(&got)
    );
    // Once the idle ones go, scrapes are answered again.
    drop(idle);
    let answered = timeout(STEP, async {
        loop {
            let r = exchange(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
            if r.starts_with("HTTP/1.1 200") {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("answered once the slots are free");
    assert!(answered.contains("vigia_store_writable 1"), "{answered}");
    c.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let env = Env::new();
    let (c, addr) = collector_with_metrics(&env).await;
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    // The head timeout (5 s) closes it; STEP only bounds the test.
    let read = timeout(STEP, sock.read_to_end(&mut got))
        .await
        .expect("the server hangs up on a head that never ends");
    let text = String::from_utf8_lossy(&got);
    assert!(
        read.is_err() || !text.contains("200 OK"),
        "answered an unfinished request: {text}"
    );
    c.stop().await;
}
