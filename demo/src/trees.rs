//! Sample recording trees in each vendor's layout, with modification times set relative to
//! "now", so the demo and the end-to-end test show every verdict on a real disk.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};

/// The folder layouts Vigia reads (see DESIGN.md, "Recording layouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `<year>/<month>/<day>/<file>`.
    Intelbras,
    /// `<camera>/Dados/<file>.dar`.
    Digifort,
    /// `<date>/<camera>/<file>`.
    Ivms,
}

impl Layout {
    /// The `technology` word of the probe's config.
    pub fn technology(self) -> &'static str {
        match self {
            Layout::Intelbras => "intelbras",
            Layout::Digifort => "digifort",
            Layout::Ivms => "ivms",
        }
    }
}

/// One camera's recording history.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    /// The camera's folder name (ignored by Intelbras, which has none).
    pub name: String,
    /// Days of history, counting today.
    pub days: u32,
    /// The camera stopped this long before now (zero: recording right now).
    pub stopped_for: Duration,
    /// Days ago (0 = today) with no recording at all.
    pub missing_days_ago: Vec<u32>,
}

/// A recorder's tree.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    /// Folder layout.
    pub layout: Layout,
    /// Cameras.
    pub cameras: Vec<CameraSpec>,
    /// Files per camera per day (one every 24h / n).
    pub files_per_day: u32,
}

/// What was written, for checks.
#[derive(Debug, Clone, Default)]
pub struct TreeSummary {
    /// Files written.
    pub files: u64,
    /// Oldest modification time.
    pub oldest: Option<DateTime<Utc>>,
    /// Newest modification time.
    pub newest: Option<DateTime<Utc>>,
    /// Distinct local days with files.
    pub days: std::collections::BTreeSet<NaiveDate>,
}

fn file_path(root: &Path, layout: Layout, camera: &str, local: DateTime<Tz>, n: u32) -> PathBuf {
    let stamp = local.format("%Y%m%d_%H%M%S");
    match layout {
        Layout::Intelbras => root
            .join(format!("{:04}", local.year()))
            .join(format!("{:02}", local.month()))
            .join(format!("{:02}", local.day()))
            .join(format!("{camera}_{stamp}_{n}.dav")),
        Layout::Digifort => root
            .join(camera)
            .join("Dados")
            .join(format!("{stamp}_{n}.dar")),
        Layout::Ivms => root
            .join(local.format("%Y-%m-%d").to_string())
            .join(camera)
            .join(format!("{stamp}_{n}.mp4")),
    }
}

/// Writes a tree under `root` as it would stand at `now` in zone `tz`.
pub fn write_tree(
    root: &Path,
    spec: &TreeSpec,
    now: DateTime<Utc>,
    tz: Tz,
) -> std::io::Result<TreeSummary> {
    let mut summary = TreeSummary::default();
    let step = Duration::seconds(86_400 / i64::from(spec.files_per_day.max(1)));
    let today = vigia::days::local_date(now, tz);
    for (ci, cam) in spec.cameras.iter().enumerate() {
        let last = now - cam.stopped_for;
        for ago in (0..cam.days).rev() {
            if cam.missing_days_ago.contains(&ago) {
                continue;
            }
            let Some(day) = today.checked_sub_days(chrono::Days::new(u64::from(ago))) else {
                continue;
            };
            let (start, end) = vigia::days::day_span(day, tz);
            // Cameras start a few minutes apart, as real ones do.
            let mut t = start + Duration::minutes(ci as i64 * 3 + 1);
            let mut n = 0;
            while t < end && t <= last {
                let local = t.with_timezone(&tz);
                let path = file_path(root, spec.layout, &cam.name, local, n);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, b"\0\0\0\x01video")?;
                let ft = filetime::FileTime::from_unix_time(t.timestamp(), 0);
                filetime::set_file_mtime(&path, ft)?;
                summary.files += 1;
                summary.oldest = Some(summary.oldest.map_or(t, |o| o.min(t)));
                summary.newest = Some(summary.newest.map_or(t, |o| o.max(t)));
                summary.days.insert(day);
                t += step;
                n += 1;
            }
        }
    }
    Ok(summary)
}

/// A camera recording right now with `days` days of history.
pub fn live_camera(name: &str, days: u32) -> CameraSpec {
    CameraSpec {
        name: name.into(),
        days,
        stopped_for: Duration::zero(),
        missing_days_ago: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_have_the_days_and_times_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tz: Tz = "America/Sao_Paulo".parse().expect("zone");
        let now = DateTime::parse_from_rfc3339("2026-11-28T13:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut cam = live_camera("cam1", 5);
        cam.missing_days_ago = vec![2];
        let spec = TreeSpec {
            layout: Layout::Ivms,
            cameras: vec![cam],
            files_per_day: 24,
        };
        let s = write_tree(dir.path(), &spec, now, tz).expect("tree");
        assert_eq!(s.days.len(), 4);
        assert!(s.newest.expect("newest") <= now);
        assert!(now - s.newest.expect("newest") < Duration::hours(1));
        assert!(dir.path().join("2026-11-28").join("cam1").is_dir());
        assert!(!dir.path().join("2026-11-26").exists(), "the missing day");
    }
}
