//! The `[[recorder]]` and `[scan]` tables as the configuration holds them, with their checks:
//! what a recorder is (its technology, root, extension filter, camera depth) and how the scanner
//! is set up. Below both [`crate::config`], which loads them with the rest of the file, and
//! [`crate::scan`], which walks what they name (and re-exports them under `scan::`), so neither
//! of those imports the other in both directions.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use vigia::invalid::Invalid;
use vigia::pb;

/// Deepest folder level walked under a generic root (a guard against runaway trees), so also
/// the deepest `camera_depth` accepted.
pub const MAX_DEPTH: u32 = 64;

/// The recording software of a recorder, which decides the folder layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Technology {
    /// `<year>/<month>/<day>/<file>`: every regular file at exactly that depth; no camera.
    Intelbras,
    /// `<camera>/Dados/<file>.dar`: `.dar` files in any letter case; camera = first folder.
    Digifort,
    /// `<date>/<camera>/<file>`: every regular file at exactly that depth; camera = second folder.
    Ivms,
    /// Any depth; files by `extensions`; camera = the folder at `camera_depth`, if set.
    Generic,
}

/// Every technology, in the order the error message lists them.
pub const TECHNOLOGIES: [Technology; 4] = [
    Technology::Intelbras,
    Technology::Digifort,
    Technology::Ivms,
    Technology::Generic,
];

impl std::str::FromStr for Technology {
    type Err = String;

    fn from_str(s: &str) -> Result<Technology, String> {
        let wanted = s.trim();
        TECHNOLOGIES
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "unknown technology {s:?}; expected one of intelbras, digifort, ivms, generic"
                )
            })
    }
}

// By hand, so an unknown name gets a message that lists the choices (the config crate's enum
// error does not).
impl<'de> Deserialize<'de> for Technology {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Technology, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Technology {
    /// The name used in the configuration and the table output.
    pub fn name(self) -> &'static str {
        match self {
            Technology::Intelbras => "intelbras",
            Technology::Digifort => "digifort",
            Technology::Ivms => "ivms",
            Technology::Generic => "generic",
        }
    }

    /// The wire enum.
    pub fn to_pb(self) -> pb::Technology {
        match self {
            Technology::Intelbras => pb::Technology::Intelbras,
            Technology::Digifort => pb::Technology::Digifort,
            Technology::Ivms => pb::Technology::Ivms,
            Technology::Generic => pb::Technology::Generic,
        }
    }

    /// One line describing the layout, for `check-config`.
    pub fn layout(self) -> &'static str {
        match self {
            Technology::Intelbras => "<year>/<month>/<day>/<file>",
            Technology::Digifort => "<camera>/Dados/<file>.dar",
            Technology::Ivms => "<date>/<camera>/<file>",
            Technology::Generic => "any depth below the root",
        }
    }
}

/// One `[[recorder]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// Unique id within the site.
    pub id: String,
    /// `intelbras | digifort | ivms | generic`.
    pub technology: Technology,
    /// Root folder of the recordings.
    pub path: PathBuf,
    /// Only files with one of these extensions count (any letter case, with or without the dot).
    /// Default: every file, except Digifort where it is `["dar"]`.
    #[serde(default)]
    pub extensions: Option<Vec<String>>,
    /// Generic layout only: which folder level names the camera (1 = the first folder under the
    /// root). Without it a generic recorder has no per-camera figures.
    #[serde(default)]
    pub camera_depth: Option<u32>,
    /// Follow symbolic links (and junctions) below the root; loops are detected and reported.
    /// The root itself is always followed.
    #[serde(default)]
    pub follow_links: bool,
}

impl RecorderConfig {
    /// The extension filter in effect, lower-case without dots; `None` counts every file.
    pub fn effective_extensions(&self) -> Option<Vec<String>> {
        match (&self.extensions, self.technology) {
            (Some(list), _) => Some(list.iter().map(|e| normalize_extension(e)).collect()),
            (None, Technology::Digifort) => Some(vec!["dar".to_string()]),
            (None, _) => None,
        }
    }
}

fn normalize_extension(e: &str) -> String {
    e.trim().trim_start_matches('.').to_ascii_lowercase()
}

/// `[scan]`: settings for all recorders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSettings {
    /// Where the incremental scan cache persists.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// Files modified within this window (and folders changed within it) are re-read on every
    /// scan, because a file being recorded changes its mtime without changing its folder's.
    #[serde(default = "default_hot_window", with = "vigia::units::duration")]
    pub hot_window: Duration,
    /// Threads walking folders in parallel (default: the number of cores, at most 4).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            cache: None,
            hot_window: default_hot_window(),
            threads: None,
        }
    }
}

fn default_hot_window() -> Duration {
    Duration::from_secs(2 * 3600)
}

/// Shortest `hot_window` accepted: it must exceed the coarsest file time granularity by far.
pub const MIN_HOT_WINDOW: Duration = Duration::from_secs(60);

impl ScanSettings {
    /// Threads to use.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4)
        })
    }

    /// Checks the `[scan]` table; the message names the key.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.hot_window < MIN_HOT_WINDOW {
            return Err(Invalid::new(
                "scan.hot_window",
                format!(
                    "{} is too short, at least 1m",
                    vigia::units::duration::format(&self.hot_window)
                ),
            ));
        }
        if let Some(t) = self.threads {
            if !(1..=64).contains(&t) {
                return Err(Invalid::new(
                    "scan.threads",
                    format!("{t}, expected 1 to 64"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks the recorder list; the message names the key.
pub fn validate_recorders(recorders: &[RecorderConfig]) -> Result<(), Invalid> {
    let mut seen = HashSet::new();
    for (i, r) in recorders.iter().enumerate() {
        let key = |k: &str| format!("recorder[{i}].{k}");
        vigia::names::validate_name("recorder id", &r.id)
            .map_err(|e| Invalid::new(key("id"), e.to_string()))?;
        if !seen.insert(r.id.as_str()) {
            return Err(Invalid::new(
                key("id"),
                format!(
                    "duplicate recorder id {:?}; each recorder needs its own id",
                    r.id
                ),
            ));
        }
        if r.path.as_os_str().is_empty() {
            return Err(Invalid::new(
                key("path"),
                "empty; the recordings' root folder",
            ));
        }
        if let Some(exts) = &r.extensions {
            if exts.is_empty() {
                return Err(Invalid::new(
                    key("extensions"),
                    "empty list; omit the key to count every file",
                ));
            }
            for e in exts {
                let n = normalize_extension(e);
                if n.is_empty() || n.contains(['/', '\\', '.']) {
                    return Err(Invalid::new(
                        key("extensions"),
                        format!("{e:?} is not an extension such as \"dav\" or \".mp4\""),
                    ));
                }
            }
        }
        match (r.technology, r.camera_depth) {
            (Technology::Generic, Some(0)) => {
                return Err(Invalid::new(
                    key("camera_depth"),
                    "0; 1 is the first folder under the root",
                ))
            }
            (Technology::Generic, Some(d)) if d > MAX_DEPTH => {
                return Err(Invalid::new(
                    key("camera_depth"),
                    format!("{d}, at most {}", MAX_DEPTH),
                ))
            }
            (Technology::Generic, _) | (_, None) => {}
            (t, Some(_)) => {
                return Err(Invalid::new(
                    key("camera_depth"),
                    format!(
                        "only for technology \"generic\"; {} has its camera at a fixed place",
                        t.name()
                    ),
                ))
            }
        }
    }
    Ok(())
}
