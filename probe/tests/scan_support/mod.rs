//! Helpers shared by the scanner tests: recording trees with chosen mtimes, configurations
//! loaded the way the binary loads them, and comparisons that say what differed.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use filetime::FileTime as FT;
use std::path::{Path, PathBuf};
use vigia::config::ConfigSource;
use vigia_probe::config::ProbeConfig;

/// A temporary folder holding recording trees and a `probe.toml`.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file of `size` bytes with mtime `t` (creating its folders).
    #[track_caller]
    pub fn file(&self, rel: &str, t: DateTime<Utc>, size: usize) -> PathBuf {
        let p = self.path(rel);
        write_file(&p, t, size);
        p
    }

    #[track_caller]
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// Loads a configuration written as TOML (no environment overrides).
    #[track_caller]
    pub fn config(&self, toml: &str) -> ProbeConfig {
        let p = self.dir.path().join("probe.toml");
        std::fs::write(&p, toml).expect("write config");
        ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![])).expect("valid config")
    }

    /// Tries to load a configuration; returns the error text.
    pub fn config_error(&self, toml: &str) -> String {
        let p = self.dir.path().join("probe.toml");
        std::fs::write(&p, toml).expect("write config");
        match ProbeConfig::load_from(&ConfigSource::file(&p).with_env(vec![])) {
            Ok(_) => panic!("configuration accepted but should not be:\n{toml}"),
            Err(e) => e.to_string(),
        }
    }
}

#[track_caller]
pub fn write_file(p: &Path, t: DateTime<Utc>, size: usize) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, vec![b'v'; size]).expect("write file");
    set_mtime(p, t);
}

#[track_caller]
pub fn set_mtime(p: &Path, t: DateTime<Utc>) {
    let ft = FT::from_unix_time(t.timestamp(), t.timestamp_subsec_nanos());
    filetime::set_symlink_file_times(p, ft, ft).expect("set mtime");
}

/// A local wall-clock time in a zone, as UTC.
#[track_caller]
pub fn local(tz: &str, s: &str) -> DateTime<Utc> {
    let tz = vigia::days::parse_tz(tz).expect("zone");
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("local time");
    tz.from_local_datetime(&naive)
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

pub fn day(s: &str) -> NaiveDate {
    vigia::days::parse_day(s).expect("day")
}

pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(vigia::days::to_timestamp(t))
}

/// TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.to_string_lossy())
}
