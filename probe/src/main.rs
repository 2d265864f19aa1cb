//! `vigia-probe`: scans a site's recorder folders and reports them to the collector.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vigia::exit_codes::{self, ExitCode as Exit};
use vigia_probe::config::ProbeConfig;

/// The Vigia probe: audits the recording folders of this site's recorders.
#[derive(Parser, Debug)]
#[command(name = "vigia-probe", version, about, long_about = None)]
struct Cli {
    /// The probe's configuration file.
    #[arg(long, global = true, default_value = "probe.toml")]
    config: PathBuf,
    /// Use private key files that group or others can read (refused otherwise), with a warning.
    #[arg(long, global = true)]
    allow_insecure_keys: bool,
    #[command(subcommand)]
    command: Command,
}

/// How `scan` prints its result.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// One line per recorder, like the old email row, plus camera lines.
    Table,
    /// One JSON array of statuses (protobuf JSON form, RFC 3339 timestamps).
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan every configured recorder once and print the result; contacts no collector.
    Scan {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Incremental scan cache file: reused and updated, so a rescan skips unchanged folders.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Prove the set-up: the configuration, every recording folder, the spool, and the
    /// certificate (this site's, issued by the CA, valid: days left shown). Exits 1 when
    /// anything would fail at run time, 2 for a configuration that does not load.
    CheckConfig {
        /// A recording folder that does not exist yet is a warning, not an error.
        #[arg(long)]
        allow_missing: bool,
        /// Also connect to the collector: TLS handshake, and a dry-run status it acknowledges
        /// without storing.
        #[arg(long)]
        connect: bool,
    },
    /// Run the daemon: scan on schedule and stream statuses to the collector.
    Run,
    /// Scan once, send, wait for the acknowledgement; exit 0 when acknowledged, 1 when the
    /// status stayed in the spool (for the operating system's task scheduler).
    SendOnce {
        /// How long to wait for the collector's acknowledgement.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Windows: run the probe as a native service (install, start, stop, status, uninstall).
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Subcommand, Debug)]
enum ServiceCommand {
    /// Register the service with --config's file (absolute): automatic delayed start, restarted
    /// after a failure, logging to vigia-probe.log beside the configuration. Run as Administrator.
    Install {
        /// Run as this account (`.\user` or `DOMAIN\user`) instead of LocalSystem; it must be
        /// able to read the recording folders.
        #[arg(long)]
        account: Option<String>,
        /// The environment variable holding that account's password.
        #[arg(long, requires = "account", value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Stop the service if it runs, then remove it.
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the service; it drains as on Ctrl-C.
    Stop,
    /// Print the service's state.
    Status,
    /// What the Service Control Manager runs; not for a console.
    #[command(hide = true)]
    Run,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    vigia::units::duration::parse(s)
}

fn main() -> ExitCode {
    vigia::tls::install_crypto_provider();
    let cli = Cli::parse();
    vigia::secret_file::allow_insecure(cli.allow_insecure_keys);
    if let Command::Service(cmd) = &cli.command {
        return service_command(cmd, &cli.config);
    }
    vigia_probe::init_logging();
    let config = match ProbeConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => return exit_codes::invalid_configuration(&e).into(),
    };
    let result = match cli.command {
        Command::Scan { format, cache } => {
            let json = matches!(format, Format::Json);
            vigia_probe::scan::cli::scan_command(&config, json, cache.as_deref())
        }
        Command::CheckConfig {
            allow_missing,
            connect,
        } => vigia_probe::check::check_config_command(
            &config,
            vigia_probe::check::CheckOptions {
                allow_missing,
                connect,
            },
        ),
        Command::Run => vigia_probe::cli::run_command(config),
        Command::SendOnce { timeout } => vigia_probe::cli::send_once_command(config, timeout),
        Command::Service(_) => unreachable_service(),
    };
    match result {
        Ok(code) => code,
        Err(e) => exit_codes::failed(&format_args!("{e:#}")).into(),
    }
}

/// Handled before the configuration is loaded: uninstalling or asking the status needs none,
/// and the service logs to its file, not to this console.
fn unreachable_service() -> anyhow::Result<ExitCode> {
    anyhow::bail!("internal: service commands are dispatched before the configuration loads")
}

fn service_command(cmd: &ServiceCommand, config: &std::path::Path) -> ExitCode {
    use vigia_probe::service;
    let done = |what: &str| {
        println!("{what}");
        Ok(Exit::Success.into())
    };
    let result = match cmd {
        ServiceCommand::Install {
            account,
            password_env,
        } => {
            vigia_probe::init_logging();
            if let Err(e) = ProbeConfig::load(config) {
                return exit_codes::invalid_configuration(&e).into();
            }
            let password = match password_env {
                Some(var) => match std::env::var(var) {
                    Ok(p) => Some(p),
                    Err(_) => {
                        eprintln!("error: --password-env {var}: the variable is not set");
                        return Exit::ConfigError.into();
                    }
                },
                None => None,
            };
            service::install(config, account.as_deref(), password.as_deref()).and_then(|()| {
                done("installed VigiaProbe (automatic, delayed start); start it with `vigia-probe service start`")
            })
        }
        ServiceCommand::Uninstall => service::uninstall().and_then(|()| done("removed VigiaProbe")),
        ServiceCommand::Start => service::start().and_then(|()| done("VigiaProbe is running")),
        ServiceCommand::Stop => service::stop().and_then(|()| done("VigiaProbe stopped")),
        ServiceCommand::Status => service::status().and_then(|s| done(&s)),
        ServiceCommand::Run => service::run(config),
    };
    match result {
        Ok(code) => code,
        Err(e) => exit_codes::failed(&format_args!("{e:#}")).into(),
    }
}
