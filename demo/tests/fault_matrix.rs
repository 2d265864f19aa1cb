//! The fault matrix: one realistic recorder tree per site (35 days, 4 cameras, hourly files) with
//! at most one fault each, scanned by the real scanner, reported over mutual TLS to a real
//! collector with a real store, judged in `ListSites`, and rendered by the mailer in English and
//! Portuguese. Every fault must give exactly its verdicts, every healthy control exactly OK:
//! 0 false OK, 0 false alarms.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio_stream::wrappers::ReceiverStream;
use vigia::config::ConfigSource;
use vigia::days::{local_date, parse_tz, to_timestamp};
use vigia::pb::ingest_client::IngestClient;
use vigia::pb::{ListSitesRequest, ListSitesResponse, RecordingStatus, SiteReport, VerdictKind};
use vigia::wording::{kind_label, sentence, Language};
use vigia_collector::testkit::{connect, TestCollector, TestFleet};
use vigia_collector::Clock;
use vigia_mailer::{render_digest, FleetView, RenderOptions};
use vigia_probe::config::ProbeConfig;
use vigia_probe::scan::Scanner;

const ZONE: &str = "America/Sao_Paulo";
const STEP: std::time::Duration = std::time::Duration::from_secs(20);
/// Time between the first round of reports and the second, on the collector's clock.
const PAUSE: i64 = 30;

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Intelbras,
    Digifort,
    Ivms,
    /// `<camera>/<date>/<file>.mp4`, the camera at depth 1.
    Generic,
}

impl Layout {
    fn technology(self) -> &'static str {
        match self {
            Layout::Intelbras => "intelbras",
            Layout::Digifort => "digifort",
            Layout::Ivms => "ivms",
            Layout::Generic => "generic",
        }
    }
}

/// One camera's files: hourly, `days` days back from `end`, skipping `missing` days ago, the
/// last `empty_hours` hours as zero-byte files.
#[derive(Clone)]
struct Cam {
    name: &'static str,
    days: i64,
    stopped_hours: i64,
    missing: Vec<i64>,
    empty_hours: i64,
}

fn cam(name: &'static str) -> Cam {
    Cam {
        name,
        days: 35,
        stopped_hours: 0,
        missing: Vec::new(),
        empty_hours: 0,
    }
}

fn four() -> Vec<Cam> {
    vec![cam("cam1"), cam("cam2"), cam("cam3"), cam("cam4")]
}

/// Writes a recorder tree; `clock_ahead` shifts every mtime (the recorder's clock is off).
fn write_tree(
    root: &Path,
    layout: Layout,
    cams: &[Cam],
    now: DateTime<Utc>,
    clock_ahead: Duration,
) {
    let tz = parse_tz(ZONE).expect("zone");
    let cams: Vec<Cam> = if layout == Layout::Intelbras {
        cams[..1].to_vec()
    } else {
        cams.to_vec()
    };
    for c in &cams {
        let end = now - Duration::hours(c.stopped_hours) - Duration::minutes(3);
        for h in 0..(c.days * 24) {
            let t = end - Duration::hours(h);
            let days_ago = (local_date(now, tz) - local_date(t, tz)).num_days();
            if c.missing.contains(&days_ago) || days_ago >= c.days {
                continue;
            }
            let stamped = t + clock_ahead;
            let local = local_date(stamped, tz);
            let name = format!("{}.rec", stamped.timestamp());
            let path: PathBuf = match layout {
                Layout::Intelbras => root
                    .join(local.format("%Y").to_string())
                    .join(local.format("%m").to_string())
                    .join(local.format("%d").to_string())
                    .join(name.replace(".rec", ".dav")),
                Layout::Digifort => root
                    .join(c.name)
                    .join("Dados")
                    .join(name.replace(".rec", ".dar")),
                Layout::Ivms => root
                    .join(local.format("%Y%m%d").to_string())
                    .join(c.name)
                    .join(name.replace(".rec", ".mp4")),
                Layout::Generic => root
                    .join(c.name)
                    .join(local.format("%Y-%m-%d").to_string())
                    .join(name.replace(".rec", ".mp4")),
            };
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).expect("mkdir");
            }
            let size = if h < c.empty_hours { 0 } else { 64 };
            std::fs::write(&path, vec![b'v'; size]).expect("write");
            let ft = filetime::FileTime::from_unix_time(stamped.timestamp(), 0);
            filetime::set_file_mtime(&path, ft).expect("mtime");
        }
    }
}

/// A site of the matrix: its recorders (id, layout, cameras), what the probe's clock is off by,
/// the round(s) it reports in, and the verdict kinds it must get.
struct Case {
    site: &'static str,
    recorders: Vec<(&'static str, Layout, Vec<Cam>)>,
    recorder_clock_ahead: Duration,
    probe_clock_off: Duration,
    expect: Vec<VerdictKind>,
    /// The cameras the verdicts must name.
    names: Vec<&'static str>,
}

fn case(site: &'static str, layout: Layout, cams: Vec<Cam>, expect: Vec<VerdictKind>) -> Case {
    Case {
        site,
        recorders: vec![("nvr", layout, cams)],
        recorder_clock_ahead: Duration::zero(),
        probe_clock_off: Duration::zero(),
        expect,
        names: Vec::new(),
    }
}

/// A case whose verdicts must name these cameras.
fn naming(mut c: Case, cameras: &[&'static str]) -> Case {
    c.names = cameras.to_vec();
    c
}

fn cases() -> Vec<Case> {
    use Layout::*;
    use VerdictKind as K;
    let mut out = vec![
        case("ok-intelbras", Intelbras, four(), vec![K::Ok]),
        case("ok-digifort", Digifort, four(), vec![K::Ok]),
        case("ok-ivms", Ivms, four(), vec![K::Ok]),
        case("ok-generic", Generic, four(), vec![K::Ok]),
    ];
    // A camera whose folder is gone (seen in round one, absent in round two).
    out.push(naming(
        case("gone-camera", Digifort, four(), vec![K::CameraMissing]),
        &["cam4"],
    ));
    // One camera keeping 5 days while the others keep 35.
    let mut cams = four();
    cams[1].days = 5;
    out.push(naming(
        case("short-camera", Ivms, cams, vec![K::ShortRetention]),
        &["cam2"],
    ));
    // One camera down three whole days last week, back now.
    let mut cams = four();
    cams[2].missing = vec![5, 6, 7];
    out.push(naming(
        case("gap-camera", Digifort, cams, vec![K::Gaps]),
        &["cam3"],
    ));
    // Zero-byte files for the last six hours.
    let mut cams = four();
    for c in &mut cams {
        c.empty_hours = 6;
    }
    out.push(case("empty-files", Intelbras, cams, vec![K::NotWriting]));
    // Two recorders; the probe stops reporting one of them.
    out.push(Case {
        site: "dropped-recorder",
        recorders: vec![("nvr", Intelbras, four()), ("dvr-old", Digifort, four())],
        recorder_clock_ahead: Duration::zero(),
        probe_clock_off: Duration::zero(),
        expect: vec![K::RecorderSilent],
        names: Vec::new(),
    });
    // The probe host's clock two hours ahead, recordings fine.
    let mut c = case("probe-ahead", Ivms, four(), vec![K::ClockSkew]);
    c.probe_clock_off = Duration::hours(2);
    out.push(c);
    // The recorder's clock three days ahead.
    let mut c = case("recorder-ahead", Intelbras, four(), vec![K::ClockSkew]);
    c.recorder_clock_ahead = Duration::days(3);
    out.push(c);
    // Really stopped six hours ago, with the probe's clock two hours ahead, and behind.
    let stopped = || {
        let mut cams = four();
        for c in &mut cams {
            c.stopped_hours = 6;
        }
        cams
    };
    let mut c = case(
        "stopped-probe-ahead",
        Digifort,
        stopped(),
        vec![K::Late, K::ClockSkew],
    );
    c.probe_clock_off = Duration::hours(2);
    out.push(c);
    let mut c = case("stopped-probe-behind", Ivms, stopped(), vec![K::Late]);
    c.probe_clock_off = Duration::hours(-2);
    out.push(c);
    // The verdicts that existed before.
    out.push(case("late", Intelbras, stopped(), vec![K::Late]));
    let mut cams = four();
    cams[0].days = 12;
    out.push(case("short", Intelbras, cams, vec![K::ShortRetention]));
    let mut cams = four();
    cams[0].missing = vec![9];
    out.push(case("gaps", Intelbras, cams, vec![K::Gaps]));
    let mut cams = four();
    cams[0].stopped_hours = 5;
    out.push(naming(
        case("camera-late", Ivms, cams, vec![K::CameraLate]),
        &["cam1"],
    ));
    let mut cams = four();
    cams[3].stopped_hours = 5;
    out.push(naming(
        case("camera-late-generic", Generic, cams, vec![K::CameraLate]),
        &["cam4"],
    ));
    out.push(case("disk-low", Digifort, four(), vec![K::DiskLow]));
    out.push(case(
        "scan-error",
        Intelbras,
        Vec::new(),
        vec![K::ScanError],
    ));
    out.push(case("silent", Digifort, four(), vec![K::Silent]));
    // The probe's spool overflowed while the collector was away: 34 statuses lost.
    out.push(case("spool-overflow", Ivms, four(), vec![K::DataDropped]));
    out
}

fn probe_config(dir: &Path, site: &str, recorders: &[(&str, Layout, PathBuf)]) -> ProbeConfig {
    let mut toml = format!("site = \"{site}\"\ntimezone = \"{ZONE}\"\n");
    for (id, layout, path) in recorders {
        toml.push_str(&format!(
            "[[recorder]]\nid = \"{id}\"\ntechnology = \"{}\"\npath = {:?}\n",
            layout.technology(),
            path.to_string_lossy()
        ));
        if *layout == Layout::Generic {
            toml.push_str("extensions = [\"mp4\"]\ncamera_depth = 1\n");
        }
    }
    let file = dir.join(format!("{site}.toml"));
    std::fs::write(&file, toml).expect("write config");
    ProbeConfig::load_from(&ConfigSource::file(&file).with_env(vec![])).expect("probe config")
}

/// Scans like the probe, then stamps what the probe's daemon adds (sequence, spool, interval)
/// and the probe's clock (observed `off` from the truth, `elapsed` after the real scan).
fn scan(cfg: &ProbeConfig, off: Duration, elapsed: Duration) -> Vec<RecordingStatus> {
    let mut statuses = Scanner::new(cfg).scan_all();
    for s in &mut statuses {
        s.spool_id = "matrix".into();
        s.report_interval = Some(prost_types::Duration {
            seconds: 300,
            nanos: 0,
        });
        if let Some(t) = s.observed_at.as_ref().and_then(vigia::days::from_timestamp) {
            s.observed_at = Some(to_timestamp(t + off + elapsed));
        }
    }
    statuses
}

async fn report(
    c: &TestCollector,
    fleet: &TestFleet,
    site: &str,
    statuses: Vec<RecordingStatus>,
    seq: &mut u64,
) {
    let channel = connect(&c.url(), &fleet.probe(site).expect("probe cert"))
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut acks = IngestClient::new(channel)
        .report(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    let n = statuses.len();
    for mut s in statuses {
        *seq += 1;
        s.sequence = *seq;
        tx.send(s).await.expect("send");
    }
    for _ in 0..n {
        let ack = tokio::time::timeout(STEP, acks.message())
            .await
            .expect("ack in time")
            .expect("no error");
        assert!(ack.is_some(), "{site}: stream ended before every ack");
    }
}

fn problem_kinds(site: &SiteReport) -> Vec<VerdictKind> {
    let mut k: Vec<VerdictKind> = site.verdicts.iter().map(|v| v.kind()).collect();
    k.sort_by_key(|k| *k as i32);
    k.dedup();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_gives_its_verdict_and_every_control_stays_ok() {
    vigia::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let fleet = TestFleet::new(&dir.path().join("certs")).expect("fleet");
    let now = Utc::now();
    let clock = Clock::manual(now);
    let cases = cases();
    let c =
        TestCollector::start_with_clock(&fleet, &dir.path().join("data"), clock.clone(), |cfg| {
            cfg.expected_sites = vec!["never-reported".into()];
            // The real volume's free space is what it is: ask for more than all of it.
            cfg.sites.insert(
                "disk-low".into(),
                vigia::rules::RuleOverrides {
                    disk_min_free: Some(vigia::units::ByteSize::Percent(100.0)),
                    ..Default::default()
                },
            );
        })
        .await
        .expect("collector");

    let mut configs = BTreeMap::new();
    for case in &cases {
        let mut recorders = Vec::new();
        for (id, layout, cams) in &case.recorders {
            let root = dir.path().join("trees").join(case.site).join(id);
            if !cams.is_empty() {
                write_tree(&root, *layout, cams, now, case.recorder_clock_ahead);
            }
            recorders.push((*id, *layout, root));
        }
        configs.insert(
            case.site,
            (probe_config(dir.path(), case.site, &recorders), recorders),
        );
    }

    // Round one: every site reports what it has.
    let mut seqs: BTreeMap<&str, u64> = BTreeMap::new();
    for case in &cases {
        let (cfg, _) = &configs[case.site];
        let statuses = scan(cfg, case.probe_clock_off, Duration::zero());
        report(
            &c,
            &fleet,
            case.site,
            statuses,
            seqs.entry(case.site).or_default(),
        )
        .await;
    }

    // Half an hour later: a camera's folder is gone, a recorder dropped from a probe's
    // configuration, a site's probe silent; everyone else reports again.
    clock.advance(std::time::Duration::from_secs(PAUSE as u64 * 60));
    let later = Duration::minutes(PAUSE);
    for case in &cases {
        let (cfg, recorders) = &configs[case.site];
        let cfg = match case.site {
            "silent" => continue,
            "gone-camera" => {
                std::fs::remove_dir_all(recorders[0].2.join("cam4")).expect("remove camera");
                cfg.clone()
            }
            "dropped-recorder" => probe_config(dir.path(), case.site, &recorders[..1]),
            _ => cfg.clone(),
        };
        let mut statuses = scan(&cfg, case.probe_clock_off, later);
        if case.site == "spool-overflow" {
            statuses[0].dropped_statuses = 34;
        }
        report(
            &c,
            &fleet,
            case.site,
            statuses,
            seqs.entry(case.site).or_default(),
        )
        .await;
    }

    let mut q = c.query_client(&fleet, "ops").await.expect("query");
    let resp: ListSitesResponse = q
        .list_sites(ListSitesRequest::default())
        .await
        .expect("list")
        .into_inner();
    let by_name: BTreeMap<&str, &SiteReport> =
        resp.sites.iter().map(|s| (s.site.as_str(), s)).collect();

    let mut wrong = Vec::new();
    let mut all = cases
        .iter()
        .map(|c| (c.site, c.expect.clone(), c.names.clone()))
        .collect::<Vec<_>>();
    all.push((
        "never-reported",
        vec![VerdictKind::NeverReported],
        Vec::new(),
    ));
    for (site, expect, names) in &all {
        let Some(report) = by_name.get(site) else {
            wrong.push(format!("{site}: not listed"));
            continue;
        };
        let mut expect = expect.clone();
        expect.sort_by_key(|k| *k as i32);
        let got = problem_kinds(report);
        if got != expect {
            let details: Vec<&str> = report.verdicts.iter().map(|v| v.detail.as_str()).collect();
            wrong.push(format!(
                "{site}: expected {expect:?}, got {got:?}: {details:?}"
            ));
            continue;
        }
        for n in names {
            if !report
                .verdicts
                .iter()
                .any(|v| v.cameras.iter().any(|c| c == n))
            {
                wrong.push(format!("{site}: no verdict names camera {n}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "ListSites disagrees with the faults:\n{}",
        wrong.join("\n")
    );

    assert!(
        wrong.is_empty(),
        "the digest disagrees with ListSites:\n{}",
        wrong.join("\n")
    );
    // The digests say the same, in both languages: each site alone in a digest, so that what
    // the digest shows of it cannot be confused with another site.
    let eval_now = clock.now();
    for lang in Language::ALL {
        let tz = parse_tz(ZONE).expect("zone");
        let opts = RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y");
        for (site, expect, names) in &all {
            let report = by_name[site];
            let alone = ListSitesResponse {
                next_page_token: String::new(),
                sites: vec![report.clone()],
                evaluated_at: resp.evaluated_at,
            };
            let digest = render_digest(&FleetView::Reachable(&alone), eval_now, &opts);
            for part in [&digest.text, &digest.html] {
                let flat = part.replace("=\r\n", "").replace("\r\n", "\n");
                for k in expect.iter().filter(|k| **k != VerdictKind::Ok) {
                    let label = kind_label(lang, *k);
                    let label_html = maud::html! { (label) }.into_string();
                    if !flat.contains(label) && !flat.contains(&label_html) {
                        wrong.push(format!("{lang:?} digest of {site}: no {label:?}"));
                    }
                }
                for n in names {
                    if !flat.contains(n) {
                        wrong.push(format!("{lang:?} digest of {site}: camera {n} not named"));
                    }
                }
                if expect == &[VerdictKind::Ok] {
                    for k in problem_kinds_all() {
                        let label = kind_label(lang, k);
                        if flat.contains(&format!("{label}:"))
                            || flat.contains(&format!("[{label}]"))
                        {
                            wrong.push(format!("{lang:?} digest of healthy {site} says {label:?}"));
                        }
                    }
                }
            }
            // Each finding's sentence, in this language, is in the text part.
            for v in report
                .verdicts
                .iter()
                .filter(|v| v.kind() != VerdictKind::Ok)
            {
                let s = sentence(v, lang, &opts);
                let text = digest.text.split_whitespace().collect::<Vec<_>>().join(" ");
                let want = s.split_whitespace().collect::<Vec<_>>().join(" ");
                if !text.contains(&want) {
                    wrong.push(format!("{lang:?} text digest of {site} lacks {want:?}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the digest disagrees with ListSites:\n{}",
        wrong.join("\n")
    );
    c.stop().await;
}

fn problem_kinds_all() -> Vec<VerdictKind> {
    (2..=14)
        .filter_map(|i| VerdictKind::try_from(i).ok())
        .collect()
}
