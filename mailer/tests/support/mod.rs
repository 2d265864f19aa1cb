//! Test helpers: the fixed fleet, snapshot comparison, settings for tests.

#![allow(dead_code)]

pub mod fleet;

use std::path::PathBuf;

/// Set to 1 to rewrite the expected files under `tests/snapshots/` instead of comparing.
pub const UPDATE_ENV: &str = "VIGIA_UPDATE_SNAPSHOTS";

/// Compares `actual` with `tests/snapshots/<name>`; on a difference writes `<name>.new` beside it
/// and fails naming the first differing line.
#[track_caller]
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} missing ({e}); run with {UPDATE_ENV}=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let new = path.with_extension(format!(
            "{}.new",
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        let _ = std::fs::write(&new, actual);
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {} differs at line {} (expected {:?}, got {:?}); the new output is in {}; \
             if the change is intended, rerun with {UPDATE_ENV}=1",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
            new.display()
        );
    }
}
