//! The systemd units in `deploy/systemd/` are what the documentation shows, systemd accepts
//! them, and they stay hardened (`systemd-analyze security` at most 2.0, "OK").

use std::path::{Path, PathBuf};
use std::process::Command;
use vigia_demo::procs::Binaries;

const UNITS: [&str; 3] = ["vigia-collector", "vigia-mailer", "vigia-probe"];
/// The exposure score the issue asks for at most.
const MAX_EXPOSURE: f64 = 2.0;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn unit_text(name: &str) -> String {
    let path = root()
        .join("deploy/systemd")
        .join(format!("{name}.service"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_documentation_shows_each_unit_file_exactly() {
    let docs = std::fs::read_to_string(root().join("docs/deployment.md")).expect("docs");
    for name in UNITS {
        let block = format!("```ini\n{}```", unit_text(name));
        assert!(
            docs.contains(&block),
            "docs/deployment.md does not show deploy/systemd/{name}.service as it is"
        );
    }
}

#[test]
fn systemd_accepts_the_units_with_the_real_binaries() {
    let bins = Binaries::for_test().expect("binaries (cargo build --workspace --bins)");
    let dir = tempfile::tempdir().expect("dir");
    for name in UNITS {
        let bin = match name {
            "vigia-collector" => &bins.collector,
            "vigia-mailer" => &bins.mailer,
            _ => &bins.probe,
        };
        let text = unit_text(name).replace(&format!("/usr/bin/{name}"), &bin.display().to_string());
        let path = dir.path().join(format!("{name}.service"));
        std::fs::write(&path, text).expect("write unit");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("systemd-analyze (Debian's systemd package)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        assert!(
            !err.contains(&format!("{name}.service:")),
            "{name}: systemd warns: {err}"
        );
    }
}

#[test]
fn every_unit_scores_at_most_two_in_systemd_analyze_security() {
    for name in UNITS {
        let path = root()
            .join("deploy/systemd")
            .join(format!("{name}.service"));
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&path)
            .output()
            .expect("systemd-analyze (Debian's systemd package)");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("{name}: no score in {text}"));
        let score: f64 = line
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: cannot read the score in {line:?}"));
        assert!(
            score <= MAX_EXPOSURE,
            "{name}: exposure {score} > {MAX_EXPOSURE}: {line}"
        );
    }
}
