//! The binary as an operator meets it: a first run with no certificates says which files are
//! missing and the exact commands, configuration errors exit 2, and SIGTERM exits 0 in time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigia-collector"));
    // The test's own environment must not configure the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIA_") {
            c.env_remove(k);
        }
    }
    c.env("VIGIA_LOG", "info");
    c
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vigia-collector")
}

/// A folder with a fleet CA, the collector's certificate and a `collector.toml` listening on an
/// ephemeral loopback port: what `run` needs.
fn serving_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    assert!(run_in(dir.path(), &["ca", "init"]).status.success());
    assert!(
        run_in(dir.path(), &["ca", "issue", "server", "--dns", "localhost"])
            .status
            .success()
    );
    std::fs::write(
        dir.path().join("collector.toml"),
        "listen = \"127.0.0.1:0\"\n",
    )
    .expect("write");
    dir
}

#[test]
fn first_run_without_certificates_names_them_and_the_commands() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run_in(dir.path(), &["run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for want in [
        "certs/ca.pem",
        "certs/server.pem",
        "certs/server.key",
        "vigia-collector ca init --dir certs",
        "vigia-collector ca issue --dir certs server --dns localhost --ip 127.0.0.1",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }

    // Following the advice works: the commands make exactly the files asked for.
    let ok = run_in(dir.path(), &["ca", "init", "--dir", "certs"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = run_in(dir.path(), &["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("ca init"), "the CA exists now: {err}");
    assert!(err.contains("ca issue --dir certs server"), "{err}");
    let ok = run_in(
        dir.path(),
        &[
            "ca",
            "issue",
            "--dir",
            "certs",
            "server",
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = run_in(dir.path(), &["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("listen = \"127.0.0.1:50051\""),
        "{printed}"
    );
}

#[test]
fn configuration_errors_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("collector.toml"),
        "[rules]\nlate_after = 7200\n",
    )
    .expect("write");
    for args in [&["check-config"][..], &["run"][..]] {
        let out = run_in(dir.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("invalid configuration: "), "{err}");
        assert!(err.contains("rules.late_after"), "{err}");
    }
    let out = run_in(dir.path(), &["--config", "other.toml", "check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other.toml"));
}

#[test]
fn help_explains_every_flag() {
    let out = run_in(Path::new("."), &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["--config", "run", "check-config", "ca"] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_collector_with_status_0() {
    use std::io::{BufRead, BufReader};
    let dir = serving_dir();
    let mut child = bin()
        .current_dir(dir.path())
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut serving = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("collector serving") => {
                serving = true;
                break;
            }
            _ => {}
        }
    }
    if !serving {
        let _ = child.kill();
        panic!("the collector did not report serving");
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no exit within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("collector stopped")),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.contains('\x1b')),
        "a redirected log carries no colour codes: {rest:?}"
    );
}

/// Runs `vigia-collector run` for a few seconds on a pseudo-terminal (util-linux `script`),
/// returning everything it wrote there.
#[cfg(unix)]
fn run_on_a_terminal(dir: &Path, no_color: Option<&str>) -> String {
    let cmd = format!(
        "timeout -s TERM 6 {} run",
        env!("CARGO_BIN_EXE_vigia-collector")
    );
    let mut s = Command::new("script");
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIA_") {
            s.env_remove(k);
        }
    }
    s.args(["-qefc", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("VIGIA_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(v) = no_color {
        s.env("NO_COLOR", v);
    }
    let out = s.output().expect("run under script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(unix)]
#[test]
fn colour_codes_on_a_terminal_only_and_never_with_no_color() {
    let dir = serving_dir();
    let coloured = run_on_a_terminal(dir.path(), None);
    assert!(coloured.contains("collector serving"), "{coloured}");
    assert!(
        coloured.contains('\x1b'),
        "a terminal gets colour: {coloured}"
    );
    let plain = run_on_a_terminal(dir.path(), Some("1"));
    assert!(plain.contains("collector serving"), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "NO_COLOR=1 turns colour off: {plain:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn systemd_hears_ready_the_watchdog_and_stopping() {
    let dir = serving_dir();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // systemd names the watched process; `exec` keeps the shell's pid for the collector.
    let mut sh = Command::new("sh");
    for (k, v) in bin().get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let mut child = sh
        .args([
            "-c",
            &format!(
                "WATCHDOG_PID=$$ exec {} run",
                env!("CARGO_BIN_EXE_vigia-collector")
            ),
        ])
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline
        && !(heard.iter().any(|m: &String| m.contains("READY=1"))
            && heard.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        match socket.recv(&mut buf) {
            Ok(n) => heard.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stopping = false;
    while Instant::now() < deadline && !stopping {
        match socket.recv(&mut buf) {
            Ok(n) => stopping = String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"),
            Err(_) => break,
        }
    }
    let _ = child.wait();
    assert!(
        heard.first().is_some_and(|m| m.contains("READY=1")),
        "{heard:?}"
    );
    assert!(
        heard.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2,
        "the watchdog is pinged: {heard:?}"
    );
    assert!(stopping, "SIGTERM is announced as STOPPING=1");
}

#[test]
fn check_config_proves_the_server_certificate_and_the_data_folder() {
    let dir = serving_dir();
    assert!(
        run_in(dir.path(), &["ca", "issue", "probe", "--site", "loja-1"])
            .status
            .success()
    );
    let out = run_in(dir.path(), &["check-config"]);
    // ok and warning lines go to stdout, errors to stderr, as in the probe and the mailer.
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ok: certificate certs/server.pem: server"),
        "{err}"
    );
    assert!(err.contains("more days"), "{err}");
    assert!(
        err.contains("ok: data_dir vigia-data will be created"),
        "{err}"
    );

    let case = |toml: &str, says: &[&str]| {
        std::fs::write(dir.path().join("bad.toml"), toml).expect("write");
        let out = run_in(dir.path(), &["--config", "bad.toml", "check-config"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        for s in says {
            assert!(err.contains(s), "{s:?} not in:\n{err}");
        }
    };
    case(
        "[tls]\ncert = \"certs/loja-1.pem\"\nkey = \"certs/loja-1.key\"\n",
        &["certs/loja-1.pem", "needs a server certificate"],
    );
    case(
        "[tls]\nkey = \"certs/loja-1.key\"\n",
        &["certs/loja-1.key", "does not match"],
    );
    case(
        "data_dir = \"no/such/parent/data\"\n",
        &["key `data_dir`", "no/such/parent", "does not exist"],
    );
    // A CA re-created after the server certificate was issued.
    let other = tempfile::tempdir().expect("other");
    assert!(run_in(other.path(), &["ca", "init"]).status.success());
    std::fs::copy(
        other.path().join("certs/ca.pem"),
        dir.path().join("certs/other-ca.pem"),
    )
    .expect("copy");
    case(
        "[tls]\nca = \"certs/other-ca.pem\"\n",
        &[
            "certs/server.pem",
            "not issued by the CA",
            "certs/other-ca.pem",
        ],
    );
}

/// `check-config` prints the configuration the way it is written — durations in their largest
/// exact unit, sizes as `"1GiB"` — and what it prints loads again as the same configuration.
#[test]
fn check_config_prints_values_as_they_are_written() {
    let dir = serving_dir();
    std::fs::write(
        dir.path().join("collector.toml"),
        "listen = \"127.0.0.1:0\"\n\
         [rules]\nlate_after = \"90m\"\ndisk_min_free = \"500MB\"\n\
         [history]\nkeep = \"2160h\"\nfull_for = \"36h\"\nhourly_for = \"4w\"\n\
         [store]\ncache_capacity = \"1024MiB\"\n",
    )
    .expect("write");
    let out = run_in(dir.path(), &["check-config"]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{printed}");
    for line in [
        "late_after = \"1h 30m\"",
        "disk_min_free = \"500MB\"",
        "keep = \"90d\"",
        "full_for = \"1d 12h\"",
        "hourly_for = \"4w\"",
        "cache_capacity = \"1GiB\"",
        "silent_grace = \"15m\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "{line:?} not in:\n{printed}"
        );
    }
    let (config, _) = printed.split_once("\nok: ").expect("the findings follow");
    std::fs::write(dir.path().join("printed.toml"), config).expect("write");
    let again = run_in(dir.path(), &["--config", "printed.toml", "check-config"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&again.stdout), printed);
}

/// Started from another folder, as a service is, the collector finds its certificates and its
/// store under the configuration file's folder, and makes nothing where it was started.
#[test]
fn relative_paths_are_relative_to_the_configuration_file() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    let certs = conf.join("certs");
    let certs = certs.to_str().expect("utf-8");
    assert!(run_in(dir.path(), &["ca", "init", "--dir", certs])
        .status
        .success());
    assert!(run_in(
        dir.path(),
        &[
            "ca",
            "issue",
            "--dir",
            certs,
            "server",
            "--dns",
            "localhost"
        ]
    )
    .status
    .success());
    let file = conf.join("collector.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n").expect("write");
    let file = file.to_str().expect("utf-8");

    let out = run_in(&elsewhere, &["--config", file, "check-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = conf.join("data").display().to_string();
    assert!(stdout.contains(&format!("data_dir {data}")), "{stdout}");
    let server = conf.join("certs/server.pem").display().to_string();
    assert!(stdout.contains(&server), "{stdout}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).expect("list").count(),
        0,
        "nothing is made in the working directory"
    );
}

/// `ca issue`'s own options may come after the kind of certificate, where people type them.
#[test]
fn ca_issue_options_are_accepted_after_the_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(run_in(dir.path(), &["ca", "init"]).status.success());
    let first = run_in(dir.path(), &["ca", "issue", "reader", "--name", "ana"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let refused = run_in(dir.path(), &["ca", "issue", "reader", "--name", "ana"]);
    assert_eq!(refused.status.code(), Some(1), "a second one needs --force");

    let out = run_in(
        dir.path(),
        &[
            "ca", "issue", "reader", "--name", "ana", "--force", "--days", "30",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("superseded"), "{stdout}");
    // Before the subcommand, as documented until now, still works.
    let out = run_in(
        dir.path(),
        &[
            "ca", "issue", "--force", "--dir", "certs", "reader", "--name", "ana",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run_in(
        dir.path(),
        &[
            "ca", "issue", "probe", "--site", "loja-1", "--out", "issued", "--dir", "certs",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("issued/loja-1.pem").exists());
}
