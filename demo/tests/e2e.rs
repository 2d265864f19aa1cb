//! The whole system with the real binaries as separate processes: a collector, three probes
//! streaming on a fast schedule, the mailer, and a real SMTP server (aiosmtpd, not ours).
//! It checks the digest's rows and verdicts, survives a SIGKILL of the collector without losing
//! an acknowledged status, and shows a stopped probe's site as SILENT in the next digest.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigia::pb::query_client::QueryClient;
use vigia::pb::{HistoryRequest, ListSitesRequest, VerdictKind};
use vigia_demo::fleet::{self, ConfigOptions, DemoLayout};
use vigia_demo::procs::{self, Binaries, Proc};

const STEP: Duration = Duration::from_secs(60);
const PROBES: [&str; 3] = ["loja-centro", "loja-norte", "loja-sul"];

/// Debian's python3, which carries python3-aiosmtpd (installed by scripts/test).
fn python_with_aiosmtpd() -> Result<PathBuf> {
    for py in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(PathBuf::from(py));
        }
    }
    bail!("aiosmtpd is not installed: run ./scripts/test, which installs python3-aiosmtpd")
}

fn maildir_messages(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("new"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// The decoded text/plain part of a MIME message (quoted-printable or plain).
fn text_part(msg: &str) -> String {
    let unfolded = msg.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::new();
    let bytes = unfolded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&unfolded[i + 1..i + 3], 16) {
                out.push(b as char);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    // Re-decode the UTF-8 that quoted-printable split into single bytes.
    let raw: Vec<u8> = out.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&raw).into_owned()
}

async fn reader(layout: &DemoLayout) -> Result<QueryClient<tonic::transport::Channel>> {
    let certs = &layout.certs;
    // Loaded and assembled as the mailer does: the same checks, the same TLS settings.
    let material = vigia::tls::TlsMaterial::load(
        &certs.join("ca.pem"),
        &certs.join("operator.pem"),
        &certs.join("operator.key"),
    )?;
    let tls = material.client_tls().domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(format!(
        "https://localhost:{}",
        layout.addr.port()
    ))?
    .tls_config(tls)?
    .connect_timeout(Duration::from_secs(5))
    .timeout(Duration::from_secs(10))
    .connect()
    .await?;
    Ok(QueryClient::new(channel))
}

/// Every stored sequence of a site, oldest first (History pages newest first).
async fn sequences(layout: &DemoLayout, site: &str) -> Result<Vec<u64>> {
    let mut client = reader(layout).await?;
    let mut seqs = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = client
            .history(HistoryRequest {
                site: site.into(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        seqs.extend(
            page.entries
                .iter()
                .filter_map(|e| e.status.as_ref())
                .map(|s| s.sequence),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seqs.reverse();
    Ok(seqs)
}

async fn verdicts(layout: &DemoLayout) -> Result<BTreeMap<String, Vec<VerdictKind>>> {
    let mut client = reader(layout).await?;
    let sites = client
        .list_sites(ListSitesRequest::default())
        .await?
        .into_inner()
        .sites;
    Ok(sites
        .into_iter()
        .map(|s| {
            (
                s.site.clone(),
                s.verdicts.iter().map(|v| v.kind()).collect(),
            )
        })
        .collect())
}

fn start_collector(bins: &Binaries, layout: &DemoLayout) -> Result<Proc> {
    let toml = layout.collector_toml.to_string_lossy().to_string();
    let p = Proc::spawn(
        "collector",
        &bins.collector,
        &["--config", &toml, "run"],
        &layout.log("collector"),
        &[],
    )?;
    procs::wait_for_port(layout.addr, Duration::from_secs(30))
        .with_context(|| format!("collector did not start:\n{}", p.log_text()))?;
    Ok(p)
}

fn start_probe(bins: &Binaries, layout: &DemoLayout, site: &str) -> Result<Proc> {
    let toml = layout.probe_toml(site).to_string_lossy().to_string();
    Proc::spawn(
        site,
        &bins.probe,
        &["--config", &toml, "run"],
        &layout.log(&format!("probe-{site}")),
        &[],
    )
}

fn send_digest(bins: &Binaries, layout: &DemoLayout) -> Result<()> {
    let toml = layout.mailer_toml.to_string_lossy().to_string();
    let out = procs::run(&bins.mailer, &["--config", &toml, "send-now"], STEP)?;
    if !out.status.success() {
        bail!(
            "mailer send-now failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Waits until each site has at least `n` stored statuses.
async fn wait_for_statuses(layout: &DemoLayout, sites: &[&str], n: usize) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = true;
        for s in sites {
            let have = sequences(layout, s).await.map(|v| v.len()).unwrap_or(0);
            if have < n {
                done = false;
            }
        }
        if done {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("sites {sites:?} did not reach {n} statuses within 60s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[track_caller]
fn assert_contiguous(site: &str, seqs: &[u64]) {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seqs.len(),
        "{site}: a sequence stored twice: {seqs:?}"
    );
    let first = sorted.first().copied().unwrap_or(1);
    let expected: Vec<u64> = (first..first + sorted.len() as u64).collect();
    assert_eq!(sorted, expected, "{site}: a hole in the stored sequences");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_system_with_real_processes() -> Result<()> {
    vigia::tls::install_crypto_provider();
    let bins = Binaries::for_test()?;
    let python = python_with_aiosmtpd()?;
    let dir = tempfile::tempdir()?;
    let layout = DemoLayout::new(dir.path(), procs::free_port()?);
    let certs = layout.certs.to_string_lossy().to_string();

    // Certificates, minted by the real CLI.
    let c = &bins.collector;
    let mut issue = vec![
        vec!["server", "--dns", "localhost", "--ip", "127.0.0.1"],
        vec!["reader", "--name", "mailer"],
        vec!["reader", "--name", "operator"],
    ];
    for s in fleet::demo_sites() {
        issue.push(vec!["probe", "--site", s.name]);
    }
    assert!(procs::run(c, &["ca", "init", "--dir", &certs], STEP)?
        .status
        .success());
    for what in issue {
        let mut a = vec!["ca", "issue", "--dir", certs.as_str()];
        a.extend(what);
        let out = procs::run(c, &a, STEP)?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A real SMTP server.
    let smtp_port = procs::free_port()?;
    let maildir = dir.path().join("maildir");
    let mut smtp = Proc::spawn(
        "smtp",
        &python,
        &[
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{smtp_port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            &maildir.to_string_lossy(),
        ],
        &dir.path().join("smtp.log"),
        &[],
    )?;
    procs::wait_for_port(
        std::net::SocketAddr::from(([127, 0, 0, 1], smtp_port)),
        Duration::from_secs(20),
    )
    .with_context(|| format!("aiosmtpd did not start: {}", smtp.log_text()))?;

    fleet::write_trees(&layout, chrono::Utc::now())?;
    let opts = ConfigOptions {
        every: "1s".into(),
        rules: "silent_grace = \"2s\"\n".into(),
        smtp: format!(
            "host = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"vigia@example.test\"\nto = [\"cctv@example.test\"]\ncc = [\"boss@example.test\"]\n"
        ),
    };
    fleet::write_configs(&layout, &opts)?;

    let mut collector = start_collector(&bins, &layout)?;
    let mut probes: BTreeMap<&str, Proc> = BTreeMap::new();
    for site in PROBES {
        probes.insert(site, start_probe(&bins, &layout, site)?);
    }
    wait_for_statuses(&layout, &PROBES, 3).await?;

    // The digest, received by the SMTP server, has a row per site with its verdict.
    let v = verdicts(&layout).await?;
    assert_eq!(v["loja-centro"], vec![VerdictKind::Ok], "{v:?}");
    assert!(v["loja-norte"].contains(&VerdictKind::Late), "{v:?}");
    assert!(
        v["loja-sul"].contains(&VerdictKind::ShortRetention),
        "{v:?}"
    );
    assert!(v["loja-sul"].contains(&VerdictKind::Gaps), "{v:?}");
    assert_eq!(
        v[fleet::SILENT_SITE],
        vec![VerdictKind::NeverReported],
        "{v:?}"
    );
    send_digest(&bins, &layout)?;
    let msgs = procs::eventually(Duration::from_secs(20), || {
        let m = maildir_messages(&maildir);
        (!m.is_empty()).then_some(m)
    })
    .context("no digest reached the SMTP server")?;
    let digest = &msgs[0];
    assert!(
        digest.contains("From: vigia@example.test") || digest.contains("<vigia@example.test>"),
        "{digest}"
    );
    assert!(digest.contains("cctv@example.test") && digest.contains("boss@example.test"));
    assert!(digest.contains("text/html") && digest.contains("text/plain"));
    let text = text_part(digest);
    for site in PROBES.iter().chain([&fleet::SILENT_SITE]) {
        assert!(text.contains(site), "digest lacks {site}:\n{text}");
    }

    // SIGKILL the collector while the probes stream; restart it; nothing acknowledged is lost.
    let before: BTreeMap<&str, Vec<u64>> = {
        let mut m = BTreeMap::new();
        for site in PROBES {
            m.insert(site, sequences(&layout, site).await?);
        }
        m
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    collector.kill()?;
    tokio::time::sleep(Duration::from_secs(2)).await; // the probes scan and spool meanwhile
    let _collector = start_collector(&bins, &layout)?;
    for site in PROBES {
        let old_max = before[site].iter().max().copied().unwrap_or(0);
        let resumed = procs::eventually(Duration::from_secs(45), || {
            let rt = tokio::runtime::Handle::current();
            let seqs =
                tokio::task::block_in_place(|| rt.block_on(sequences(&layout, site))).ok()?;
            (seqs.iter().max().copied().unwrap_or(0) >= old_max + 3).then_some(seqs)
        })
        .with_context(|| format!("{site} did not resume delivering after the restart"))?;
        for s in &before[site] {
            assert!(
                resumed.contains(s),
                "{site}: sequence {s} was stored before the kill and is gone"
            );
        }
        assert_contiguous(site, &resumed);
    }

    // Stop one probe: its site turns SILENT, and the next digest says so.
    let stopped = "loja-centro";
    let mut p = probes.remove(stopped).context("probe")?;
    p.terminate(Duration::from_secs(20))?;
    let silent = procs::eventually(Duration::from_secs(30), || {
        let rt = tokio::runtime::Handle::current();
        let v = tokio::task::block_in_place(|| rt.block_on(verdicts(&layout))).ok()?;
        v.get(stopped)
            .is_some_and(|k| k.contains(&VerdictKind::Silent))
            .then_some(())
    });
    assert!(silent.is_some(), "{stopped} never turned SILENT");
    send_digest(&bins, &layout)?;
    let msgs = procs::eventually(Duration::from_secs(20), || {
        let m = maildir_messages(&maildir);
        (m.len() >= 2).then_some(m)
    })
    .context("the second digest did not arrive")?;
    let text = text_part(&msgs[1]);
    let row = text
        .lines()
        .find(|l| l.contains(stopped))
        .with_context(|| format!("no row for {stopped}:\n{text}"))?
        .to_string();
    assert!(
        row.to_lowercase().contains("silent"),
        "the second digest does not show {stopped} silent:\n{text}\nrow: {row}"
    );
    // And the first digest had it healthy: the change is the probe's stop, not the test.
    let first_row = text_part(&msgs[0])
        .lines()
        .find(|l| l.contains(stopped))
        .unwrap_or_default()
        .to_lowercase();
    assert!(!first_row.contains("silent"), "{first_row}");

    for (_, mut p) in probes {
        p.terminate(Duration::from_secs(20))?;
    }
    smtp.kill()?;
    Ok(())
}
