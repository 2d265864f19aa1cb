//! Finding and running the three real binaries as child processes, for the demo and the
//! end-to-end test. Children are killed when dropped, so a failing test leaves nothing behind.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Paths of the three programs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `vigia-collector`.
    pub collector: PathBuf,
    /// `vigia-probe`.
    pub probe: PathBuf,
    /// `vigia-mailer`.
    pub mailer: PathBuf,
}

impl Binaries {
    /// Looks beside `exe_dir` (the demo's own folder, or a test's `target/<profile>`).
    pub fn in_dir(dir: &Path) -> Result<Binaries> {
        let find = |name: &str| {
            let p = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            if p.is_file() {
                Ok(p)
            } else {
                bail!(
                    "{} not found: build it first with `cargo build --workspace --bins`",
                    p.display()
                )
            }
        };
        Ok(Binaries {
            collector: find("vigia-collector")?,
            probe: find("vigia-probe")?,
            mailer: find("vigia-mailer")?,
        })
    }

    /// The binaries of the cargo profile a test executable runs from (`target/debug/deps/x` → `target/debug`).
    pub fn for_test() -> Result<Binaries> {
        let exe = std::env::current_exe().context("current_exe")?;
        let deps = exe.parent().context("test executable has no folder")?;
        let profile = if deps.ends_with("deps") {
            deps.parent().context("no profile folder")?
        } else {
            deps
        };
        Binaries::in_dir(profile)
    }
}

/// A child process that is killed (and reaped) when dropped.
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `bin args...` with stdout and stderr appended to `log`.
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[&str],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let err = out.try_clone().context("clone log handle")?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        Ok(Proc {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The log file's text so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Hard kill, as a power cut or the OOM killer would (SIGKILL on Unix).
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().with_context(|| format!("reap {}", self.name))?;
        }
        Ok(())
    }

    /// Graceful stop: SIGTERM on Unix (Ctrl-C semantics), then wait up to `grace`, then kill.
    pub fn terminate(&mut self, grace: Duration) -> Result<Option<ExitStatus>> {
        let Some(mut c) = self.child.take() else {
            return Ok(None);
        };
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        #[cfg(not(unix))]
        {
            let _ = c.kill();
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = c.try_wait().context("wait")? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                c.kill().ok();
                c.wait().ok();
                bail!("{} did not stop within {:?} of SIGTERM", self.name, grace);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a command to completion within `timeout`, capturing its output.
pub fn run(bin: &Path, args: &[&str], timeout: Duration) -> Result<Output> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().context("wait")?.is_some() {
            return child.wait_with_output().context("collect output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().context("collect output")?;
            bail!(
                "{} {:?} did not finish within {:?}\nstderr: {}",
                bin.display(),
                args,
                timeout,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listening on {addr} after {timeout:?}")
}

/// A free loopback port (bound then released; the caller binds it again soon after).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr().context("local_addr")?.port())
}

/// Polls `f` until it returns `Some`, at most `timeout`.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
