//! `vigia-collector`: the central service and the fleet CA's command line.

use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vigia_collector::ca;

/// The Vigia collector: receives probe statuses over mutual TLS, stores them, serves verdicts.
#[derive(Parser, Debug)]
#[command(name = "vigia-collector", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    match cli.command {
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
