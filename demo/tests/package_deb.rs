//! The .deb a Linux server installs: built by `scripts/package-deb`, installed with `dpkg -i`
//! into a throwaway root (the maintainer scripts run against it through `DPKG_ROOT`), where the
//! binaries run, the units and example configurations are in place, the vigia user exists and
//! owns its state folder; removing it keeps the configuration and the data.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

#[cfg(unix)]
#[test]
fn the_deb_installs_into_a_fresh_root_and_removes_cleanly() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().expect("dir");
    let dist = tmp.path().join("dist");
    let built = run(Command::new(root().join("scripts/package-deb"))
        .arg("--debug")
        .env("DIST", &dist));
    let deb = std::fs::read_dir(&dist)
        .expect("dist")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .unwrap_or_else(|| panic!("no .deb: {built}"));

    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/vigia-collector",
        "./usr/bin/vigia-mailer",
        "./usr/bin/vigia-probe",
        "./lib/systemd/system/vigia-collector.service",
        "./lib/systemd/system/vigia-mailer.service",
        "./lib/systemd/system/vigia-probe.service",
        "./etc/vigia/collector.toml",
        "./etc/vigia/mailer.toml",
        "./etc/vigia/probe.toml",
        "./usr/share/doc/vigia/deployment.md",
    ] {
        assert!(
            contents.contains(path),
            "{path} not in the package:\n{contents}"
        );
    }
    assert!(
        contents.contains("root/root"),
        "files owned by root: {contents}"
    );

    // A throwaway root with an empty dpkg database and the host's base accounts.
    let target = tmp.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(target.join(d)).expect("mkdir");
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(target.join(f), "").expect("dpkg db");
    }
    for f in ["passwd", "group", "shadow", "gshadow"] {
        let _ = std::fs::copy(Path::new("/etc").join(f), target.join("etc").join(f));
    }
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", target.display()))
            .arg("--force-script-chrootless")
            .arg("--force-not-root")
            // The root is empty: passwd (useradd) comes from the host the scripts run on.
            .arg("--force-depends")
            .arg(format!("--log={}", tmp.path().join("dpkg.log").display()))
            .args(args);
        c
    };
    let installed = run(dpkg(&["-i"]).arg(&deb));
    assert!(
        installed.contains("systemctl enable --now vigia-collector"),
        "{installed}"
    );

    let version = run(Command::new(target.join("usr/bin/vigia-collector")).arg("--version"));
    assert!(version.starts_with("vigia-collector "), "{version}");
    run(Command::new(target.join("usr/bin/vigia-probe")).arg("--version"));
    run(Command::new(target.join("usr/bin/vigia-mailer")).arg("--version"));

    let passwd = std::fs::read_to_string(target.join("etc/passwd")).expect("passwd");
    let vigia = passwd
        .lines()
        .find(|l| l.starts_with("vigia:"))
        .unwrap_or_else(|| panic!("postinst created no vigia user:\n{passwd}"));
    assert!(
        vigia.ends_with(":/var/lib/vigia:/usr/sbin/nologin"),
        "{vigia}"
    );
    let uid: u32 = vigia
        .split(':')
        .nth(2)
        .and_then(|u| u.parse().ok())
        .expect("uid");
    let state = std::fs::metadata(target.join("var/lib/vigia")).expect("/var/lib/vigia");
    assert_eq!(state.uid(), uid, "the state folder belongs to vigia");
    assert_eq!(state.mode() & 0o777, 0o750);
    let etc = std::fs::metadata(target.join("etc/vigia")).expect("/etc/vigia");
    assert_eq!(etc.mode() & 0o007, 0, "configuration closed to others");

    // Installing again (an upgrade of the same version) keeps the user and the edited configs.
    std::fs::write(
        target.join("etc/vigia/collector.toml"),
        "listen = \"0.0.0.0:50051\"\n",
    )
    .expect("edit");
    run(dpkg(&["--force-confold", "-i"]).arg(&deb));
    let passwd = std::fs::read_to_string(target.join("etc/passwd")).expect("passwd");
    assert_eq!(
        passwd.matches("\nvigia:").count() + usize::from(passwd.starts_with("vigia:")),
        1
    );
    assert_eq!(
        std::fs::read_to_string(target.join("etc/vigia/collector.toml")).expect("config"),
        "listen = \"0.0.0.0:50051\"\n",
        "an edited configuration survives"
    );

    run(&mut dpkg(&["-r", "vigia"]));
    assert!(
        !target.join("usr/bin/vigia-collector").exists(),
        "binaries removed"
    );
    assert!(
        target.join("etc/vigia/collector.toml").exists(),
        "configuration kept on remove"
    );
    assert!(target.join("var/lib/vigia").exists(), "data kept on remove");
}
