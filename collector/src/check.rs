//! What `vigia-collector check-config` proves beyond a configuration that loads: the server
//! certificate is the collector's, issued by the fleet CA, valid (days left shown), the CRL
//! loads, and the data folder can be written, so `run` will not fail on any of them.

use std::path::Path;
use vigia::findings::Findings;
use vigia::tls::{Role, TlsMaterial};
use vigia::tls_check::{self, Expected};

use crate::config::{CollectorConfig, TlsPaths};
use crate::tls_reload;

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
    let facts = f.certificate(
        &tls.cert,
        "tls.cert",
        |_| "vigia-collector ca issue --force … server".to_string(),
        result,
    );
    // The CRL is read against the CA just loaded; with no usable certificate `run` stops
    // there, which is already said.
    if let Some(facts) = facts {
        crl(tls, &facts.material, &mut f);
    }
    data_dir(&config.data_dir, &mut f);
    f
}

/// The revocation list `run` loads beside the certificate, and the TLS set-up made of both.
fn crl(tls: &TlsPaths, material: &TlsMaterial, f: &mut Findings) {
    let crl = tls.crl_path();
    let loaded = tls_reload::load_crls(&crl, &tls.ca, &material.ca_certs)
        .map_err(|e| e.to_string())
        .and_then(|crls| {
            tls_reload::server_config(material, &crls)
                .map(|_| crls)
                .map_err(|e| e.to_string())
        });
    match loaded {
        Ok(crls) => f.ok(format!(
            "CRL {}: {} revoked certificate(s){}",
            crl.display(),
            crls.revoked,
            if crls.ders.is_empty() {
                " (no file: nothing revoked)"
            } else {
                ""
            }
        )),
        Err(e) => f.problem(e),
    }
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
