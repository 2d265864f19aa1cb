//! Each layout on a tree built with chosen mtimes: 35 days with one gap, files just after and
//! just before local midnight (São Paulo, UTC−3, so UTC days would differ), files at the wrong
//! depth, and (Digifort) extensions in other cases. Every figure must be exact.

mod scan_support;

use chrono::{DateTime, Days, Utc};
use scan_support::*;
use vigia::pb::{RecordingStatus, ScanOutcome, Technology};
use vigia_probe::scan::Scanner;

const TZ: &str = "America/Sao_Paulo";
const FIRST: &str = "2026-09-01";
const GAP: &str = "2026-09-11";

/// The 35 calendar days from FIRST, the gap day excluded: 34 days.
fn days() -> Vec<String> {
    (0..35)
        .map(|i| {
            day(FIRST)
                .checked_add_days(Days::new(i))
                .expect("day")
                .to_string()
        })
        .filter(|d| d != GAP)
        .collect()
}

/// The first and last second of a local day.
fn edges(d: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        local(TZ, &format!("{d} 00:00:00")),
        local(TZ, &format!("{d} 23:59:59")),
    )
}

fn scan_one(tree: &Tree, toml: &str) -> RecordingStatus {
    let cfg = tree.config(toml);
    let mut s = Scanner::new(&cfg);
    let mut out = s.scan_all();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

#[track_caller]
fn assert_days(s: &RecordingStatus, expected: &[String]) {
    assert_eq!(s.days_recorded as usize, expected.len(), "days_recorded");
    assert_eq!(s.recorded_days, expected, "recorded_days");
}

#[test]
fn intelbras_counts_files_at_year_month_day_depth_in_local_days() {
    let t = Tree::new();
    let days = days();
    for d in &days {
        let (first, last) = edges(d);
        let folder = d.replace('-', "/");
        t.file(&format!("rec/{folder}/00.dav"), first, 10);
        t.file(&format!("rec/{folder}/23.dav"), last, 20);
        // Another extension: intelbras counts every regular file.
        t.file(&format!("rec/{folder}/idx.idx"), last, 1);
    }
    // Wrong depths, with times that would change oldest/newest if they were counted.
    let wild_old = local(TZ, "2001-01-01 12:00:00");
    let wild_new = local(TZ, "2030-01-01 12:00:00");
    t.file("rec/top.dav", wild_old, 5);
    t.file("rec/2026/year-level.dav", wild_old, 5);
    t.file("rec/2026/09/month-level.dav", wild_new, 5);
    t.file("rec/2026/09/01/sub/too-deep.dav", wild_new, 5);

    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = {}\n",
            toml_path(&t.path("rec"))
        ),
    );
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.technology, Technology::Intelbras as i32);
    assert_eq!(s.oldest_recording, ts(edges(FIRST).0));
    assert_eq!(s.newest_recording, ts(edges(days.last().expect("day")).1));
    assert_days(&s, &days);
    assert_eq!(s.file_count, 34 * 3);
    assert_eq!(s.total_bytes, 34 * 31);
    assert!(s.cameras.is_empty(), "intelbras has no camera in the path");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    // The days are local: 23:59:59 in São Paulo is 02:59:59 UTC of the next day.
    assert_eq!(s.time_zone, TZ);
    // Every scan field is filled.
    assert_eq!(s.site, "loja");
    assert_eq!(s.recorder, "nvr");
    assert!(s.observed_at.is_some() && s.scan_duration.is_some());
    assert!(!s.probe_version.is_empty() && !s.hostname.is_empty());
    assert!(s.disk_total_bytes > 0 && s.disk_total_bytes >= s.disk_free_bytes);
    assert_eq!(s.root_path, t.path("rec").display().to_string());
}

#[test]
fn intelbras_in_utc_counts_different_days() {
    // The same two edge files of one local day fall on two UTC days: proof the zone is used.
    let t = Tree::new();
    let (first, last) = edges("2026-09-02");
    t.file("rec/2026/09/02/a.dav", first, 1);
    t.file("rec/2026/09/02/b.dav", last, 1);
    let toml = |tz: &str| {
        format!(
            "site = \"loja\"\ntimezone = \"{tz}\"\n[[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = {}\n",
            toml_path(&t.path("rec"))
        )
    };
    assert_eq!(scan_one(&t, &toml(TZ)).recorded_days, vec!["2026-09-02"]);
    assert_eq!(
        scan_one(&t, &toml("UTC")).recorded_days,
        vec!["2026-09-02", "2026-09-03"]
    );
}

#[test]
fn digifort_counts_dar_files_of_any_case_per_camera() {
    let t = Tree::new();
    let days = days();
    for d in &days {
        let (first, last) = edges(d);
        let tag = d.replace('-', "");
        t.file(&format!("dig/cam1/Dados/{tag}a.dar"), first, 100);
        t.file(&format!("dig/cam1/Dados/{tag}b.DAR"), last, 50);
        // Not recordings: other extensions, a .dar prefix.
        t.file(&format!("dig/cam1/Dados/{tag}.txt"), last, 7);
        t.file(&format!("dig/cam1/Dados/{tag}.dar.tmp"), last, 7);
    }
    // cam2 records only the last 3 days, in a "dados" folder in lower case (Windows ignores case).
    for d in &days[days.len() - 3..] {
        let (first, _) = edges(d);
        t.file(
            &format!("dig/cam2/dados/{}.Dar", d.replace('-', "")),
            first,
            1,
        );
    }
    // cam3 has a Dados folder but no recordings; its files outside Dados do not count.
    t.mkdir("dig/cam3/Dados");
    t.file("dig/cam3/stray.dar", local(TZ, "2030-01-01 00:00:00"), 9);
    t.file("dig/cam3/Other/x.dar", local(TZ, "2030-01-01 00:00:00"), 9);
    t.file("dig/root.dar", local(TZ, "2001-01-01 00:00:00"), 9);
    t.file(
        "dig/cam1/Dados/deeper/x.dar",
        local(TZ, "2001-01-01 00:00:00"),
        9,
    );

    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"dfort\"\ntechnology = \"digifort\"\npath = {}\n",
            toml_path(&t.path("dig"))
        ),
    );
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_days(&s, &days);
    assert_eq!(s.file_count, 34 * 2 + 3);
    assert_eq!(s.total_bytes, 34 * 150 + 3);
    assert_eq!(s.oldest_recording, ts(edges(FIRST).0));
    let last = days.last().expect("day");
    assert_eq!(s.newest_recording, ts(edges(last).1));

    let names: Vec<&str> = s.cameras.iter().map(|c| c.camera.as_str()).collect();
    assert_eq!(names, ["cam1", "cam2", "cam3"]);
    let c1 = &s.cameras[0];
    assert_eq!(
        (c1.file_count, c1.total_bytes, c1.days_recorded),
        (68, 34 * 150, 34)
    );
    assert_eq!(c1.oldest_recording, ts(edges(FIRST).0));
    assert_eq!(c1.newest_recording, ts(edges(last).1));
    let c2 = &s.cameras[1];
    assert_eq!((c2.file_count, c2.total_bytes, c2.days_recorded), (3, 3, 3));
    assert_eq!(c2.oldest_recording, ts(edges(&days[days.len() - 3]).0));
    assert_eq!(c2.newest_recording, ts(edges(last).0));
    let c3 = &s.cameras[2];
    assert_eq!((c3.file_count, c3.days_recorded), (0, 0));
    assert_eq!(c3.oldest_recording, None, "a dead camera has no recordings");
    assert_eq!((c3.first_day.as_str(), c3.day_bitmap.len()), ("", 0));
    assert_eq!(c3.newest_nonempty_recording, None);
    assert_eq!(c2.newest_nonempty_recording, c2.newest_recording);
}

#[test]
fn ivms_counts_date_camera_file_per_camera() {
    let t = Tree::new();
    let days = days();
    for (i, d) in days.iter().enumerate() {
        let (first, last) = edges(d);
        t.file(&format!("ivms/{d}/ch01/a.mp4"), first, 3);
        t.file(&format!("ivms/{d}/ch01/b.mp4"), last, 4);
        if i % 2 == 0 {
            t.file(&format!("ivms/{d}/ch02/a.mp4"), last, 5);
        }
        // Wrong depths.
        t.file(
            &format!("ivms/{d}/index.dat"),
            local(TZ, "2030-01-01 00:00:00"),
            1,
        );
        t.file(
            &format!("ivms/{d}/ch01/sub/x.mp4"),
            local(TZ, "2001-01-01 00:00:00"),
            1,
        );
    }
    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"hik\"\ntechnology = \"ivms\"\npath = {}\n",
            toml_path(&t.path("ivms"))
        ),
    );
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_days(&s, &days);
    let ch02_days = days.len().div_ceil(2) as u64;
    assert_eq!(s.file_count, 34 * 2 + ch02_days);
    assert_eq!(s.total_bytes, 34 * 7 + ch02_days * 5);
    assert_eq!(s.oldest_recording, ts(edges(FIRST).0));
    let names: Vec<&str> = s.cameras.iter().map(|c| c.camera.as_str()).collect();
    assert_eq!(names, ["ch01", "ch02"]);
    assert_eq!(s.cameras[0].file_count, 68);
    assert_eq!(s.cameras[0].days_recorded, 34);
    assert_eq!(s.cameras[1].file_count, ch02_days);
    assert_eq!(s.cameras[1].days_recorded as u64, ch02_days);
    assert_eq!(s.cameras[1].oldest_recording, ts(edges(FIRST).1));
}

#[test]
fn generic_counts_extensions_at_any_depth_with_camera_level() {
    let t = Tree::new();
    let d1 = edges("2026-09-01");
    let d2 = edges("2026-09-03");
    t.file("gen/site/camA/2026/09/01/a.MP4", d1.0, 1);
    t.file("gen/site/camA/b.mp4", d2.1, 2);
    t.file("gen/site/camB/x/y/z/c.avi", d2.0, 4);
    t.file("gen/site/camB/notes.txt", d2.0, 100);
    // Above the camera level: counted for the recorder, no camera.
    t.file("gen/site/loose.mp4", d1.1, 8);
    t.file("gen/top.mp4", d1.1, 16);
    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"g\"\ntechnology = \"generic\"\npath = {}\nextensions = [\"mp4\", \".AVI\"]\ncamera_depth = 2\n",
            toml_path(&t.path("gen"))
        ),
    );
    assert_eq!(s.outcome, ScanOutcome::Ok as i32);
    assert_eq!(s.file_count, 5);
    assert_eq!(s.total_bytes, 1 + 2 + 4 + 8 + 16);
    assert_eq!(s.recorded_days, vec!["2026-09-01", "2026-09-03"]);
    assert_eq!(s.oldest_recording, ts(d1.0));
    assert_eq!(s.newest_recording, ts(d2.1));
    let cams: Vec<(&str, u64, u64)> = s
        .cameras
        .iter()
        .map(|c| (c.camera.as_str(), c.file_count, c.total_bytes))
        .collect();
    assert_eq!(cams, [("camA", 2, 3), ("camB", 1, 4)]);
}

#[test]
fn generic_without_camera_depth_has_no_cameras_and_counts_every_file() {
    let t = Tree::new();
    let d = edges("2026-09-01");
    t.file("gen/a/b.bin", d.0, 1);
    t.file("gen/c.txt", d.1, 1);
    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"g\"\ntechnology = \"generic\"\npath = {}\n",
            toml_path(&t.path("gen"))
        ),
    );
    assert_eq!(s.file_count, 2);
    assert!(s.cameras.is_empty());
}

#[test]
fn json_output_is_protobuf_json() {
    let t = Tree::new();
    let (first, _) = edges("2026-09-01");
    t.file("dig/cam1/Dados/a.dar", first, 1);
    let cfg = t.config(&format!(
        "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"d\"\ntechnology = \"digifort\"\npath = {}\n",
        toml_path(&t.path("dig"))
    ));
    let statuses = Scanner::new(&cfg).scan_all();
    let v = vigia_probe::scan::json::statuses(&statuses);
    let s = &v[0];
    assert_eq!(s["technology"], "TECHNOLOGY_DIGIFORT");
    assert_eq!(s["outcome"], "SCAN_OUTCOME_OK");
    assert_eq!(s["oldestRecording"], "2026-09-01T03:00:00Z");
    assert_eq!(s["fileCount"], "1");
    assert_eq!(s["recordedDays"][0], "2026-09-01");
    assert_eq!(s["cameras"][0]["camera"], "cam1");
    assert_eq!(s["timeZone"], TZ);
    assert!(s["scanDuration"].as_str().is_some_and(|d| d.ends_with('s')));
}

#[test]
fn table_shows_one_row_per_recorder_and_camera_lines_in_local_time() {
    let t = Tree::new();
    let (first, last) = edges("2026-09-01");
    t.file("dig/cam1/Dados/a.dar", first, 1);
    t.file("dig/cam1/Dados/b.dar", last, 1);
    let cfg = t.config(&format!(
        "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"d\"\ntechnology = \"digifort\"\npath = {}\n",
        toml_path(&t.path("dig"))
    ));
    let mut sc = Scanner::new(&cfg);
    let statuses = sc.scan_all();
    let table = vigia_probe::scan::cli::render_table(&statuses, sc.tz());
    let row = table
        .lines()
        .find(|l| l.starts_with("loja"))
        .expect("recorder row");
    assert!(row.contains("digifort"), "{row}");
    assert!(row.contains("2026-09-01 00:00:00"), "{row}");
    assert!(row.contains("2026-09-01 23:59:59"), "{row}");
    assert!(table
        .lines()
        .any(|l| l.contains("cam1") && l.contains("camera")));
}

/// The days of a camera's bitmap, as "YYYY-MM-DD".
#[track_caller]
fn bitmap_days(c: &vigia::pb::CameraStatus) -> Vec<String> {
    vigia::day_bitmap::decode(&c.first_day, &c.day_bitmap)
        .expect("a valid bitmap")
        .expect("per-camera days are sent")
        .into_iter()
        .map(vigia::days::format_day)
        .collect()
}

#[test]
fn zero_byte_newest_files_leave_newest_nonempty_older_than_newest() {
    let t = Tree::new();
    let hour = |h: u32| local(TZ, &format!("2026-09-02 {h:02}:00:00"));
    // cam1 writes real files until 12:00, then six hours of empty ones; cam2 stops writing
    // video at 09:00 but keeps creating files; cam3 only ever wrote empty files.
    for h in 0..18 {
        let size = if h <= 12 { 100 } else { 0 };
        t.file(&format!("dig/cam1/Dados/{h:02}.dar"), hour(h), size);
        let size = if h <= 9 { 100 } else { 0 };
        t.file(&format!("dig/cam2/Dados/{h:02}.dar"), hour(h), size);
        t.file(&format!("dig/cam3/Dados/{h:02}.dar"), hour(h), 0);
    }
    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"dfort\"\ntechnology = \"digifort\"\npath = {}\n",
            toml_path(&t.path("dig"))
        ),
    );
    assert_eq!(s.file_count, 3 * 18);
    assert_eq!(s.newest_recording, ts(hour(17)));
    assert_eq!(s.newest_nonempty_recording, ts(hour(12)));
    let figures: Vec<_> = s
        .cameras
        .iter()
        .map(|c| {
            (
                c.camera.as_str(),
                c.newest_recording,
                c.newest_nonempty_recording,
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("cam1", ts(hour(17)), ts(hour(12))),
            ("cam2", ts(hour(17)), ts(hour(9))),
            ("cam3", ts(hour(17)), None),
        ]
    );
    // Empty files still count as recorded days (LATE and days keep their meaning).
    assert_eq!(bitmap_days(&s.cameras[2]), ["2026-09-02"]);
    // The JSON omits the unset time, as protobuf JSON does.
    let v = vigia_probe::scan::json::status(&s);
    assert_eq!(v["newestNonemptyRecording"], "2026-09-02T15:00:00Z");
    assert_eq!(
        v["cameras"][0]["newestNonemptyRecording"],
        "2026-09-02T15:00:00Z"
    );
    assert!(v["cameras"][2].get("newestNonemptyRecording").is_none());

    // Every file empty: unset for the recorder too.
    let t = Tree::new();
    t.file("rec/2026/09/02/a.dav", hour(1), 0);
    let s = scan_one(
        &t,
        &format!(
            "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"nvr\"\ntechnology = \"intelbras\"\npath = {}\n",
            toml_path(&t.path("rec"))
        ),
    );
    assert_eq!(s.file_count, 1);
    assert_eq!(s.newest_recording, ts(hour(1)));
    assert_eq!(s.newest_nonempty_recording, None);
}

#[test]
fn a_camera_down_three_days_has_them_missing_from_its_day_bitmap() {
    let days = days();
    // cam2 is down for three whole days in the middle of the span (cam1 records throughout).
    let down = ["2026-09-20", "2026-09-21", "2026-09-22"];
    let cam2_days: Vec<String> = days
        .iter()
        .filter(|d| !down.contains(&d.as_str()))
        .cloned()
        .collect();
    for (technology, path_of) in [
        (
            "digifort",
            (|cam: &str, d: &str, f: &str| format!("{cam}/Dados/{}{f}.dar", d.replace('-', "")))
                as fn(&str, &str, &str) -> String,
        ),
        ("ivms", |cam: &str, d: &str, f: &str| {
            format!("{d}/{cam}/{f}.mp4")
        }),
    ] {
        let t = Tree::new();
        for d in &days {
            let (first, last) = edges(d);
            for cam in ["cam1", "cam2"] {
                if cam == "cam2" && down.contains(&d.as_str()) {
                    continue;
                }
                // A file just after and one just before local midnight: the local day counts.
                t.file(&format!("rec/{}", path_of(cam, d, "a")), first, 10);
                t.file(&format!("rec/{}", path_of(cam, d, "b")), last, 10);
            }
        }
        let s = scan_one(
            &t,
            &format!(
                "site = \"loja\"\ntimezone = \"{TZ}\"\n[[recorder]]\nid = \"r\"\ntechnology = \"{technology}\"\npath = {}\n",
                toml_path(&t.path("rec"))
            ),
        );
        assert_eq!(s.outcome, ScanOutcome::Ok as i32, "{technology}");
        assert_days(&s, &days);
        let names: Vec<&str> = s.cameras.iter().map(|c| c.camera.as_str()).collect();
        assert_eq!(names, ["cam1", "cam2"], "{technology}");
        let (c1, c2) = (&s.cameras[0], &s.cameras[1]);
        assert_eq!(c1.first_day, FIRST, "{technology}");
        assert_eq!(bitmap_days(c1), days, "{technology}");
        assert_eq!(c1.days_recorded, 34, "{technology}");
        assert_eq!(bitmap_days(c2), cam2_days, "{technology}");
        assert_eq!(c2.days_recorded, 31, "{technology}");
        // 35 days from the first: five bytes, the last bits past the span clear.
        assert_eq!(c2.day_bitmap.len(), 5, "{technology}");
    }
}
