//! The example configuration shipped in `examples/probe.toml` loads, so it never drifts from
//! what the probe accepts.

use std::path::Path;
use vigia::config::ConfigSource;
use vigia_probe::config::ProbeConfig;

#[test]
fn the_shipped_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/probe.toml");
    let cfg = ProbeConfig::load_from(&ConfigSource::file(&path).with_env(vec![]))
        .expect("examples/probe.toml loads");
    assert_eq!(cfg.site, "loja-12");
    assert_eq!(cfg.recorders.len(), 1);
    let collector = cfg.collector.expect("[collector]");
    assert_eq!(collector.url, "https://vigia.example.com:50051");
    assert!(
        collector.cert.ends_with("certs\\loja-12.pem") || collector.cert.ends_with("loja-12.pem")
    );
    assert_eq!(cfg.spool.max_entries, 10_000);
}
