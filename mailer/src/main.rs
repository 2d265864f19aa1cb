//! `vigia-mailer`: the digest and alert sender.

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigia::config::ConfigSource;
use vigia::exit_codes::{self, ExitCode as Exit};
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
                  The SMTP password comes from smtp.password_env or smtp.password_file, the OAuth2\n\
                  client secret from oauth2.client_secret_env or oauth2.client_secret_file, never the TOML."
)]
struct Cli {
    /// The configuration file (TOML); `VIGIA_*` environment variables override its keys,
    /// with `__` between sections (e.g. `VIGIA_SMTP__HOST`).
    #[arg(long, global = true, default_value = "mailer.toml")]
    config: PathBuf,
    /// Use private key, password and client secret files that group or others can read
    /// (refused otherwise), with a warning.
    #[arg(long, global = true)]
    allow_insecure_keys: bool,
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
    /// Send a short test message through the configured delivery (SMTP or Graph, password or
    /// OAuth2) and say what happened: check the credentials before the first 07:00.
    TestSend {
        /// The recipient (default: the digest's `smtp.to`).
        #[arg(long)]
        to: Option<String>,
    },
    /// Prove what `run` needs: the configuration, the reader certificate (issued by the
    /// fleet CA, valid, days left), the password and client secret; prints the next digest
    /// times. Exit 1 when anything would fail at run time.
    CheckConfig {
        /// Also reach the collector (TLS handshake and a ListSites) and the mail path (SMTP:
        /// connect, STARTTLS or TLS, login, quit; Graph: a token), sending nothing.
        #[arg(long)]
        connect: bool,
    },
}

/// mimalloc for every allocation of the mailer (see Cargo.toml: glibc's malloc took a third of
/// the digest's render).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    vigia::tls::install_crypto_provider();
    let cli = Cli::parse();
    vigia::process::init_logging();
    vigia::secret_file::allow_insecure(cli.allow_insecure_keys);
    let settings = match Settings::load(&ConfigSource::file(&cli.config)) {
        Ok(s) => s,
        Err(e) => return exit_codes::invalid_configuration(&e).into(),
    };
    // Commands that send refuse secret files others can read before doing anything.
    if matches!(
        cli.command,
        Command::Run | Command::SendNow | Command::TestSend { .. }
    ) {
        if let Err(e) = settings.check_secret_files() {
            return exit_codes::invalid_configuration(&e).into();
        }
    }
    // Two workers: the mailer waits on the network, it does not compute.
    let runtime = match vigia::process::runtime(Some(2)) {
        Ok(r) => r,
        Err(e) => {
            return exit_codes::failed(&format_args!("cannot start the async runtime: {e}")).into()
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => exit_codes::failed(&format_args!("{e:#}")).into(),
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig { connect } => {
            Ok(vigia_mailer::check::command(&settings, connect).await)
        }
        Command::Preview { out, text } => {
            let now = Utc::now();
            let fleet = fetch_stateless(&settings, now).await;
            let mail = render_digest(&fleet.view(), now, &settings.render_options());
            let body = if text { &mail.text } else { &mail.html };
            std::fs::write(&out, body).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", mail.subject);
            println!("wrote {} ({} bytes)", out.display(), body.len());
            if mail.html.len() > vigia_mailer::render::GMAIL_CLIP_BYTES {
                eprintln!(
                    "warning: the HTML body is {} bytes, over Gmail's clipping limit of {} bytes: Gmail readers would see \"[Message clipped]\"",
                    mail.html.len(),
                    vigia_mailer::render::GMAIL_CLIP_BYTES
                );
            }
            for a in &mail.attachments {
                let path = out.with_file_name(&a.name);
                std::fs::write(&path, &a.bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("attachment {} ({} bytes)", path.display(), a.bytes.len());
            }
            // What was too large to attach is written all the same: the email says to run this.
            for name in &mail.omitted {
                let path = out.with_file_name(name);
                let file = if name.ends_with(".csv") {
                    vigia_mailer::render::ReportFile::Csv
                } else {
                    vigia_mailer::render::ReportFile::Html
                };
                let w = std::fs::File::create(&path)
                    .map(std::io::BufWriter::new)
                    .with_context(|| format!("writing {}", path.display()))?;
                vigia_mailer::render::write_report(
                    &fleet.view(),
                    now,
                    &settings.render_options(),
                    file,
                    w,
                )
                .with_context(|| format!("writing {}", path.display()))?;
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!(
                    "complete report {} ({bytes} bytes, too large to attach)",
                    path.display()
                );
            }
            Ok(Exit::Success.into())
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
            vigia_mailer::delivery::Delivery::new(std::sync::Arc::new(settings.clone()))
                .send(&rcpt, &mail, false)
                .await
                .context("sending the digest")?;
            println!("sent: {}", mail.subject);
            Ok(Exit::Success.into())
        }
        Command::TestSend { to } => Ok(test_send(settings, to.as_deref()).await),
        Command::Run => {
            let mailer = Mailer::open(settings).context("opening the state store")?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(mailer.run(rx));
            vigia::service_manager::ready();
            vigia::service_manager::spawn_watchdog();
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
            Ok(Exit::Success.into())
        }
    }
}

/// `test-send`: one short message through the configured delivery; prints what happened and
/// returns 0 when it was accepted, 1 otherwise.
async fn test_send(settings: Settings, to: Option<&str>) -> ExitCode {
    let rcpt = match to {
        Some(addr) => match addr.trim().parse::<lettre::message::Mailbox>() {
            Ok(m) => vec![m],
            Err(e) => {
                eprintln!("--to {addr:?} is not an email address ({e})");
                return Exit::ConfigError.into();
            }
        },
        None => settings.to.clone(),
    };
    let delivery = vigia_mailer::delivery::Delivery::new(std::sync::Arc::new(settings.clone()));
    let how = delivery.describe();
    let now = Utc::now().with_timezone(&settings.tz);
    let text = format!(
        "This is a test message from vigia-mailer.\n\nIt went out by {how}, from {}, at {}.\nIf you can read it, the daily digest can reach you the same way.\n",
        settings.from,
        now.format("%Y-%m-%d %H:%M:%S %Z")
    );
    let subject = format!("{}: test message", settings.title());
    let mut builder = lettre::Message::builder()
        .from(settings.from.clone())
        .subject(subject.clone())
        .message_id(None);
    for m in &rcpt {
        builder = builder.to(m.clone());
    }
    let list = rcpt
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let message = match builder.singlepart(lettre::message::SinglePart::plain(text)) {
        Ok(m) => m,
        Err(e) => {
            println!("not sent: cannot build the test message: {e}");
            return Exit::GeneralError.into();
        }
    };
    match delivery.send_message(&message).await {
        Ok(()) => {
            println!("sent: \"{subject}\" to {list} by {how}");
            Exit::Success.into()
        }
        Err(e) => {
            let kind = match &e {
                vigia_mailer::smtp::SendError::Transient(_) => {
                    "not sent (transient: the digest would retry)"
                }
                vigia_mailer::smtp::SendError::Permanent(_) => {
                    "not sent (permanent: fix this before the next digest)"
                }
                vigia_mailer::smtp::SendError::Config(_) => "not sent (configuration)",
            };
            println!("{kind} by {how}: {e}");
            Exit::GeneralError.into()
        }
    }
}
