//! `vigia-probe check-config`: proves, before the technician leaves the site, that `run` will
//! work. The configuration loads, every recording folder is there, the certificate is this
//! site's, issued by the fleet CA and valid, the spool can be written, and with `--connect` the
//! collector answers and acknowledges a dry-run status for this site. Anything that would fail
//! at run time makes it exit non-zero, with the file and the key to fix.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio_stream::StreamExt as _;
use vigia::findings::Findings;
use vigia::pb::{RecordingStatus, ScanOutcome};
use vigia::tls::Role;
use vigia::tls_check::{self, Expected};
use vigia::units::duration;

use crate::client::Connector;
use crate::config::ProbeConfig;

/// What `check-config` may accept or must also do.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// A recording folder that does not exist yet is a warning, not an error.
    pub allow_missing: bool,
    /// Also reach the collector and have it acknowledge a dry-run status.
    pub connect: bool,
}

/// Runs every check (and the connection when asked) and prints the report.
pub fn check_config_command(config: &ProbeConfig, opts: CheckOptions) -> anyhow::Result<ExitCode> {
    let findings = check(config, opts)?;
    print!("{}", crate::scan::cli::describe(config));
    Ok(findings.finish("the probe"))
}

/// The checks, without printing.
pub fn check(config: &ProbeConfig, opts: CheckOptions) -> anyhow::Result<Findings> {
    let mut f = Findings::default();
    for (i, r) in config.recorders.iter().enumerate() {
        let key = format!("recorder[{i}].path");
        match std::fs::read_dir(&r.path) {
            Ok(_) => f.ok(format!(
                "{} ({}): {} is readable",
                r.id,
                key,
                r.path.display()
            )),
            Err(e) => {
                let what = match e.kind() {
                    std::io::ErrorKind::NotFound => "does not exist".to_string(),
                    std::io::ErrorKind::PermissionDenied => {
                        "cannot be read by this account (the service's account must read it)"
                            .to_string()
                    }
                    _ if r.path.is_file() => "is a file, not a folder".to_string(),
                    _ => format!("cannot be read: {e}"),
                };
                let line = format!("{} (key `{key}`): {} {what}", r.id, r.path.display());
                if opts.allow_missing && e.kind() == std::io::ErrorKind::NotFound {
                    f.warn(format!("{line} (allowed by --allow-missing)"));
                } else {
                    f.problem(line);
                }
            }
        }
    }
    spool(config, &mut f);
    let Some(collector) = &config.collector else {
        f.problem(
            "key `collector`: missing; `run` and `send-once` need [collector] url, ca, cert and key",
        );
        return Ok(f);
    };
    let expected = Expected {
        role: Role::Probe,
        name: Some(&config.site),
        name_key: "site",
    };
    let result = tls_check::check(
        &collector.ca,
        &collector.cert,
        &collector.key,
        &expected,
        chrono::Utc::now(),
    );
    // The site the certificate carries; the check refused it unless it is `site`.
    let renew = |facts: &tls_check::CertFacts| {
        format!(
            "vigia-collector ca issue --force probe --site {}",
            facts.identity.name
        )
    };
    if f.certificate(&collector.cert, "collector.cert", renew, result)
        .is_none()
    {
        return Ok(f);
    }
    if opts.connect {
        connect(config, &mut f)?;
    }
    Ok(f)
}

fn spool(config: &ProbeConfig, f: &mut Findings) {
    let dir = &config.spool.dir;
    let probe = |d: &Path| -> std::io::Result<()> {
        let path = d.join(".vigia-check-config");
        std::fs::write(&path, b"")?;
        std::fs::remove_file(&path)
    };
    if dir.is_dir() {
        match probe(dir) {
            Ok(()) => f.ok(format!("spool {} is writable", dir.display())),
            Err(e) => f.problem(format!(
                "key `spool.dir`: {} cannot be written: {e}",
                dir.display()
            )),
        }
        return;
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => f.problem(format!(
            "key `spool.dir`: {} cannot be created: {} does not exist",
            dir.display(),
            parent.display()
        )),
        parent => match probe(parent.unwrap_or_else(|| Path::new("."))) {
            Ok(()) => f.ok(format!(
                "spool {} will be created at the first run",
                dir.display()
            )),
            Err(e) => f.problem(format!(
                "key `spool.dir`: {} cannot be created: {e}",
                dir.display()
            )),
        },
    }
}

/// Connects as `run` would and has the collector acknowledge one dry-run status.
fn connect(config: &ProbeConfig, f: &mut Findings) -> anyhow::Result<()> {
    let Some(section) = &config.collector else {
        return Ok(());
    };
    let connector = match Connector::new(section) {
        Ok(c) => c,
        Err(e) => {
            f.problem(e.to_string());
            return Ok(());
        }
    };
    let rt = vigia::process::runtime(Some(1))?;
    let status = dry_run_status(config);
    let wait = section.connect_timeout + Duration::from_secs(10);
    let outcome = rt.block_on(async {
        handshake(section).await?;
        let mut client = match connector.connect().await {
            Ok(c) => c,
            Err(e) => return Err(e.to_string()),
        };
        let call = client.report(tokio_stream::once(status));
        let answer = tokio::time::timeout(wait, async {
            let mut acks = call.await?.into_inner();
            acks.next().await.transpose()
        })
        .await;
        match answer {
            Err(_) => Err(format!(
                "the collector at {} did not answer within {} (collector.connect_timeout plus 10s)",
                section.url,
                duration::format(&wait)
            )),
            Ok(Err(status)) => Err(connector.explain_status(&status)),
            Ok(Ok(None)) => Err("the collector closed the stream without acknowledging".into()),
            Ok(Ok(Some(_))) => Ok(()),
        }
    });
    match outcome {
        Ok(()) => f.ok(format!(
            "the collector at {} accepted this probe's certificate and acknowledged a dry-run status for site {:?} (nothing stored)",
            section.url, config.site
        )),
        Err(e) => f.problem(e),
    }
    Ok(())
}

/// A status that passes the collector's checks for this site and is stored nowhere.
fn dry_run_status(config: &ProbeConfig) -> RecordingStatus {
    let recorder = config.recorders.first();
    RecordingStatus {
        site: config.site.clone(),
        recorder: recorder.map_or_else(|| "check-config".to_string(), |r| r.id.clone()),
        technology: recorder.map_or(vigia::pb::Technology::Generic, |r| r.technology.to_pb())
            as i32,
        sequence: 1,
        spool_id: "check-config".into(),
        observed_at: Some(vigia::days::to_timestamp(chrono::Utc::now())),
        outcome: ScanOutcome::Ok as i32,
        probe_version: env!("CARGO_PKG_VERSION").into(),
        dry_run: true,
        ..Default::default()
    }
}

/// One TLS handshake with the collector, then a read of the first thing it sends. Under TLS
/// 1.3 the collector judges this probe's certificate only after the client's side of the
/// handshake is done, so a refusal arrives as an alert on that first read; the gRPC client
/// sees it, or a broken pipe, depending on timing. Reading it here tells a refused certificate
/// from a collector that went away, every time.
async fn handshake(section: &crate::config::CollectorSection) -> Result<(), String> {
    use tokio::io::AsyncReadExt as _;
    let uri: tonic::transport::Uri = section
        .url
        .trim()
        .parse()
        .map_err(|e| format!("key `collector.url`: {e}"))?;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = format!("{host}:{}", uri.port_u16().unwrap_or(443));
    let material = vigia::tls::TlsMaterial::load(&section.ca, &section.cert, &section.key)
        .map_err(|e| e.to_string())?;
    let mut config = material.rustls_client_config().map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = section
        .server_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| host.clone());
    let name = rustls::pki_types::ServerName::try_from(name)
        .map_err(|e| format!("key `collector.server_name`: {e}"))?;
    let hint = |e: &std::io::Error| {
        format!(
            "{}: {}",
            crate::client::classify(e).hint(&addr),
            vigia::process::error_chain(e)
        )
    };
    let within = section.connect_timeout;
    let tcp = tokio::time::timeout(within, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| {
            format!(
                "collector unreachable at {addr}: no connection within {} (collector.connect_timeout)",
                duration::format(&within)
            )
        })?
        .map_err(|e| hint(&e))?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut tls = tokio::time::timeout(within, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            format!(
                "the TLS handshake with {addr} did not finish within {} (collector.connect_timeout)",
                duration::format(&within)
            )
        })?
        .map_err(|e| hint(&e))?;
    let mut first = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(3), tls.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        Ok(Ok(_)) => Err(format!(
            "the collector at {addr} closed the connection right after the TLS handshake, as it does when it refuses this probe's certificate"
        )),
        Ok(Err(e)) => Err(hint(&e)),
        // Silent: the dry run that follows will say.
        Err(_) => Ok(()),
    }
}
