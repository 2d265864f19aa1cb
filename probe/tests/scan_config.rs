//! Recorder configuration: good tables load, bad ones are refused with the key named.

mod scan_support;

use scan_support::*;
use vigia_probe::scan::Technology;

fn with_recorders(body: &str) -> String {
    format!("site = \"loja\"\ntimezone = \"UTC\"\n{body}")
}

#[test]
fn a_full_recorder_table_loads() {
    let t = Tree::new();
    let cfg = t.config(&with_recorders(
        "[scan]\nhot_window = \"90m\"\nthreads = 3\ncache = \"state/scan.cache\"\n\
         [[recorder]]\nid = \"g\"\ntechnology = \"generic\"\npath = \"/rec\"\nextensions = [\".MP4\", \"avi\"]\ncamera_depth = 2\nfollow_links = true\n\
         [[recorder]]\nid = \"d\"\ntechnology = \"digifort\"\npath = \"D:\\\\Digifort\"\n",
    ));
    assert_eq!(cfg.recorders.len(), 2);
    let g = &cfg.recorders[0];
    assert_eq!(g.technology, Technology::Generic);
    assert_eq!(
        g.effective_extensions(),
        Some(vec!["mp4".to_string(), "avi".to_string()])
    );
    assert_eq!(g.camera_depth, Some(2));
    assert!(g.follow_links);
    assert_eq!(
        cfg.recorders[1].effective_extensions(),
        Some(vec!["dar".to_string()])
    );
    assert_eq!(cfg.scan.hot_window.as_secs(), 90 * 60);
    assert_eq!(cfg.scan.thread_count(), 3);
    // A relative cache path is relative to the configuration file.
    assert_eq!(cfg.scan.cache, Some(t.path("state/scan.cache")));
    let text = vigia_probe::scan::cli::describe(&cfg);
    assert!(
        text.contains("g (generic)") && text.contains(".mp4, .avi"),
        "{text}"
    );
    assert!(text.contains("camera: folder level 2"), "{text}");
}

#[track_caller]
fn refused(body: &str, needles: &[&str]) {
    let t = Tree::new();
    let err = t.config_error(&with_recorders(body));
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
}

#[test]
fn unknown_technology_names_the_key_and_the_choices() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"hikvision\"\npath = \"/rec\"\n",
        &[
            "technology",
            "hikvision",
            "intelbras",
            "digifort",
            "ivms",
            "generic",
        ],
    );
}

#[test]
fn missing_path_names_the_key() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"ivms\"\n",
        &["path"],
    );
}

#[test]
fn empty_path_names_the_key() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"ivms\"\npath = \"\"\n",
        &["recorder[0].path", "empty"],
    );
}

#[test]
fn duplicate_recorder_id_names_the_key() {
    refused(
        "[[recorder]]\nid = \"nvr\"\ntechnology = \"ivms\"\npath = \"/a\"\n\
         [[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = \"/b\"\n",
        &["recorder[1].id", "duplicate", "nvr"],
    );
}

#[test]
fn bad_recorder_id_names_the_key() {
    refused(
        "[[recorder]]\nid = \"\"\ntechnology = \"ivms\"\npath = \"/a\"\n",
        &["recorder[0].id"],
    );
}

#[test]
fn camera_depth_only_for_generic_and_at_least_one() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"digifort\"\npath = \"/a\"\ncamera_depth = 1\n",
        &["recorder[0].camera_depth", "generic"],
    );
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"generic\"\npath = \"/a\"\ncamera_depth = 0\n",
        &["recorder[0].camera_depth"],
    );
}

#[test]
fn bad_extensions_name_the_key() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"generic\"\npath = \"/a\"\nextensions = []\n",
        &["recorder[0].extensions", "empty"],
    );
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"generic\"\npath = \"/a\"\nextensions = [\"a/b\"]\n",
        &["recorder[0].extensions", "a/b"],
    );
}

#[test]
fn unknown_recorder_key_is_refused() {
    refused(
        "[[recorder]]\nid = \"x\"\ntechnology = \"generic\"\npath = \"/a\"\ncamera = 2\n",
        &["camera"],
    );
}

#[test]
fn scan_settings_are_checked() {
    refused("[scan]\nhot_window = \"10s\"\n", &["scan.hot_window"]);
    refused("[scan]\nthreads = 0\n", &["scan.threads"]);
}

#[test]
fn the_documented_example_loads() {
    // The example in the scan module's docs, so it never goes stale.
    let src = include_str!("../src/scan/mod.rs");
    let start = src.find("//! ```toml").expect("example start") + "//! ```toml".len();
    let body = &src[start..];
    let end = body.find("//! ```").expect("example end");
    let toml: String = body[..end]
        .lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches("//!")
                .trim_start_matches(' ')
        })
        .collect::<Vec<_>>()
        .join("\n");
    let t = Tree::new();
    let cfg = t.config(&toml);
    assert_eq!(cfg.recorders.len(), 2);
    assert_eq!(cfg.recorders[1].camera_depth, Some(2));
    assert_eq!(cfg.scan.thread_count(), 2);
}

#[test]
fn a_relative_recording_folder_is_relative_to_the_configuration_file() {
    let t = Tree::new();
    let cfg = t.config(&with_recorders(
        "[[recorder]]\nid = \"r\"\ntechnology = \"intelbras\"\npath = \"recordings/nvr1\"\n\
         [[recorder]]\nid = \"a\"\ntechnology = \"intelbras\"\npath = \"/srv/nvr2\"\n",
    ));
    assert_eq!(cfg.recorders[0].path, t.path("recordings/nvr1"));
    if cfg!(unix) {
        assert_eq!(cfg.recorders[1].path, std::path::PathBuf::from("/srv/nvr2"));
    }
}
