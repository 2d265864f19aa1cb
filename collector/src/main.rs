//! `vigia-collector`: the central service and the fleet CA's command line.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vigia::config::ConfigSource;
use vigia::exit_codes::{self, ExitCode as Exit};
use vigia_collector::{ca, issuing, revocation, CollectorConfig};

/// mimalloc for every allocation of the service (see Cargo.toml: glibc's malloc dominated the
/// fleet listing's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Manage the fleet certificate authority (create it, issue and revoke certificates).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Inspect or rescue the store in data_dir (with the collector stopped).
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand, Debug)]
enum StoreCommand {
    /// Read every record of the store in data_dir and report counts and damage (exit 0 when
    /// sound, 1 when damaged or unreadable).
    Check,
    /// Copy every record of data_dir's store that can be read into a new store folder, which
    /// the collector then opens (set data_dir to it). The collector must be stopped.
    Salvage {
        /// The new store folder: must not exist, or be empty.
        #[arg(long, value_name = "NEWDIR")]
        to: PathBuf,
    },
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
    /// Each is recorded in the CA folder's issued.toml; with --force, the certificate it
    /// replaces (same role and name) is revoked.
    Issue(IssueArgs),
    /// Revoke certificates: records them in revoked.toml and writes crl.pem, signed by the CA.
    /// A running collector refuses them at the handshake once it re-reads the CRL
    /// ([tls] reload_interval).
    Revoke(RevokeArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["name", "serial", "cert"])))]
struct RevokeArgs {
    /// Folder holding the CA (ca.pem, ca.key, issued.toml); revoked.toml and crl.pem are written there.
    #[arg(long, default_value = "certs")]
    dir: PathBuf,
    /// The site, reader or server name: every certificate issued for it is revoked.
    name: Option<String>,
    /// One certificate's serial number (hex, as issued.toml lists it; ':' separators allowed).
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// The certificate in this file (also one issued before issued.toml existed).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// With NAME: only certificates of this role (probe, reader, server), when a name has several.
    #[arg(long, value_parser = parse_role, requires = "name")]
    role: Option<vigia::tls::Role>,
    /// Why: unspecified, key-compromise (a lost or stolen machine), cessation-of-operation (a closed site), superseded.
    #[arg(long, default_value = "unspecified", value_parser = |s: &str| s.parse::<revocation::Reason>())]
    reason: revocation::Reason,
}

fn parse_role(s: &str) -> Result<vigia::tls::Role, String> {
    vigia::tls::Role::parse(s)
        .ok_or_else(|| format!("unknown role {s:?}; expected probe, reader or server"))
}

/// `ca issue`'s options are global to its three kinds, so they may be written before the kind
/// (`ca issue --force reader --name ana`) or after it (`ca issue reader --name ana --force`).
#[derive(Args, Debug)]
struct IssueArgs {
    /// Folder holding the CA (ca.pem, ca.key).
    #[arg(long, global = true, default_value = "certs")]
    dir: PathBuf,
    /// Folder to write the new certificate and key into (default: the CA folder).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Days the certificate stays valid.
    #[arg(long, global = true, default_value_t = ca::DEFAULT_DAYS)]
    days: u32,
    /// Overwrite existing files of the same name.
    #[arg(long, global = true)]
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
                return exit_codes::failed(&msg).into();
            }
            match run(config) {
                Ok(()) => Exit::Success.into(),
                Err(e) => exit_codes::failed(&format_args!("{e:#}")).into(),
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
                return exit_codes::failed(&msg).into();
            }
            vigia_collector::check::check(&config).finish("the collector")
        }
        Command::Store(cmd) => {
            let config = match load_config(cli.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run_store(&config, cmd)
        }
        Command::Ca(cmd) => match run_ca(cmd) {
            Ok(files) => {
                for f in files {
                    println!("wrote {}", f.display());
                }
                Exit::Success.into()
            }
            Err(e) => exit_codes::failed(&e).into(),
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
        } => issuing::init(&dir, &name, days, force),
        CaCommand::Issue(args) => {
            let subject = match args.kind {
                IssueKind::Server { dns, ip } => ca::Subject::Server { dns, ips: ip },
                IssueKind::Probe { site } => ca::Subject::Probe { site },
                IssueKind::Reader { name } => ca::Subject::Reader { name },
            };
            let out = args.out.unwrap_or_else(|| args.dir.clone());
            let issued = issuing::issue_recorded(&args.dir, &out, &subject, args.days, args.force)?;
            println!("issued serial {}", issued.serial);
            for old in &issued.superseded {
                println!(
                    "revoked serial {} ({} {}): superseded by {}",
                    old.serial, old.role, old.name, issued.serial
                );
            }
            Ok(issued.files)
        }
        CaCommand::Revoke(args) => {
            let target = match (args.name, args.serial, args.cert) {
                (Some(name), _, _) => revocation::Target::Name {
                    name,
                    role: args.role,
                },
                (None, Some(serial), _) => revocation::Target::Serial(serial),
                (None, None, Some(cert)) => revocation::Target::CertFile(cert),
                // clap's group demands one of the three.
                (None, None, None) => return Ok(Vec::new()),
            };
            let done = revocation::revoke(&args.dir, &target, args.reason)?;
            for r in &done.newly {
                println!(
                    "revoked serial {} ({} {}): {}",
                    r.serial, r.role, r.name, r.reason
                );
            }
            for r in &done.already {
                println!(
                    "serial {} ({} {}) was already revoked on {} ({})",
                    r.serial,
                    r.role,
                    r.name,
                    r.revoked_at.format("%Y-%m-%d %H:%M UTC"),
                    r.reason
                );
            }
            if !done.newly.is_empty() {
                println!("a running collector refuses it from its next CRL check ([tls] reload_interval); copy crl.pem to where [tls] crl points if that is another folder");
            }
            Ok(done.files)
        }
    }
}

/// Loads the configuration, or prints `invalid configuration: ...` and returns exit status 2.
fn load_config(path: Option<PathBuf>) -> Result<CollectorConfig, ExitCode> {
    let source = match path {
        Some(p) => ConfigSource::file(p),
        None => ConfigSource::file(DEFAULT_CONFIG).optional(),
    };
    CollectorConfig::load(&source).map_err(|e| exit_codes::invalid_configuration(&e).into())
}

/// `store check` / `store salvage`: prints the report; exit 0 when sound (or salvaged).
fn run_store(config: &CollectorConfig, cmd: StoreCommand) -> ExitCode {
    let dir = &config.data_dir;
    match cmd {
        StoreCommand::Check => match vigia_collector::salvage::check(dir, config.cache_bytes()) {
            Ok(report) => {
                print!("{}", report.render(dir));
                if report.ok() {
                    Exit::Success.into()
                } else {
                    exit_codes::failed(&format_args!(
                        "store {} is damaged: restore it from a backup, or copy what can be read with: vigia-collector store salvage --to NEWDIR",
                        dir.display()
                    ))
                    .into()
                }
            }
            Err(e) => exit_codes::failed(&e).into(),
        },
        StoreCommand::Salvage { to } => {
            match vigia_collector::salvage::salvage(
                dir,
                &to,
                config.cache_bytes(),
                config.store.compression,
            ) {
                Ok(report) => {
                    print!("{}", report.render(dir, &to));
                    Exit::Success.into()
                }
                Err(e) => exit_codes::failed(&e).into(),
            }
        }
    }
}

fn run(config: CollectorConfig) -> anyhow::Result<()> {
    let runtime = vigia::process::runtime(None).context("start the async runtime")?;
    runtime.block_on(async move {
        // Listen for SIGTERM / Ctrl-C from now on (a signal future only registers when first
        // polled): a signal arriving right after "collector serving" must stop it gracefully.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            vigia::process::shutdown_signal().await;
            let _ = stop_tx.send(());
        });
        // The store opens (and is checked) before the port is bound: a collector that cannot
        // serve its data never accepts a connection.
        let collector = tokio::task::spawn_blocking(move || {
            vigia_collector::Collector::open(config, vigia_collector::Clock::system())
        })
        .await
        .context("open the collector")??;
        let listen = collector.listen_addr();
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        collector
            .serve(listener, async move {
                let _ = stop_rx.await;
            })
            .await
    })
}
