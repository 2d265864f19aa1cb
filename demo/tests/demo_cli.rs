//! The README's first command ends in `vigia-demo`: run it for real and check what it promises —
//! a digest on disk naming every demo site, and the collector stopped again.

use std::process::Command;

#[test]
fn the_demo_runs_the_whole_pipeline_and_writes_the_digest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("demo-run");
    let out = Command::new(env!("CARGO_BIN_EXE_vigia-demo"))
        .args(["--dir", &run.to_string_lossy()])
        .output()
        .expect("vigia-demo starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vigia-demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(run.join("digest.html")).expect("digest.html written");
    let text = std::fs::read_to_string(run.join("digest.txt")).expect("digest.txt written");
    for site in [
        "loja-centro",
        "loja-norte",
        "loja-sul",
        "deposito",
        "loja-nova",
    ] {
        assert!(
            html.contains(site) && text.contains(site),
            "{site} missing from the digest"
        );
    }
    assert!(
        stdout.contains("grpcurl"),
        "prints how to look with grpcurl:\n{stdout}"
    );
    assert!(
        stdout.contains("digest.html"),
        "prints where the digest is:\n{stdout}"
    );

    // A second run recreates its own folder, but never clobbers one it did not make.
    let foreign = dir.path().join("not-ours");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("keep.txt"), "precious").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_vigia-demo"))
        .args(["--dir", &foreign.to_string_lossy()])
        .output()
        .expect("vigia-demo starts");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not made by the demo"));
    assert!(foreign.join("keep.txt").exists());
}

#[test]
fn arguments_are_parsed_like_the_three_programs() {
    let help = Command::new(env!("CARGO_BIN_EXE_vigia-demo"))
        .arg("--help")
        .output()
        .expect("vigia-demo starts");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    for flag in ["--dir", "--keep-running", "--smtp", "--version"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_vigia-demo"))
        .current_dir(dir.path())
        .args(["--dir", "x", "--bogus"])
        .output()
        .expect("vigia-demo starts");
    assert_eq!(out.status.code(), Some(2), "a usage error, as clap says it");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    assert!(
        !dir.path().join("x").exists(),
        "nothing is made before the arguments parse"
    );
}
