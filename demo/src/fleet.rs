//! The demo fleet: five client sites that between them show what the morning email is for —
//! one healthy, one whose recorder stopped, one keeping too few days with a gap, one with a dead
//! camera, and one expected site that never reported — with the configuration files of the three
//! programs, written the way an installer would write them.

use crate::trees::{live_camera, write_tree, CameraSpec, Layout, TreeSpec};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};

/// The zone the demo sites are in.
pub const DEMO_TZ: &str = "America/Sao_Paulo";

/// The expected site that never reports.
pub const SILENT_SITE: &str = "loja-nova";

/// One demo site with a probe.
#[derive(Debug, Clone)]
pub struct DemoSite {
    /// Site name (also its certificate's name).
    pub name: &'static str,
    /// What the digest should say about it.
    pub expect: &'static str,
    /// Its recorder's tree.
    pub tree: TreeSpec,
}

fn camera(name: &str, days: u32, stopped_hours: i64, missing: &[u32]) -> CameraSpec {
    CameraSpec {
        name: name.into(),
        days,
        stopped_for: Duration::hours(stopped_hours),
        missing_days_ago: missing.to_vec(),
    }
}

/// The four reporting sites.
pub fn demo_sites() -> Vec<DemoSite> {
    vec![
        DemoSite {
            name: "loja-centro",
            expect: "OK",
            tree: TreeSpec {
                layout: Layout::Intelbras,
                cameras: vec![live_camera("ch01", 35), live_camera("ch02", 35)],
                files_per_day: 24,
            },
        },
        DemoSite {
            name: "loja-norte",
            expect: "LATE",
            tree: TreeSpec {
                layout: Layout::Ivms,
                cameras: vec![camera("cam01", 35, 6, &[]), camera("cam02", 35, 6, &[])],
                files_per_day: 24,
            },
        },
        DemoSite {
            name: "loja-sul",
            expect: "SHORT_RETENTION",
            tree: TreeSpec {
                layout: Layout::Digifort,
                cameras: vec![camera("Entrada", 12, 0, &[5]), camera("Caixa", 12, 0, &[5])],
                files_per_day: 24,
            },
        },
        DemoSite {
            name: "deposito",
            expect: "CAMERA_LATE",
            tree: TreeSpec {
                layout: Layout::Digifort,
                cameras: vec![
                    live_camera("Doca", 35),
                    live_camera("Patio", 35),
                    camera("Portao", 35, 50, &[]),
                ],
                files_per_day: 24,
            },
        },
    ]
}

/// Where everything of a demo run lives.
#[derive(Debug, Clone)]
pub struct DemoLayout {
    /// The demo's root folder.
    pub root: PathBuf,
    /// Certificates (CA, server, probes, mailer reader).
    pub certs: PathBuf,
    /// The collector's configuration.
    pub collector_toml: PathBuf,
    /// The mailer's configuration.
    pub mailer_toml: PathBuf,
    /// The collector's address.
    pub addr: std::net::SocketAddr,
}

impl DemoLayout {
    /// Paths under `root` for a collector on `127.0.0.1:port`.
    pub fn new(root: &Path, port: u16) -> DemoLayout {
        DemoLayout {
            root: root.to_path_buf(),
            certs: root.join("certs"),
            collector_toml: root.join("collector.toml"),
            mailer_toml: root.join("mailer.toml"),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// A site's probe configuration file.
    pub fn probe_toml(&self, site: &str) -> PathBuf {
        self.root.join(format!("probe-{site}.toml"))
    }

    /// A site's recording folder.
    pub fn recordings(&self, site: &str) -> PathBuf {
        self.root.join("recordings").join(site)
    }

    /// A log file for a process.
    pub fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }
}

/// Writes the recording trees of every demo site as they stand at `now`.
pub fn write_trees(layout: &DemoLayout, now: DateTime<Utc>) -> Result<()> {
    let tz: Tz = DEMO_TZ.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    for site in demo_sites() {
        let dir = layout.recordings(site.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
        }
        write_tree(&dir, &site.tree, now, tz)
            .with_context(|| format!("write {}", dir.display()))?;
    }
    Ok(())
}

/// Quotes a path for TOML (literal string: Windows backslashes stay as they are).
pub fn toml_path(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// Options that differ between the demo and the end-to-end test.
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// The probes' scan interval.
    pub every: String,
    /// Extra lines for the collector's `[rules]`.
    pub rules: String,
    /// The mailer's `[smtp]` table body.
    pub smtp: String,
}

impl Default for ConfigOptions {
    fn default() -> Self {
        ConfigOptions {
            every: "5m".into(),
            rules: String::new(),
            smtp: "host = \"localhost\"\nport = 25\nsecurity = \"none\"\nfrom = \"vigia@localhost\"\nto = [\"cctv-team@localhost\"]\n".into(),
        }
    }
}

/// Writes the configuration files of the collector, each probe and the mailer.
pub fn write_configs(layout: &DemoLayout, opts: &ConfigOptions) -> Result<()> {
    std::fs::create_dir_all(layout.root.join("logs")).context("create logs folder")?;
    let certs = &layout.certs;
    let mut expected: Vec<String> = demo_sites()
        .iter()
        .map(|s| format!("\"{}\"", s.name))
        .collect();
    expected.push(format!("\"{SILENT_SITE}\""));
    let collector = format!(
        "# Demo collector: loopback only.\n\
         listen = \"{addr}\"\n\
         data_dir = {data}\n\
         expected_sites = [{expected}]\n\n\
         [tls]\nca = {ca}\ncert = {cert}\nkey = {key}\n\n\
         [rules]\n{rules}\n",
        addr = layout.addr,
        data = toml_path(&layout.root.join("collector-data")),
        expected = expected.join(", "),
        ca = toml_path(&certs.join("ca.pem")),
        cert = toml_path(&certs.join("server.pem")),
        key = toml_path(&certs.join("server.key")),
        rules = opts.rules,
    );
    std::fs::write(&layout.collector_toml, collector).context("write collector.toml")?;

    for site in demo_sites() {
        let probe = format!(
            "site = \"{site}\"\n\
             timezone = \"{DEMO_TZ}\"\n\n\
             [[recorder]]\nid = \"nvr\"\ntechnology = \"{tech}\"\npath = {path}\n\n\
             [collector]\nurl = \"https://localhost:{port}\"\nca = {ca}\ncert = {cert}\nkey = {key}\nbackoff_max = \"2s\"\n\n\
             [schedule]\nevery = \"{every}\"\n\n\
             [spool]\ndir = {spool}\n",
            site = site.name,
            tech = site.tree.layout.technology(),
            path = toml_path(&layout.recordings(site.name)),
            port = layout.addr.port(),
            ca = toml_path(&certs.join("ca.pem")),
            cert = toml_path(&certs.join(format!("{}.pem", site.name))),
            key = toml_path(&certs.join(format!("{}.key", site.name))),
            every = opts.every,
            spool = toml_path(&layout.root.join("spool").join(site.name)),
        );
        std::fs::write(layout.probe_toml(site.name), probe)
            .with_context(|| format!("write probe config for {}", site.name))?;
    }

    let mailer = format!(
        "language = \"en\"\n\
         timezone = \"{DEMO_TZ}\"\n\
         state_dir = {state}\n\n\
         [collector]\nurl = \"https://localhost:{port}\"\nca = {ca}\ncert = {cert}\nkey = {key}\n\n\
         [smtp]\n{smtp}\n",
        state = toml_path(&layout.root.join("mailer-state")),
        port = layout.addr.port(),
        ca = toml_path(&certs.join("ca.pem")),
        cert = toml_path(&certs.join("mailer.pem")),
        key = toml_path(&certs.join("mailer.key")),
        smtp = opts.smtp,
    );
    std::fs::write(&layout.mailer_toml, mailer).context("write mailer.toml")?;
    Ok(())
}
