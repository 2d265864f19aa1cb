//! What `vigia-collector check-config` proves beyond a configuration that loads: the server
//! certificate is the collector's, issued by the fleet CA, valid (days left shown), the CRL
//! loads, and the data folder can be written, so `run` will not fail on any of them.

use std::path::Path;
use vigia::findings::Findings;
use vigia::tls::Role;
use vigia::tls_check::{self, Expected};

use crate::config::CollectorConfig;

/// Runs the checks `run` depends on.
pub fn check(config: &CollectorConfig) -> Findings {
    let mut f = Findings::default();
    let tls = &config.tls;
    let expected = Expected {
        role: Role::Server,
        name: None,
        name_key: "tls.cert",
    };
    let result = tls_check::check(&tls.ca, &tls.cert, &tls.key, &expected, chrono::Utc::now());
    f.certificate(
        &tls.cert,
        "tls.cert",
        "vigia-collector ca issue --force … server",
        result,
    );
    match crate::tls_reload::load(tls) {
        Ok(loaded) => f.ok(format!(
            "CRL {}: {} revoked certificate(s){}",
            tls.crl_path().display(),
            loaded.crls.revoked,
            if loaded.crls.ders.is_empty() {
                " (no file: nothing revoked)"
            } else {
                ""
            }
        )),
        Err(e) => f.problem(e.to_string()),
    }
    data_dir(&config.data_dir, &mut f);
    f
}

fn data_dir(dir: &Path, f: &mut Findings) {
    let writable = |d: &Path| -> std::io::Result<()> {
        let probe = d.join(".vigia-check-config");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)
    };
    let (target, note) = if dir.is_dir() {
        (dir.to_path_buf(), "is writable")
    } else {
        match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) if !p.is_dir() => {
                let e = format!(
                    "key `data_dir`: {} cannot be created: {} does not exist",
                    dir.display(),
                    p.display()
                );
                f.problem(e);
                return;
            }
            Some(p) => (p.to_path_buf(), "will be created at the first run"),
            None => (
                Path::new(".").to_path_buf(),
                "will be created at the first run",
            ),
        }
    };
    match writable(&target) {
        Ok(()) => f
            .lines
            .push(format!("ok: data_dir {} {note}", dir.display())),
        Err(e) => {
            let e = format!(
                "key `data_dir`: {} cannot be written by this account: {e}",
                target.display()
            );
            f.problem(e);
        }
    }
}
