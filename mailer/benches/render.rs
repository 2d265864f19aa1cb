//! Digest rendering speed and size (run by `bench/mailer.sh`, or `cargo bench -p vigia-mailer
//! --bench render`): the whole digest (model, complete report, summarised body when needed,
//! text part, CSV) for 10,000 sites (target ≤ 100 ms, median of several runs), and the HTML
//! body's size for 1,000 and 300 sites (must stay under Gmail's 102 KB clipping limit) with the
//! attachments' sizes. `--export DIR` also writes the fleets as JSON rows for the baseline script.

#[path = "../tests/support/fleet.rs"]
mod fleet;

use std::time::{Duration, Instant};
use vigia::pb::ListSitesResponse;
use vigia_mailer::render::rows::FleetRows;
use vigia_mailer::render::{render_digest, FleetView, RenderOptions, Rendered};
use vigia_mailer::Language;

/// The mailer binary's allocator (`mailer/src/main.rs`), so the bench times what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 21;
const TARGET_MS: f64 = 100.0;
const GMAIL_CLIP: usize = 102 * 1024;

/// The median time of `RUNS` runs of `f` (its result dropped outside the timing).
fn median_of<T>(mut f: impl FnMut() -> T) -> Duration {
    let runs = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let out = std::hint::black_box(f());
            let took = t.elapsed();
            drop(out);
            took
        })
        .collect();
    median(runs).0
}

/// (median, fastest) of the runs.
fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn time_render(
    fleet: &ListSitesResponse,
    opts: &RenderOptions,
) -> ((Duration, Duration), Rendered) {
    let mut times = Vec::with_capacity(RUNS);
    // One warm-up run, then the measured ones.
    let mut last = render_digest(&FleetView::Reachable(fleet), fleet::now(), opts);
    for _ in 0..RUNS {
        let t = Instant::now();
        last = render_digest(&FleetView::Reachable(fleet), fleet::now(), opts);
        times.push(t.elapsed());
    }
    (median(times), last)
}

/// The attachments' sizes, `-` when the body holds everything.
fn attached(r: &Rendered) -> String {
    if r.attachments.is_empty() {
        return "-".into();
    }
    r.attachments
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a.name.rsplit('.').next().unwrap_or(""),
                a.bytes.len()
            )
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The rows the old tool's table had, for the Python baseline.
fn export(fleet: &ListSitesResponse, path: &std::path::Path) {
    let rows: Vec<serde_json::Value> = fleet
        .sites
        .iter()
        .map(|s| {
            let st = s.recorders.first().and_then(|r| r.status.as_ref());
            let ts = |t: Option<&prost_types::Timestamp>| t.map(|t| t.seconds);
            serde_json::json!({
                "site": s.site,
                "technology": st.map(|x| x.technology().as_str_name()).unwrap_or(""),
                "oldest": ts(st.and_then(|x| x.oldest_recording.as_ref())),
                "newest": ts(st.and_then(|x| x.newest_recording.as_ref())),
                "status": vigia::rules::worst(&s.verdicts).as_str_name(),
                "days": st.map(|x| x.days_recorded).unwrap_or(0),
                "min_days": s.min_retention_days,
                "recorded_days": st.map(|x| x.recorded_days.clone()).unwrap_or_default(),
                "details": s.verdicts.iter().map(|v| v.detail.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = serde_json::to_string(&rows).expect("json");
    std::fs::write(path, text).expect("write export");
}

fn options(lang: Language) -> RenderOptions {
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let export_dir = args
        .iter()
        .position(|a| a == "--export")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let opts = options(Language::PtBr);

    println!("mailer render benchmark ({RUNS} runs each, median; language pt-BR)");
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>11} {:>10}  attached",
        "fleet", "median", "fastest", "/100ms", "body bytes", "text bytes"
    );
    for (n, every, label) in [
        (10_000usize, 10usize, "10,000 sites, 10% problems"),
        (10_000, 1, "10,000 sites, all problems"),
    ] {
        let f = fleet::big_fleet(n, every);
        let ((t, fastest), r) = time_render(&f, &opts);
        let ms = t.as_secs_f64() * 1000.0;
        // The same digest split as the mailer runs it: each page's bytes decoded leanly and
        // folded into rows while the fleet is read, then the render from the rows. Beside it,
        // the contract's full decode of the same bytes: what the mailer did with the answer
        // before it folded pages (its render then started from the decoded response).
        let wire = prost::Message::encode_to_vec(&f);
        let fold = median_of(|| {
            let mut rows = FleetRows::new();
            rows.fold(prost::Message::decode(wire.as_slice()).unwrap_or_default());
            rows
        });
        let full_decode = median_of(|| {
            <ListSitesResponse as prost::Message>::decode(wire.as_slice()).unwrap_or_default()
        });
        let rows = FleetRows::from_response(&f);
        let from_rows = median_of(|| render_digest(&FleetView::Rows(&rows), fleet::now(), &opts));
        println!(
            "  split of {label}: lean decode + fold {:.1}ms + render from rows {:.1}ms; the full decode instead {:.1}ms ({} bytes on the wire)",
            fold.as_secs_f64() * 1000.0,
            from_rows.as_secs_f64() * 1000.0,
            full_decode.as_secs_f64() * 1000.0,
            wire.len()
        );
        println!(
            "{label:<34} {ms:>8.1}ms {:>8.1}ms {:>7.2}x {:>11} {:>10}  {}",
            fastest.as_secs_f64() * 1000.0,
            ms / TARGET_MS,
            r.html.len(),
            r.text.len(),
            attached(&r)
        );
        if let Some(dir) = &export_dir {
            if every == 10 {
                export(&f, &dir.join("fleet-10000.json"));
                std::fs::write(dir.join("vigia-10000-ms.txt"), format!("{ms:.3}"))
                    .expect("write median");
            }
        }
    }
    println!();
    println!(
        "{:<34} {:>11} {:>10} {:>6}  attached",
        "fleet", "body bytes", "limit", "share"
    );
    for (n, every, label) in [
        (1000usize, 10usize, "1,000 sites, 10% problems"),
        (300, 10, "300 sites, 10% problems"),
        (300, 4, "300 sites, 25% problems"),
        (300, 1, "300 sites, all problems"),
        (100, 10, "100 sites, 10% problems"),
    ] {
        let f = fleet::big_fleet(n, every);
        let r = render_digest(&FleetView::Reachable(&f), fleet::now(), &opts);
        println!(
            "{label:<34} {:>11} {:>10} {:>5.0}%  {}",
            r.html.len(),
            GMAIL_CLIP,
            100.0 * r.html.len() as f64 / GMAIL_CLIP as f64,
            attached(&r)
        );
        if let Some(dir) = &export_dir {
            if n == 300 && every == 10 {
                export(&f, &dir.join("fleet-300.json"));
            }
        }
    }
}
