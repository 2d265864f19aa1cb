//! `vigia-collector store check` and `store salvage`: what an operator runs when the collector
//! refuses a damaged store. `check` reads every record and says what is wrong; `salvage` copies
//! every record that can be read into a new store folder, which the collector then opens. Both
//! need the collector stopped (sled locks its folder to one process).

use prost::Message;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::marker::{marker_path, no_panic, read_marker, write_marker, Marker};
use crate::store::{SiteRecord, Store, StoreError};

/// The trees a store holds besides `meta` (see `crate::store`), the archive's last.
const TREES: [&str; 9] = [
    "sites",
    "latest",
    "history",
    "seen",
    "inventory",
    "acks",
    "timeline",
    "thinned",
    ARCHIVE,
];

/// The archive's `history` tree (`crate::archive`), as reports name it.
const ARCHIVE: &str = "archive/history";

/// The tree `name` of `store` ([`TREES`]).
fn tree(store: &Store, name: &str) -> Result<sled::Tree, StoreError> {
    let (db, name) = match name {
        ARCHIVE => (store.archive_db(), "history"),
        _ => (store.db(), name),
    };
    db.open_tree(name).map_err(|e| store.err(e))
}

/// Whether a stored value of tree `name` decodes (records of trees without a format of their
/// own always do).
fn decodes(name: &str, v: &[u8]) -> bool {
    match name {
        "sites" => SiteRecord::decode(v).is_ok(),
        "history" | ARCHIVE => crate::store::history_value_ok(v),
        _ => true,
    }
}

/// What `store check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Records read, by tree.
    pub records: Vec<(String, u64)>,
    /// Every problem found, in words; empty when the store is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether the store is sound.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as printed by the command.
    pub fn render(&self, dir: &Path) -> String {
        let mut out = format!("store {}\n", dir.display());
        for (tree, n) in &self.records {
            let _ = writeln!(out, "  {tree}: {n} record(s)");
        }
        if self.ok() {
            out.push_str("ok: every record reads back\n");
        } else {
            out.push_str("DAMAGED:\n");
            for p in &self.problems {
                let _ = writeln!(out, "  - {p}");
            }
        }
        out
    }
}

/// Reads every record of the store in `dir` and reports counts and problems. An error means
/// the store cannot be opened at all (in use, or damaged beyond sled's open).
pub fn check(dir: &Path, cache_bytes: u64) -> Result<CheckReport, StoreError> {
    let store = Store::open(dir, cache_bytes)?;
    no_panic(dir, "reading the store", || check_open(&store))
}

fn check_open(store: &Store) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    for name in TREES {
        let tree = tree(store, name)?;
        let mut n = 0u64;
        let mut bad = 0u64;
        for kv in tree.iter() {
            match kv {
                Ok((_, v)) => {
                    n += 1;
                    if !decodes(name, &v) {
                        bad += 1;
                    }
                }
                Err(e) => {
                    report.problems.push(format!(
                        "tree {name}: reading stopped after {n} record(s): {e}"
                    ));
                    break;
                }
            }
        }
        if bad > 0 {
            report
                .problems
                .push(format!("tree {name}: {bad} record(s) cannot be decoded"));
        }
        report.records.push((name.to_string(), n));
    }
    match store.archive_lost() {
        Ok(None) => {}
        Ok(Some(_)) => report
            .problems
            .push(crate::store_guard::archive_lost(store.dir())),
        Err(e) => report
            .problems
            .push(format!("the layout cannot be read: {e}")),
    }
    match store.dangling_latest() {
        Ok(0) => {}
        Ok(n) => report.problems.push(format!(
            "{n} latest-status pointer(s) name history records that are missing"
        )),
        Err(e) => report
            .problems
            .push(format!("latest pointers cannot be followed: {e}")),
    }
    match read_marker(store.dir()) {
        Ok(Some(m)) => {
            let sites = store.site_count().unwrap_or(0);
            if sites < m.sites {
                report.problems.push(format!(
                    "the marker {} says the store held {} site(s) (data since {}); it has {sites}",
                    marker_path(store.dir()).display(),
                    m.sites,
                    m.first_write
                ));
            }
        }
        Ok(None) => {}
        Err(e) => report.problems.push(e.to_string()),
    }
    Ok(report)
}

/// What `store salvage` copied.
#[derive(Debug, Default)]
pub struct SalvageReport {
    /// Records copied, by tree.
    pub copied: Vec<(String, u64)>,
    /// Records or trees that could not be read (left behind), in words.
    pub lost: Vec<String>,
}

impl SalvageReport {
    /// The report as printed by the command.
    pub fn render(&self, from: &Path, to: &Path) -> String {
        let mut out = format!("salvaged {} into {}\n", from.display(), to.display());
        for (tree, n) in &self.copied {
            let _ = writeln!(out, "  {tree}: {n} record(s) copied");
        }
        for l in &self.lost {
            let _ = writeln!(out, "  left behind: {l}");
        }
        let _ = writeln!(
            out,
            "set data_dir = {:?} in the configuration (or move the folder into place) and start the collector",
            to.display().to_string()
        );
        out
    }
}

/// Why a salvage could not run.
#[derive(Debug, thiserror::Error)]
pub enum SalvageError {
    /// The target exists and is not empty (salvage never writes over anything).
    #[error("{}: exists and is not empty; salvage writes only into a new (or empty) folder", .0.display())]
    TargetNotEmpty(PathBuf),
    /// The target cannot be inspected.
    #[error("{}: {source}", .0.display(), source = .1)]
    Target(PathBuf, std::io::Error),
    /// Either store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies every record of the store in `from` that can be read into a new store in `to`.
/// `latest` pointers are copied only when the history record they name came along, so the new
/// store passes the collector's open-time checks; the new store gets its own marker.
/// The new store compresses its pages if `compress` (`[store] compression`).
pub fn salvage(
    from: &Path,
    to: &Path,
    cache_bytes: u64,
    compress: bool,
) -> Result<SalvageReport, SalvageError> {
    match std::fs::read_dir(to) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SalvageError::TargetNotEmpty(to.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SalvageError::Target(to.to_path_buf(), e)),
    }
    let source = Store::open(from, cache_bytes)?;
    let target = Store::open_as(to, cache_bytes, compress)?;
    let mut report = SalvageReport::default();
    for name in TREES {
        if name == "latest" {
            continue;
        }
        let (n, lost) = copy_tree(&source, &target, name, |_, _| true)?;
        report.copied.push((name.to_string(), n));
        report.lost.extend(lost);
    }
    let trees = target.trees();
    let (n, lost) = copy_tree(&source, &target, "latest", |_, v| {
        v.get(8..)
            .is_some_and(|k| trees.get(k).ok().flatten().is_some())
    })?;
    report.copied.push(("latest".to_string(), n));
    report.lost.extend(lost);
    target.flush()?;
    target.flush_archive()?;
    let sites = target.site_count()?;
    if sites > 0 {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let first = read_marker(from)
            .ok()
            .flatten()
            .map_or_else(|| now.clone(), |m| m.first_write);
        let marker = Marker {
            first_write: first,
            updated: now,
            sites,
        };
        write_marker(to, &marker).map_err(|e| StoreError::Sled {
            dir: to.to_path_buf(),
            source: sled::Error::Io(e),
        })?;
    }
    Ok(report)
}

/// Copies one tree, record by record, as far as it reads; records `keep` refuses (or that do
/// not decode) are left behind and counted.
fn copy_tree(
    source: &Store,
    target: &Store,
    name: &'static str,
    keep: impl Fn(&[u8], &[u8]) -> bool,
) -> Result<(u64, Vec<String>), StoreError> {
    let from = tree(source, name)?;
    let to = tree(target, name)?;
    let mut copied = 0u64;
    let mut skipped = 0u64;
    let mut lost = Vec::new();
    let walked = no_panic(source.dir(), "reading the store", || {
        for kv in from.iter() {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => {
                    lost.push(format!(
                        "tree {name}: reading stopped after {copied} record(s): {e}"
                    ));
                    break;
                }
            };
            if !decodes(name, &v) || !keep(&k, &v) {
                skipped += 1;
                continue;
            }
            to.insert(k, v).map_err(|e| target.err(e))?;
            copied += 1;
        }
        Ok(())
    });
    if let Err(e) = walked {
        lost.push(format!("tree {name}: {e}"));
    }
    if skipped > 0 {
        lost.push(format!(
            "tree {name}: {skipped} record(s) unreadable or pointing at missing records"
        ));
    }
    Ok((copied, lost))
}
