//! The digest in a real browser: Debian's chromium, headless, at a phone's 375 px and at 600 px.
//! Headless chromium keeps its window at least 500 px wide, so the email is laid out in an
//! iframe of the width under test (a viewport of that width, as on the phone). A probe script
//! in the page around it (the email itself never has one) reports the frame's width, the
//! document's width, every problem site's name and verdict as laid out, and any text under
//! 14 px; the test reads the report back from `--dump-dom`. The document must be no wider than
//! its viewport and every problem site's verdict must be on screen.
//!
//! `VIGIA_SCREENSHOTS=DIR` also writes PNGs of each rendering into DIR (what
//! `scripts/digest-screenshots` runs). `scripts/test` installs chromium when it is missing.

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::fleet::{big_fleet, every_kind_fleet, fixed_fleet, now};
use vigia::pb::{ListSitesResponse, VerdictKind};
use vigia::wording::kind_label;
use vigia_mailer::render::changes::remember;
use vigia_mailer::render::{
    render_digest_since, DigestMemory, FleetView, ProblemKey, RenderOptions,
};
use vigia_mailer::Language;

const CHROMIUM: &str = "/usr/bin/chromium";
const WIDTHS: [u32; 2] = [375, 600];
/// Longest a chromium run may take before it is killed and tried again (a page takes about a
/// second; headless chromium now and then never exits on a loaded machine).
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Runs of chromium tried per page.
const ATTEMPTS: u32 = 3;

fn opts(lang: Language) -> RenderOptions {
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    RenderOptions::new(lang, tz, lang.default_date_format(), "%d/%m/%Y")
}

/// (site, verdict label) of every site with an open finding.
fn problem_sites(fleet: &ListSitesResponse, lang: Language) -> Vec<(String, String)> {
    fleet
        .sites
        .iter()
        .filter_map(|s| {
            let open: Vec<_> = s
                .verdicts
                .iter()
                .filter(|v| v.kind() != VerdictKind::Ok && v.acknowledgement.is_none())
                .cloned()
                .collect();
            (!open.is_empty()).then(|| {
                let label = kind_label(lang, vigia::rules::worst(&open));
                (s.site.clone(), label.to_string())
            })
        })
        .collect()
}

/// The email in an iframe `width` px wide and `height` px high, with the probe (or without, for
/// screenshots) in the page around it.
fn harness(mail: &str, width: u32, height: u32, probe: Option<&[(String, String)]>) -> String {
    let doc = mail.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>probe</title></head>\
         <body style=\"margin:0;background:#9e9e9e\"><iframe id=\"mail\" \
         style=\"border:0;display:block;width:{width}px;height:{height}px\" srcdoc=\"{doc}\">\
         </iframe>{}</body></html>",
        probe.map(probe_script).unwrap_or_default()
    )
}

/// The probe: runs after layout, writes its findings into the title as `key=value` lines.
fn probe_script(expected: &[(String, String)]) -> String {
    let list: String = expected
        .iter()
        .map(|(s, l)| format!("[{s:?},{l:?}]"))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"<script>
window.addEventListener('load', function () {{
  var want = [{list}];
  var frame = document.getElementById('mail');
  var win = frame.contentWindow, doc = frame.contentDocument;
  var vw = win.innerWidth, bad = [], small = [];
  var bs = Array.prototype.slice.call(doc.querySelectorAll('b'));
  want.forEach(function (w) {{
    var b = bs.filter(function (e) {{ return e.textContent === w[0]; }})[0];
    if (!b) {{ bad.push(w[0] + ':absent'); return; }}
    var line = b.parentElement;
    if (line.textContent.indexOf(w[1]) < 0) {{ bad.push(w[0] + ':label'); }}
    var shown = [b];
    var badge = b.previousElementSibling;
    if (badge && badge.tagName === 'SPAN') {{
      if (badge.textContent !== w[1]) {{ bad.push(w[0] + ':badge'); }}
      shown.push(badge);
    }}
    shown.forEach(function (e) {{
      var r = e.getBoundingClientRect(), st = win.getComputedStyle(e);
      if (r.width <= 0 || r.height <= 0 || r.left < 0 || r.right > vw + 0.5 ||
          st.visibility === 'hidden' || st.display === 'none') {{
        bad.push(w[0] + ':off-screen(' + Math.round(r.left) + '..' + Math.round(r.right) + ')');
      }}
    }});
  }});
  var walk = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {{
    var n = walk.currentNode, p = n.parentElement;
    if (!n.textContent.trim() || !p || p.closest('table[role=img]')) continue;
    var px = parseFloat(win.getComputedStyle(p).fontSize);
    if (px < 14 && small.length < 5) small.push(px + 'px:' + n.textContent.trim().slice(0, 30));
  }}
  document.title = 'RESULT\nviewport=' + vw + '\nscroll=' + doc.documentElement.scrollWidth +
    '\nheight=' + doc.documentElement.scrollHeight + '\nbad=' + bad.join(',') +
    '\nsmall=' + small.join('|') + '\nEND';
}});
</script>"#
    )
}

/// Runs chromium with the harmless flags and `extra` on `page` (its window at least 500 px
/// wide); returns its stdout.
fn chromium(profile: &Path, width: u32, height: u32, extra: &[String], page: &Path) -> String {
    let stdout = profile.with_extension("out");
    let width = width.max(500);
    for attempt in 1..=ATTEMPTS {
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=5000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .stdin(Stdio::null())
            // A file, not a pipe: a page's DOM is bigger than a pipe holds while we wait.
            .stdout(std::fs::File::create(&stdout).expect("chromium output file"))
            .stderr(Stdio::null())
            // Its own process group, so that a hung run goes with its renderers.
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        let deadline = Instant::now() + RUN_LIMIT;
        let finished = loop {
            match child.try_wait().expect("chromium status") {
                Some(_) => break true,
                None if Instant::now() > deadline => {
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .status();
                    let _ = child.kill();
                    let _ = child.wait();
                    break false;
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        if finished {
            return String::from_utf8_lossy(&std::fs::read(&stdout).expect("chromium output"))
                .into_owned();
        }
        eprintln!(
            "chromium run {attempt} of {ATTEMPTS} on {} hung; killed",
            page.display()
        );
    }
    panic!(
        "chromium did not finish on {} in {ATTEMPTS} runs",
        page.display()
    );
}

/// What the probe reported.
#[derive(Debug)]
struct Layout {
    viewport: u32,
    scroll: u32,
    height: u32,
    bad: String,
    small: String,
}

fn layout(dom: &str) -> Layout {
    let start = dom
        .find("RESULT")
        .unwrap_or_else(|| panic!("no probe result in\n{dom:.2000}"));
    let text = &dom[start..dom[start..].find("END").map_or(dom.len(), |e| start + e)];
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    let num = |k: &str| field(k).parse::<u32>().unwrap_or(0);
    Layout {
        viewport: num("viewport"),
        scroll: num("scroll"),
        height: num("height"),
        bad: field("bad"),
        small: field("small"),
    }
}

#[track_caller]
fn check_in_browser(
    name: &str,
    fleet: &ListSitesResponse,
    previous: Option<&DigestMemory>,
    lang: Language,
) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test does it)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let r = render_digest_since(&FleetView::Reachable(fleet), now(), previous, &opts(lang));
    let expected = problem_sites(fleet, lang);
    assert!(!expected.is_empty());
    let shots: Option<PathBuf> = std::env::var_os("VIGIA_SCREENSHOTS").map(PathBuf::from);
    for width in WIDTHS {
        let probed = dir.path().join(format!("{name}-{width}.probe.html"));
        std::fs::write(&probed, harness(&r.html, width, 2000, Some(&expected)))
            .expect("write the probe page");
        let dom = chromium(
            &dir.path().join(format!("profile-{width}")),
            width,
            2000,
            &["--dump-dom".into()],
            &probed,
        );
        let l = layout(&dom);
        assert_eq!(l.viewport, width, "{name}: the window is {width} px wide");
        assert!(
            l.scroll <= width,
            "{name} at {width} px: the document is {} px wide (scrolls sideways)",
            l.scroll
        );
        assert!(l.bad.is_empty(), "{name} at {width} px: {}", l.bad);
        assert!(
            l.small.is_empty(),
            "{name} at {width} px: text under 14 px: {}",
            l.small
        );
        if let Some(dir_out) = &shots {
            std::fs::create_dir_all(dir_out).expect("screenshot folder");
            let png = dir_out.join(format!("{name}-{width}.png"));
            let height = l.height.clamp(200, 16_000);
            let page = dir.path().join(format!("{name}-{width}.shot.html"));
            std::fs::write(&page, harness(&r.html, width, height, None)).expect("write the page");
            chromium(
                &dir.path().join(format!("shot-{width}")),
                width,
                height,
                &[format!("--screenshot={}", png.display())],
                &page,
            );
            assert!(png.exists(), "no screenshot {}", png.display());
            println!("wrote {} ({width}x{})", png.display(), l.height);
        }
    }
}

#[test]
fn every_kind_reads_at_375_and_600_px_in_both_languages() {
    let fleet = every_kind_fleet();
    // Yesterday's digest had the fixed fleet's problems and one that cleared since: the page
    // shows new, still-open and recovered marks too.
    let mut previous = remember(&fixed_fleet(), None, now() - chrono::Duration::days(2));
    previous.first_seen.insert(
        ProblemKey {
            site: "loja-ok".into(),
            kind: VerdictKind::Late as i32,
            recorder: "nvr".into(),
            camera: String::new(),
        },
        now() - chrono::Duration::days(1),
    );
    check_in_browser("digest-en", &fleet, Some(&previous), Language::En);
    check_in_browser("digest-pt-BR", &fleet, Some(&previous), Language::PtBr);
}

#[test]
fn a_mass_outage_summary_reads_at_375_and_600_px() {
    check_in_browser("outage-300-en", &big_fleet(300, 1), None, Language::En);
}
