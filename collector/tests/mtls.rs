//! The fleet CA end to end: certificates minted here, real rustls handshakes over loopback, the
//! role and name read back on the server side, and every kind of bad certificate refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigia::tls::{PeerIdentity, Role, TlsError, TlsMaterial};
use vigia_collector::ca::{self, Ca, PemPair, Subject, Validity};
use vigia_collector::issuing;

const STEP: Duration = Duration::from_secs(10);

struct Fleet {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::generate("test", Validity::days(30).expect("validity")).expect("ca");
        let fleet = Fleet { dir, ca };
        std::fs::write(fleet.path("ca.pem"), fleet.ca.cert_pem()).expect("write ca");
        fleet
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues a pair, writes it under `stem`, and loads it as a party trusting this fleet's CA.
    fn party(&self, stem: &str, subject: Subject) -> TlsMaterial {
        let pair = self
            .ca
            .issue(&subject, Validity::days(30).expect("validity"))
            .expect("issue");
        self.load(stem, &pair)
    }

    fn load(&self, stem: &str, pair: &PemPair) -> TlsMaterial {
        ca::write_pair(self.dir.path(), stem, pair, true).expect("write pair");
        TlsMaterial::load(
            &self.path("ca.pem"),
            &self.path(&format!("{stem}.pem")),
            &self.path(&format!("{stem}.key")),
        )
        .expect("load material")
    }
}

fn server_subject() -> Subject {
    Subject::Server {
        dns: vec!["localhost".into()],
        ips: vec!["127.0.0.1".parse().expect("ip")],
    }
}

/// Runs one handshake on loopback; returns what the server saw of the client, or its error.
async fn handshake(server: &TlsMaterial, client: &TlsMaterial) -> Result<PeerIdentity, String> {
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(server.rustls_server_config().expect("server")));
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client.rustls_client_config().expect("client")));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");

    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let leaf = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no client certificate")?
            .clone();
        let id = PeerIdentity::from_der(&leaf).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(id)
    });

    let client_side = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        // Under TLS 1.3 a refused client certificate only shows on the first read.
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    let client_result = tokio::time::timeout(STEP, client_side)
        .await
        .unwrap_or_else(|_| Err("client timed out".into()));
    let server_result = tokio::time::timeout(STEP, server_side)
        .await
        .map_err(|_| "server timed out".to_string())?
        .map_err(|e| e.to_string())?;
    match (server_result, client_result) {
        (Ok(id), Ok(())) => Ok(id),
        (Err(e), _) => Err(format!("server: {e}")),
        (Ok(_), Err(e)) => Err(format!("client: {e}")),
    }
}

#[tokio::test]
async fn one_ca_issues_server_probe_and_reader_and_roles_travel() {
    vigia::tls::install_crypto_provider();
    let fleet = Fleet::new();
    let server = fleet.party("server", server_subject());
    let probe = fleet.party(
        "loja-12",
        Subject::Probe {
            site: "loja-12".into(),
        },
    );
    let reader = fleet.party(
        "mailer",
        Subject::Reader {
            name: "mailer".into(),
        },
    );
    assert_eq!(server.identity.role, Role::Server);

    let seen = handshake(&server, &probe).await.expect("probe handshake");
    assert_eq!(
        seen,
        PeerIdentity {
            role: Role::Probe,
            name: "loja-12".into()
        }
    );
    let seen = handshake(&server, &reader).await.expect("reader handshake");
    assert_eq!(
        seen,
        PeerIdentity {
            role: Role::Reader,
            name: "mailer".into()
        }
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    vigia::tls::install_crypto_provider();
    let fleet = Fleet::new();
    let server = fleet.party("server", server_subject());
    let other = Ca::generate("other", Validity::days(30).expect("validity")).expect("ca");
    let foreign = other
        .issue(
            &Subject::Probe {
                site: "loja-12".into(),
            },
            Validity::days(30).expect("validity"),
        )
        .expect("issue");
    // The client trusts our CA (so it accepts the server) but presents the other CA's certificate.
    let client = fleet.load("foreign", &foreign);
    let err = handshake(&server, &client).await.expect_err("must refuse");
    assert!(err.starts_with("server:"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // And a probe of ours refuses a server whose certificate comes from the other CA.
    let probe = fleet.party(
        "loja-13",
        Subject::Probe {
            site: "loja-13".into(),
        },
    );
    let other_server = other
        .issue(&server_subject(), Validity::days(30).expect("validity"))
        .expect("issue");
    let other_server = fleet.load("other-server", &other_server);
    let err = handshake(&other_server, &probe)
        .await
        .expect_err("must refuse");
    // The client aborts with an "unknown CA" alert, which the server then reports.
    assert!(
        err.contains("UnknownCA") || err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    vigia::tls::install_crypto_provider();
    let fleet = Fleet::new();
    let server = fleet.party("server", server_subject());
    let now = OffsetDateTime::now_utc();
    let expired = Validity {
        not_before: now - time::Duration::days(40),
        not_after: now - time::Duration::days(10),
    };
    let pair = fleet
        .ca
        .issue(
            &Subject::Probe {
                site: "loja-12".into(),
            },
            expired,
        )
        .expect("issue");
    let client = fleet.load("expired", &pair);
    let err = handshake(&server, &client).await.expect_err("must refuse");
    assert!(err.starts_with("server:"), "{err}");
    assert!(err.to_lowercase().contains("expired"), "{err}");
}

#[tokio::test]
async fn a_tampered_certificate_is_refused() {
    vigia::tls::install_crypto_provider();
    let fleet = Fleet::new();
    let server = fleet.party("server", server_subject());
    let mut client = fleet.party(
        "loja-12",
        Subject::Probe {
            site: "loja-12".into(),
        },
    );
    // Change the site name inside the signed part: "loja-12" becomes "loja-99".
    let mut der = client.cert_chain[0].to_vec();
    let pos = der
        .windows(7)
        .position(|w| w == b"loja-12")
        .expect("name in certificate");
    der[pos + 5..pos + 7].copy_from_slice(b"99");
    client.cert_chain[0] = rustls::pki_types::CertificateDer::from(der);
    let err = handshake(&server, &client).await.expect_err("must refuse");
    assert!(err.starts_with("server:"), "{err}");
    assert!(err.to_lowercase().contains("signature"), "{err}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    if name.ends_with(".key") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    p
}

#[test]
fn loading_errors_name_the_file_and_the_problem() {
    vigia::tls::install_crypto_provider();
    let fleet = Fleet::new();
    let a = fleet
        .ca
        .issue(&server_subject(), Validity::days(1).expect("validity"))
        .expect("issue");
    let b = fleet
        .ca
        .issue(
            &Subject::Reader { name: "ops".into() },
            Validity::days(1).expect("validity"),
        )
        .expect("issue");
    let dir = fleet.dir.path();
    let ca_pem = fleet.path("ca.pem");
    let cert = write(dir, "a.pem", &a.cert_pem);
    let key = write(dir, "a.key", &a.key_pem);
    let other_key = write(dir, "b.key", &b.key_pem);
    let garbage = write(dir, "garbage.pem", "this is not a certificate\n");

    // A key every user of the machine can read is refused, naming the file and the fix.
    let open_key = dir.join("open.key");
    std::fs::write(&open_key, &a.key_pem).expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let e = TlsMaterial::load(&ca_pem, &cert, &open_key).expect_err("world-readable key");
    assert!(matches!(e, TlsError::Insecure(_)), "{e}");
    assert!(
        e.to_string().contains("open.key") && e.to_string().contains("chmod 600"),
        "{e}"
    );

    let missing = dir.join("nope.pem");
    let e = TlsMaterial::load(&ca_pem, &missing, &key).expect_err("missing");
    assert!(matches!(e, TlsError::Missing { .. }), "{e}");
    assert!(
        e.to_string().contains("nope.pem") && e.to_string().contains("not found"),
        "{e}"
    );

    let e = TlsMaterial::load(&garbage, &cert, &key).expect_err("not pem");
    assert!(matches!(e, TlsError::NotPem { .. }), "{e}");
    assert!(
        e.to_string().contains("garbage.pem") && e.to_string().contains("CA certificate"),
        "{e}"
    );

    let garbage_key = write(dir, "garbage.key", "this is not a key\n");
    let e = TlsMaterial::load(&ca_pem, &cert, &garbage_key).expect_err("key not pem");
    assert!(
        e.to_string().contains("garbage.key") && e.to_string().contains("PRIVATE KEY"),
        "{e}"
    );

    let e = TlsMaterial::load(&ca_pem, &cert, &other_key).expect_err("mismatch");
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    assert!(
        e.to_string().contains("b.key") && e.to_string().contains("does not match"),
        "{e}"
    );

    // A certificate that did not come from `ca issue` carries no identity.
    let plain = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let pc = write(dir, "plain.pem", &plain.cert.pem());
    let pk = write(dir, "plain.key", &plain.signing_key.serialize_pem());
    let e = TlsMaterial::load(&ca_pem, &pc, &pk).expect_err("no identity");
    assert!(
        e.to_string().contains("plain.pem") && e.to_string().contains("no vigia:// identity"),
        "{e}"
    );

    TlsMaterial::load(&ca_pem, &cert, &key).expect("the good pair loads");
}

#[test]
fn ca_files_refuse_overwrite_and_bad_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs");
    let written = issuing::init(&certs, "t", 30, false).expect("init");
    // ca.pem, ca.key and an empty crl.pem.
    assert_eq!(written.len(), 3);
    assert!(written[2].ends_with("crl.pem"), "{written:?}");
    let e = issuing::init(&certs, "t", 30, false).expect_err("second init");
    assert!(
        e.to_string().contains("already exists") && e.to_string().contains("--force"),
        "{e}"
    );
    issuing::init(&certs, "t", 30, true).expect("forced init");

    let probe = Subject::Probe {
        site: "loja-1".into(),
    };
    let files = issuing::issue(&certs, &certs, &probe, 825, false).expect("issue");
    assert!(files[0].ends_with("loja-1.pem") && files[1].ends_with("loja-1.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[1])
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "key file mode");
    }
    let e = issuing::issue(&certs, &certs, &probe, 825, false).expect_err("overwrite");
    assert!(e.to_string().contains("loja-1"), "{e}");

    for (site, says) in [
        ("", "empty"),
        ("loja/1", "'/'"),
        ("loja 1", "' '"),
        ("ação", "'ç'"),
        (&"x".repeat(129), "129 bytes"),
    ] {
        let e = issuing::issue(
            &certs,
            &certs,
            &Subject::Probe {
                site: site.to_string(),
            },
            825,
            false,
        )
        .expect_err("bad site");
        assert!(e.to_string().contains(says), "{site:?}: {e}");
    }
    let ok128 = "x".repeat(128);
    issuing::issue(&certs, &certs, &Subject::Probe { site: ok128 }, 825, false)
        .expect("128 bytes ok");

    let e = issuing::issue(&dir.path().join("none"), &certs, &probe, 825, true).expect_err("no ca");
    assert!(e.to_string().contains("ca init"), "{e}");
    let e = issuing::issue(
        &certs,
        &certs,
        &Subject::Server {
            dns: vec![],
            ips: vec![],
        },
        825,
        true,
    )
    .expect_err("no names");
    assert!(e.to_string().contains("--dns"), "{e}");
    let e = issuing::issue(&certs, &certs, &probe, 0, true).expect_err("zero days");
    assert!(e.to_string().contains("--days"), "{e}");
}
