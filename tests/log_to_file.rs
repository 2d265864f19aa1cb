//! A service's log file (what a Windows probe writes beside probe.toml) is plain text: every
//! event, no colour codes, even when the process also logs to a terminal.

#[test]
fn the_log_file_has_every_event_and_no_escape_sequences() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("vigia-probe.log");
    std::env::set_var("VIGIA_LOG", "info");
    vigia::process::init_logging_to_file(&path).expect("open the log file");
    tracing::info!(site = "loja-12", "probe running");
    tracing::warn!(error = "connection refused", "collector not reachable");
    tracing::debug!("below the filter");
    let text = std::fs::read_to_string(&path).expect("read the log");
    assert!(
        text.contains("probe running") && text.contains("loja-12"),
        "{text}"
    );
    assert!(text.contains("collector not reachable"), "{text}");
    assert!(
        !text.contains("below the filter"),
        "the filter applies to the file: {text}"
    );
    assert!(
        !text.contains('\x1b'),
        "no escape sequences in the file: {text:?}"
    );
}
