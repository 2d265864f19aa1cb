//! `vigia-mailer`: the digest and alert sender.

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigia::config::ConfigSource;
use vigia_mailer::service::{fetch_stateless, Mailer};
use vigia_mailer::{render_digest, Settings};

/// Emails the daily CCTV audit digest (and urgent alerts) from the Vigia collector's data.
#[derive(Parser, Debug)]
#[command(
    name = "vigia-mailer",
    version,
    about,
    long_about = None,
    after_help = "Logging: VIGIA_LOG (falling back to RUST_LOG), e.g. VIGIA_LOG=debug.\n\
                  Exit status: 0 done, 1 runtime error, 2 invalid configuration.\n\
                  The SMTP password comes from smtp.password_env or smtp.password_file, never the TOML."
)]
struct Cli {
    /// The configuration file (TOML); `VIGIA_*` environment variables override its keys,
    /// with `__` between sections (e.g. `VIGIA_SMTP__HOST`).
    #[arg(long, global = true, default_value = "mailer.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the schedules: the digest every day (`[digest] schedule`) and, if configured, alert
    /// checks (`[alerts] schedule`), until SIGINT/SIGTERM. A digest missed while the mailer was
    /// down is sent at start.
    Run,
    /// Fetch the fleet and write the digest to a file without sending anything.
    Preview {
        /// Where to write the digest (HTML unless --text).
        #[arg(long)]
        out: PathBuf,
        /// Write the plain-text part instead of the HTML.
        #[arg(long)]
        text: bool,
    },
    /// Fetch, render and send the digest now, outside the schedule (no slot is marked).
    SendNow,
    /// Load and check the configuration, the certificates and the password, then print the
    /// next digest times.
    CheckConfig,
}

fn main() -> ExitCode {
    vigia::tls::install_crypto_provider();
    let cli = Cli::parse();
    vigia::process::init_logging();
    let settings = match Settings::load(&ConfigSource::file(&cli.config)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig => check_config(&settings),
        Command::Preview { out, text } => {
            let now = Utc::now();
            let fleet = fetch_stateless(&settings, now).await;
            let mail = render_digest(&fleet.view(), now, &settings.render_options());
            let body = if text { &mail.text } else { &mail.html };
            std::fs::write(&out, body).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", mail.subject);
            println!("wrote {} ({} bytes)", out.display(), body.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::SendNow => {
            let now = Utc::now();
            let fleet = fetch_stateless(&settings, now).await;
            let mail = render_digest(&fleet.view(), now, &settings.render_options());
            let rcpt = vigia_mailer::smtp::Recipients {
                to: settings.to.clone(),
                cc: settings.cc.clone(),
                bcc: settings.bcc.clone(),
            };
            let message = vigia_mailer::smtp::build_message(&settings.from, &rcpt, &mail, false)?;
            vigia_mailer::smtp::send(&settings, &message)
                .await
                .context("sending the digest")?;
            println!("sent: {}", mail.subject);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let mailer = Mailer::open(settings).context("opening the state store")?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(mailer.run(rx));
            vigia::process::shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = tx.send(true);
            match tokio::time::timeout(std::time::Duration::from_secs(30), task).await {
                Ok(Ok(r)) => r.context("mailer")?,
                Ok(Err(e)) => anyhow::bail!("mailer task failed: {e}"),
                Err(_) => tracing::warn!(
                    "shutdown forced after 30 s (an SMTP exchange was still running)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_config(settings: &Settings) -> anyhow::Result<ExitCode> {
    let c = &settings.raw.collector;
    let tls = vigia::tls::TlsMaterial::load(&c.ca, &c.cert, &c.key);
    let mut problems = Vec::new();
    match &tls {
        Ok(m) if m.identity.role != vigia::tls::Role::Reader => problems.push(format!(
            "{}: certificate is for {}, but the mailer needs a reader certificate",
            c.cert.display(),
            m.identity
        )),
        Ok(_) => {}
        Err(e) => problems.push(e.to_string()),
    }
    if let Err(e) = vigia_mailer::smtp::password(settings) {
        problems.push(e.to_string());
    }
    if let Err(e) = vigia_mailer::smtp::transport(settings) {
        problems.push(e.to_string());
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("invalid configuration: {}: {p}", settings.file.display());
        }
        return Ok(ExitCode::from(2));
    }
    let now = Utc::now();
    let tz = settings.tz;
    println!("configuration {} is valid", settings.file.display());
    println!(
        "collector {} as {}",
        c.url,
        tls.map(|m| m.identity.to_string()).unwrap_or_default()
    );
    println!(
        "smtp {}:{} ({:?}), from {}, to {}",
        settings.raw.smtp.host,
        settings.smtp_port(),
        settings.raw.smtp.security,
        settings.from,
        settings
            .to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut t = now;
    for i in 0..3 {
        match settings.digest_schedule.next_after(t, tz) {
            Some(n) => {
                println!(
                    "digest {}: {} ({tz})",
                    i + 1,
                    n.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z")
                );
                t = n;
            }
            None => break,
        }
    }
    match &settings.alerts_schedule {
        Some(s) => println!("alerts: {s}"),
        None => println!("alerts: off"),
    }
    Ok(ExitCode::SUCCESS)
}
