//! `vigia-collector`: the central service and the fleet CA's command line.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vigia::config::ConfigSource;
use vigia_collector::{ca, CollectorConfig};

/// The file read when --config is not given; when it does not exist every default applies.
const DEFAULT_CONFIG: &str = "collector.toml";

/// The Vigia collector: receives probe statuses over mutual TLS, stores them, serves verdicts.
///
/// Configuration comes from collector.toml (every key has a default, so the file may be absent),
/// then VIGIA_* environment variables (VIGIA_RULES__LATE_AFTER=3h). Logs are filtered by
/// VIGIA_LOG, or RUST_LOG, e.g. VIGIA_LOG=debug.
#[derive(Parser, Debug)]
#[command(name = "vigia-collector", version, about, long_about)]
struct Cli {
    /// Configuration file [default: collector.toml, optional: missing means all defaults].
    /// A file named here explicitly must exist.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Use private key files that group or others can read (refused otherwise), with a warning.
    #[arg(long, global = true)]
    allow_insecure_keys: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the collector: serve Ingest, Query, Admin, health and reflection until SIGTERM or
    /// Ctrl-C (a second one exits at once).
    Run,
    /// Load and check the configuration and the certificate files, print the effective
    /// configuration, and exit (0 when valid, 2 for a configuration error, 1 for certificates).
    CheckConfig,
    /// Manage the fleet certificate authority (create it, issue certificates).
    #[command(subcommand)]
    Ca(CaCommand),
}

#[derive(Subcommand, Debug)]
enum CaCommand {
    /// Create the fleet CA: writes ca.pem (give it to every probe and reader) and ca.key (keep it secret).
    Init {
        /// Folder to write the CA into.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// A name for this fleet, shown in the CA certificate.
        #[arg(long, default_value = "fleet")]
        name: String,
        /// Days the CA stays valid.
        #[arg(long, default_value_t = ca::DEFAULT_CA_DAYS)]
        days: u32,
        /// Overwrite an existing CA (every certificate it issued stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate signed by the fleet CA: for the collector, a probe or a reader.
    Issue(IssueArgs),
}

#[derive(Args, Debug)]
struct IssueArgs {
    /// Folder holding the CA (ca.pem, ca.key).
    #[arg(long, default_value = "certs")]
    dir: PathBuf,
    /// Folder to write the new certificate and key into (default: the CA folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Days the certificate stays valid.
    #[arg(long, default_value_t = ca::DEFAULT_DAYS)]
    days: u32,
    /// Overwrite existing files of the same name.
    #[arg(long)]
    force: bool,
    #[command(subcommand)]
    kind: IssueKind,
}

#[derive(Subcommand, Debug)]
enum IssueKind {
    /// The collector's server certificate (server.pem, server.key).
    Server {
        /// DNS names the collector is reached by (repeatable).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// IP addresses the collector is reached by (repeatable).
        #[arg(long = "ip")]
        ip: Vec<IpAddr>,
    },
    /// A site probe's certificate (SITE.pem, SITE.key): it may report for this site only.
    Probe {
        /// The site's name: [A-Za-z0-9._-], at most 128 bytes.
        #[arg(long)]
        site: String,
    },
    /// A reader's certificate (NAME.pem, NAME.key), for the mailer or an operator's grpcurl.
    Reader {
        /// The holder's name: [A-Za-z0-9._-], at most 128 bytes.
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    vigia::tls::install_crypto_provider();
    let cli = Cli::parse();
    vigia::secret_file::allow_insecure(cli.allow_insecure_keys);
    match cli.command {
        Command::Run => {
            vigia::process::init_logging();
            let config = match load_config(cli.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(msg) = vigia_collector::server::missing_certificates(&config) {
                eprintln!("error: {msg}");
                return ExitCode::from(1);
            }
            match run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::CheckConfig => {
            let config = match load_config(cli.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match toml::to_string(&config) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("(cannot print the configuration: {e})"),
            }
            if let Some(msg) = vigia_collector::server::missing_certificates(&config) {
                eprintln!("error: {msg}");
                return ExitCode::from(1);
            }
            if let Err(e) =
                vigia::tls::TlsMaterial::load(&config.tls.ca, &config.tls.cert, &config.tls.key)
            {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
            eprintln!("configuration and certificates are valid");
            ExitCode::SUCCESS
        }
        Command::Ca(cmd) => match run_ca(cmd) {
            Ok(files) => {
                for f in files {
                    println!("wrote {}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn run_ca(cmd: CaCommand) -> Result<Vec<PathBuf>, ca::CaError> {
    match cmd {
        CaCommand::Init {
            dir,
            name,
            days,
            force,
        } => ca::init(&dir, &name, days, force),
        CaCommand::Issue(args) => {
            let subject = match args.kind {
                IssueKind::Server { dns, ip } => ca::Subject::Server { dns, ips: ip },
                IssueKind::Probe { site } => ca::Subject::Probe { site },
                IssueKind::Reader { name } => ca::Subject::Reader { name },
            };
            let out = args.out.unwrap_or_else(|| args.dir.clone());
            ca::issue(&args.dir, &out, &subject, args.days, args.force)
        }
    }
}

/// Loads the configuration, or prints `invalid configuration: ...` and returns exit status 2.
fn load_config(path: Option<PathBuf>) -> Result<CollectorConfig, ExitCode> {
    let source = match path {
        Some(p) => ConfigSource::file(p),
        None => ConfigSource::file(DEFAULT_CONFIG).optional(),
    };
    CollectorConfig::load(&source).map_err(|e| {
        eprintln!("invalid configuration: {e}");
        ExitCode::from(2)
    })
}

fn run(config: CollectorConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listen on {}", config.listen))?;
        vigia_collector::serve(config, listener, vigia::process::shutdown_signal()).await
    })
}
