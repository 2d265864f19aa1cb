//! Layout rules: which folders a technology descends into, where its files count, and where
//! its camera names sit.

use super::super::{RecorderConfig, Technology};
use std::ffi::OsStr;

/// Where files count and cameras sit, for one recorder.
pub(crate) struct Layout {
    pub(crate) technology: Technology,
    pub(crate) extensions: Option<Vec<String>>,
    pub(crate) camera_level: Option<u32>,
    pub(crate) follow: bool,
}

impl Layout {
    /// The rules of a recorder's technology and settings.
    pub(crate) fn new(rec: &RecorderConfig) -> Layout {
        Layout {
            technology: rec.technology,
            extensions: rec.effective_extensions(),
            camera_level: match rec.technology {
                Technology::Intelbras => None,
                Technology::Digifort => Some(1),
                Technology::Ivms => Some(2),
                Technology::Generic => rec.camera_depth,
            },
            follow: rec.follow_links,
        }
    }

    /// Whether a subfolder at `depth` (root = 0) is walked.
    pub(crate) fn descends(&self, depth: u32, name: &OsStr) -> bool {
        match self.technology {
            Technology::Intelbras => depth <= 3,
            Technology::Digifort => {
                depth == 1 || (depth == 2 && name.as_encoded_bytes().eq_ignore_ascii_case(b"dados"))
            }
            Technology::Ivms => depth <= 2,
            Technology::Generic => true,
        }
    }

    /// Whether files at `depth` count.
    pub(crate) fn counts_files_at(&self, depth: u32) -> bool {
        match self.technology {
            Technology::Intelbras => depth == 4,
            Technology::Digifort | Technology::Ivms => depth == 3,
            Technology::Generic => depth >= 1,
        }
    }

    /// Whether a file's name has a counted extension.
    pub(crate) fn name_matches(&self, name: &OsStr) -> bool {
        let Some(exts) = &self.extensions else {
            return true;
        };
        let bytes = name.as_encoded_bytes();
        let Some(dot) = bytes.iter().rposition(|&b| b == b'.') else {
            return false;
        };
        let ext = &bytes[dot + 1..];
        exts.iter().any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
    }
}
