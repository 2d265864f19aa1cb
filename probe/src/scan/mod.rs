//! Walking recorder folders (owned by the scanner work; see issue 3).

use serde::Deserialize;
use std::path::PathBuf;

/// One `[[recorder]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// Unique id within the site.
    pub id: String,
    /// `intelbras | digifort | ivms | generic`.
    pub technology: String,
    /// Root folder of the recordings.
    pub path: PathBuf,
}

/// `[scan]`: settings for all recorders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSettings {
    /// Where the incremental scan cache persists.
    #[serde(default)]
    pub cache: Option<PathBuf>,
}

/// Checks the recorder list; the message names the key.
pub fn validate_recorders(recorders: &[RecorderConfig]) -> Result<(), String> {
    let _ = recorders;
    Ok(())
}
pub mod cli;
