//! Starts `smtpd.py` (aiosmtpd) as a child process on 127.0.0.1 with a certificate minted by the
//! fleet CA, and reads back the messages it accepted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use vigia_collector::testkit::CertPaths;

/// Every wait on the SMTP server.
pub const WAIT: Duration = Duration::from_secs(20);

/// The user and password the server accepts.
pub const USER: &str = "vigia";
/// The password it accepts.
pub const PASSWORD: &str = "s3cret pass";

/// A Python with aiosmtpd (Debian's python3-aiosmtpd is under /usr/bin; `scripts/test`
/// installs it on a fresh machine).
pub fn python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!("no python3 with aiosmtpd found; install python3-aiosmtpd (scripts/test does)");
}

/// How the test server behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Its port (0 for any).
    pub port: u16,
    /// The reply to DATA, e.g. "451 busy" (accepts when unset).
    pub reject: Option<String>,
    /// TLS from the first byte instead of STARTTLS.
    pub implicit_tls: bool,
    /// Offer only XOAUTH2, accepting these tokens.
    pub xoauth2_tokens: Vec<String>,
    /// Refuse a bad token as Gmail does (334 challenge) instead of Office 365 (535 5.7.3).
    pub gmail: bool,
    /// Refuse every AUTH with this reply (e.g. "535 5.7.139 ...").
    pub auth_reply: Option<String>,
    /// Refuse messages over this many bytes, as a relay with a size limit does.
    pub size_limit: Option<usize>,
}

/// A running aiosmtpd, killed when dropped.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it writes accepted messages.
    pub out: PathBuf,
    child: Child,
    _stdin: ChildStdin,
}

impl SmtpServer {
    /// Starts on `port` (0 for any), answering DATA with `reject` when given (e.g. "451 busy").
    pub fn start(out: &Path, cert: &CertPaths, port: u16, reject: Option<&str>) -> SmtpServer {
        Self::start_with(out, cert, port, reject, false)
    }

    /// The same, with TLS from the first byte instead of STARTTLS when `implicit_tls`.
    pub fn start_with(
        out: &Path,
        cert: &CertPaths,
        port: u16,
        reject: Option<&str>,
        implicit_tls: bool,
    ) -> SmtpServer {
        Self::start_opts(
            out,
            cert,
            &Options {
                port,
                reject: reject.map(str::to_string),
                implicit_tls,
                ..Options::default()
            },
        )
    }

    /// Offering only XOAUTH2 and accepting these access tokens for [`USER`]; a wrong token is
    /// refused as Office 365 does (535 5.7.3), or as Gmail does (a 334 challenge) with `gmail`.
    pub fn start_xoauth2(out: &Path, cert: &CertPaths, tokens: &[&str], gmail: bool) -> SmtpServer {
        Self::start_opts(
            out,
            cert,
            &Options {
                xoauth2_tokens: tokens.iter().map(|t| t.to_string()).collect(),
                gmail,
                ..Options::default()
            },
        )
    }

    /// Starts with every option.
    pub fn start_opts(out: &Path, cert: &CertPaths, opts: &Options) -> SmtpServer {
        let Options {
            port,
            reject,
            implicit_tls,
            ..
        } = opts;
        let (port, reject, implicit_tls) = (*port, reject.as_deref(), *implicit_tls);
        std::fs::create_dir_all(out).expect("out dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtpd.py");
        let mut cmd = Command::new(python());
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--cert")
            .arg(&cert.cert)
            .arg("--key")
            .arg(&cert.key)
            .args(["--user", USER, "--password", PASSWORD])
            .arg("--out")
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(r) = reject {
            cmd.args(["--reject", r]);
        }
        if implicit_tls {
            cmd.arg("--implicit-tls");
        }
        if !opts.xoauth2_tokens.is_empty() {
            cmd.arg("--xoauth2-tokens")
                .arg(opts.xoauth2_tokens.join(","));
            if opts.gmail {
                cmd.args(["--xoauth2-style", "gmail"]);
            }
        }
        if let Some(r) = &opts.auth_reply {
            cmd.arg("--auth-reply").arg(r);
        }
        if let Some(n) = opts.size_limit {
            cmd.arg("--size-limit").arg(n.to_string());
        }
        let mut child = cmd.spawn().expect("spawn smtpd.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("smtpd.py did not start within {WAIT:?}");
            }
        };
        let port = match line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        {
            Some(p) => p,
            None => {
                let _ = child.kill();
                panic!("smtpd.py said {line:?} instead of READY <port>");
            }
        };
        SmtpServer {
            port,
            out: out.to_path_buf(),
            child,
            _stdin: stdin,
        }
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .expect("out dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read message"))
                    .expect("message json")
            })
            .collect()
    }

    /// The server's log lines (auth attempts, rejections, acceptances).
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.out.join("events.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until at least `n` messages were accepted.
    #[track_caller]
    pub fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            if start.elapsed() > WAIT {
                panic!("{} message(s) after {WAIT:?}, expected {n}", m.len());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl SmtpServer {
    /// The same wait without blocking the runtime (while the mailer runs in a task beside it).
    pub async fn wait_for_async(&self, n: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                start.elapsed() <= WAIT,
                "{} message(s) after {WAIT:?}, expected {n}",
                m.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
