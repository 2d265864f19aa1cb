//! `vigia-mailer check-config`: proves, before the first 07:00, that `run` will work. The
//! configuration loads, the reader certificate is a reader's, issued by the fleet CA and valid
//! (days left shown), the SMTP password and the OAuth2 client secret can be read; with
//! `--connect` the collector accepts the certificate and answers a one-site `ListSites`, the
//! relay takes a connection, TLS and the login (then QUIT, no mail), and a Graph set-up gets a
//! token. Anything that would fail at run time makes it exit 1, naming the key or the host,
//! with the same explanations `run` logs.

use crate::config::{DeliveryMethod, Settings};
use crate::delivery::Delivery;
use crate::smtp::SendError;
use chrono::Utc;
use lettre::AsyncTransport as _;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vigia::findings::Findings;
use vigia::pb::ListSitesRequest;
use vigia::tls::Role;
use vigia::tls_check::{self, Expected};
use vigia::units::duration;

/// Runs every check (and the connections with `connect`), prints the report and returns the
/// exit status: 0 when `run` has what it needs, 1 otherwise.
pub async fn command(settings: &Settings, connect: bool) -> ExitCode {
    print!("{}", describe(settings));
    check(settings, connect)
        .await
        .finish(&format!("the mailer ({})", settings.file.display()))
}

/// The checks, without printing; `connect` also reaches the collector and the mail path.
pub async fn check(settings: &Settings, connect: bool) -> Findings {
    let mut f = Findings::default();
    let certificate_ok = certificate(settings, &mut f);
    let readable = secrets(settings, &mut f);
    if connect {
        if certificate_ok {
            collector(settings, &mut f).await;
        }
        // A login or a token request with a secret that could not be read fails for the
        // reason already said: not tried, so that reason is said once.
        if readable {
            mail_path(settings, &mut f).await;
        }
    }
    f
}

/// The reader certificate, as the collector will judge it.
fn certificate(settings: &Settings, f: &mut Findings) -> bool {
    let c = &settings.raw.collector;
    let expected = Expected {
        role: Role::Reader,
        name: None,
        name_key: "collector.cert",
    };
    let result = tls_check::check(&c.ca, &c.cert, &c.key, &expected, Utc::now());
    // The holder's name as the certificate carries it: the new one must carry the same.
    let renew = |facts: &tls_check::CertFacts| {
        format!(
            "vigia-collector ca issue --force … reader --name {}",
            facts.identity.name
        )
    };
    f.certificate(&c.cert, "collector.cert", renew, result)
        .is_some()
}

/// The secrets `run` reads at each send, and the relay's TLS settings that use files, each
/// read once; true when all of them could be read.
fn secrets(settings: &Settings, f: &mut Findings) -> bool {
    let mut readable = true;
    let mut check = |outcome: Result<(), SendError>| {
        if let Err(e) = outcome {
            f.problem(e.to_string());
            readable = false;
        }
    };
    check(crate::smtp::password(settings).map(drop));
    if let Some(o) = &settings.oauth2 {
        check(o.client_secret().map(drop));
    }
    if settings.raw.delivery == DeliveryMethod::Smtp {
        check(crate::smtp::relay_tls(settings).map(drop));
    }
    readable
}

/// The collector accepts the reader certificate and answers a query.
async fn collector(settings: &Settings, f: &mut Findings) {
    let cfg = &settings.raw.collector;
    let outcome = async {
        let mut client = crate::fleet::connect(cfg)
            .await
            .map_err(|e| e.to_string())?;
        let call = client.list_sites(ListSitesRequest {
            page_size: 1,
            ..Default::default()
        });
        match tokio::time::timeout(cfg.timeout, call).await {
            Err(_) => Err(format!(
                "collector {} did not answer ListSites within {} (collector.timeout)",
                cfg.url,
                duration::format(&cfg.timeout)
            )),
            Ok(Err(status)) => Err(explain_status(&cfg.url, &status)),
            Ok(Ok(answer)) => Ok(answer.into_inner()),
        }
    }
    .await;
    match outcome {
        Ok(page) => f.ok(format!(
            "the collector at {} accepted the reader certificate and answered ListSites ({})",
            cfg.url,
            if page.sites.is_empty() {
                "no site yet".to_string()
            } else if page.next_page_token.is_empty() {
                "1 site".to_string()
            } else {
                "first page of 1 site, more follow".to_string()
            }
        )),
        Err(e) => f.problem(format!("key `collector.url`: {e}")),
    }
}

/// A failed query in words: a refused reader certificate says so and names the key to fix.
fn explain_status(url: &str, status: &tonic::Status) -> String {
    let text = vigia::process::error_chain(status);
    if std::error::Error::source(status).is_some_and(tls_refused) {
        return format!(
            "the collector at {url} ended the connection right after the TLS handshake, as it does when it refuses this reader certificate (issued by another CA, expired, or revoked?): collector.cert and collector.key must be a reader certificate issued by the fleet CA the collector trusts ({text})"
        );
    }
    match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => format!(
            "the collector at {url} did not accept this reader certificate: is collector.cert a reader certificate of this fleet? ({text})"
        ),
        tonic::Code::Unimplemented => format!(
            "{url} does not offer Vigia's Query service: is collector.url a vigia-collector of a compatible version? ({text})"
        ),
        _ => format!("collector {url} answered with an error: {text}"),
    }
}

/// True when the connection broke under the first query, just after a handshake that
/// completed on our side. Under TLS 1.3 the client's handshake completes before the collector
/// has judged its certificate, so a refusal arrives on the first read: as an alert
/// (`rustls::Error::AlertReceived`, or an `InvalidData` I/O error once h2/hyper stringified
/// it), or, when the collector closed first, as a cancelled request on a closed connection.
/// A collector's own refusals (a status without a transport cause) are not this.
fn tls_refused(src: &(dyn std::error::Error + 'static)) -> bool {
    crate::chain::causes(src).any(|c| {
        matches!(
            c.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::AlertReceived(_))
        ) || c.is::<tonic::transport::Error>()
    })
}

/// The way mail leaves, without sending any.
async fn mail_path(settings: &Settings, f: &mut Findings) {
    let delivery = Delivery::new(Arc::new(settings.clone()));
    let token = match (&settings.oauth2, delivery.tokens()) {
        (None, _) => None,
        (Some(o), None) => {
            f.problem(format!(
                "{}: cannot prepare the HTTPS client for [oauth2]",
                o.endpoint_name()
            ));
            return;
        }
        (Some(o), Some(tokens)) => match tokens.token().await {
            Ok(t) => {
                f.ok(format!(
                    "{} issued an access token for client {} (scope {})",
                    o.endpoint_name(),
                    o.client_id,
                    o.scope
                ));
                Some(t)
            }
            Err(e) => {
                f.problem(format!("keys `oauth2.token_url`/`oauth2.tenant`: {e}"));
                return;
            }
        },
    };
    match settings.raw.delivery {
        DeliveryMethod::Graph => f.ok(format!(
            "Microsoft Graph {} will be used as {} (no mail sent)",
            settings.graph_url,
            settings.sender_mailbox()
        )),
        DeliveryMethod::Smtp => smtp(settings, &delivery, token, f).await,
    }
}

/// Connect, STARTTLS or TLS, authenticate as configured, NOOP, QUIT: what a send does before
/// MAIL FROM.
async fn smtp(settings: &Settings, delivery: &Delivery, token: Option<String>, f: &mut Findings) {
    let smtp = &settings.raw.smtp;
    let relay = format!(
        "relay {}:{} (smtp.host, smtp.port)",
        smtp.host,
        settings.smtp_port()
    );
    let transport = match crate::smtp::transport_with_token(settings, token) {
        Ok(t) => t,
        // What it reads was proven readable a moment ago by `secrets`.
        Err(e) => {
            f.problem(format!("{relay}: {e}"));
            return;
        }
    };
    // lettre bounds each step by smtp.timeout; this bounds the whole conversation.
    let bound = smtp.timeout * 4;
    let outcome = match tokio::time::timeout(bound, transport.test_connection()).await {
        Err(_) => Err(SendError::Transient(format!(
            "no answer within {} (4 × smtp.timeout)",
            duration::format(&bound)
        ))),
        Ok(Err(e)) => Err(crate::smtp::classify(&e, settings)),
        Ok(Ok(false)) => Err(SendError::Transient(
            "the relay did not answer NOOP after the login".into(),
        )),
        Ok(Ok(true)) => Ok(()),
    };
    // The pooled connection sends its QUIT from a task of its own when the pool closes: give
    // it a moment before the process ends.
    transport.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    match outcome {
        Ok(()) => f.ok(format!(
            "{relay}: {} accepted{} (no mail sent)",
            delivery.describe(),
            if smtp.username.is_some() {
                " the login"
            } else {
                " the connection"
            }
        )),
        Err(e) => f.problem(format!("{relay}: {e}")),
    }
}

/// What the configuration says: the collector, the mail path, the next digests.
fn describe(settings: &Settings) -> String {
    let mut out = String::new();
    let c = &settings.raw.collector;
    let _ = writeln!(out, "configuration {} loads", settings.file.display());
    let _ = writeln!(out, "collector {} with {}", c.url, c.cert.display());
    let delivery = Delivery::new(Arc::new(settings.clone()));
    let _ = writeln!(
        out,
        "mail by {}, from {}, to {}",
        delivery.describe(),
        settings.from,
        settings
            .to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tz = settings.tz;
    let mut t = Utc::now();
    for i in 0..3 {
        let Some(n) = settings.digest_schedule.next_after(t, tz) else {
            break;
        };
        let _ = writeln!(
            out,
            "digest {}: {} ({tz})",
            i + 1,
            n.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z")
        );
        t = n;
    }
    match &settings.alerts_schedule {
        Some(s) => {
            let _ = writeln!(out, "alerts: {s}");
        }
        None => {
            let _ = writeln!(out, "alerts: off");
        }
    }
    if let Some(o) = &settings.oauth2 {
        let _ = writeln!(
            out,
            "oauth2: client {} at {} for {}",
            o.client_id, o.token_url, o.scope
        );
    }
    for w in &settings.webhooks {
        let _ = writeln!(out, "{} (alerts, failed digests)", w.name());
    }
    if let Some(d) = &settings.deadman {
        let _ = writeln!(
            out,
            "dead-man's switch: {} after each digest, /fail when one cannot be sent",
            crate::http::host_of(&d.url)
        );
    }
    out
}
