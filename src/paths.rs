//! Where a relative path written in a configuration file points: the folder of that file, in
//! all three programs. The working directory means nothing to a service (systemd starts units in
//! `/`, a Windows service in `System32`), so a path that depended on it would work from the
//! console and break once installed. A `VIGIA_*` override is read as if written in the file.
//!
//! Paths given on the command line (`--config`, `store salvage --to`, `preview --out`) are the
//! shell's, and stay relative to the working directory, as every command-line tool's are.

use std::path::{Path, PathBuf};

/// The folder relative paths of one configuration file are resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir(PathBuf);

impl ConfigDir {
    /// The folder of `file`. A bare file name (`collector.toml`) has the working directory as
    /// its folder, so its relative paths stay as they are.
    pub fn of(file: &Path) -> ConfigDir {
        ConfigDir(file.parent().map(Path::to_path_buf).unwrap_or_default())
    }

    /// The folder itself (empty for the working directory).
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `path` as the file means it: an absolute path unchanged, a relative one under the
    /// folder. An empty path stays empty, so the check that refuses it still sees it.
    pub fn join(&self, path: &Path) -> PathBuf {
        if path.is_relative() && !path.as_os_str().is_empty() {
            self.0.join(path)
        } else {
            path.to_path_buf()
        }
    }

    /// Resolves a path field in place.
    pub fn resolve(&self, path: &mut PathBuf) {
        *path = self.join(path);
    }

    /// Resolves an optional path field in place.
    pub fn resolve_opt(&self, path: &mut Option<PathBuf>) {
        if let Some(p) = path {
            self.resolve(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigDir;
    use std::path::{Path, PathBuf};

    #[test]
    fn relative_paths_go_under_the_files_folder() {
        let dir = ConfigDir::of(Path::new("/etc/vigia/collector.toml"));
        assert_eq!(
            dir.join(Path::new("certs/ca.pem")),
            Path::new("/etc/vigia/certs/ca.pem")
        );
        assert_eq!(
            dir.join(Path::new("../lib/data")),
            Path::new("/etc/vigia/../lib/data")
        );
    }

    #[test]
    fn absolute_and_empty_paths_are_kept() {
        let dir = ConfigDir::of(Path::new("/etc/vigia/mailer.toml"));
        let abs = if cfg!(windows) {
            r"C:\ProgramData\Vigia\state"
        } else {
            "/var/lib/vigia/mailer"
        };
        assert_eq!(dir.join(Path::new(abs)), Path::new(abs));
        let mut empty = PathBuf::new();
        dir.resolve(&mut empty);
        assert_eq!(empty, PathBuf::new());
        let mut none: Option<PathBuf> = None;
        dir.resolve_opt(&mut none);
        assert_eq!(none, None);
    }

    #[test]
    fn a_bare_file_name_keeps_paths_relative_to_the_working_directory() {
        let dir = ConfigDir::of(Path::new("probe.toml"));
        assert_eq!(dir.path(), Path::new(""));
        assert_eq!(dir.join(Path::new("spool")), Path::new("spool"));
    }
}
