//! Which findings alert: the kinds that mean "not recording", never an acknowledged one, and an
//! acknowledgement is not announced as a recovery (the finding alerts again when it ends).

mod support;

use std::collections::BTreeSet;
use support::fleet::{acknowledge, every_kind_fleet, now};
use vigia::pb::{ListSitesResponse, VerdictKind};
use vigia_mailer::alert_policy::Policy;
use vigia_mailer::render::RenderOptions;
use vigia_mailer::service::alert_changes;
use vigia_mailer::state::AlertMemory;
use vigia_mailer::Language;

fn opts() -> RenderOptions {
    let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
    RenderOptions::new(
        Language::En,
        tz,
        Language::En.default_date_format(),
        "%d/%m/%Y",
    )
}

/// Alerts at once (no hold), to see which findings alert.
fn at_once() -> Policy {
    Policy {
        hold_for: std::time::Duration::ZERO,
        ..Policy::default()
    }
}

fn entered(fleet: &ListSitesResponse, stored: &AlertMemory) -> BTreeSet<(String, VerdictKind)> {
    let (changes, _, _) = alert_changes(fleet, stored, now(), &at_once(), &opts());
    changes
        .iter()
        .filter(|c| c.entered)
        .map(|c| (c.site.clone(), c.kind))
        .collect()
}

#[test]
fn not_recording_kinds_alert_and_acknowledged_ones_do_not() {
    let fleet = every_kind_fleet();
    let got = entered(&fleet, &AlertMemory::new());
    let want: BTreeSet<(String, VerdictKind)> = [
        ("loja-camera", VerdictKind::CameraLate),
        ("loja-dock", VerdictKind::CameraLate),
        ("loja-dropped", VerdictKind::RecorderSilent),
        ("loja-empty", VerdictKind::NotWriting),
        ("loja-late", VerdictKind::Late),
        ("loja-missing", VerdictKind::CameraMissing),
        ("loja-multi", VerdictKind::Late),
        ("loja-scan", VerdictKind::ScanError),
        ("loja-silent", VerdictKind::Silent),
    ]
    .into_iter()
    .map(|(s, k)| (s.to_string(), k))
    .collect();
    assert_eq!(got, want);
    // Alert details are the email's sentences, naming the recorder.
    let (changes, _, _) = alert_changes(&fleet, &AlertMemory::new(), now(), &at_once(), &opts());
    let late = changes
        .iter()
        .find(|c| c.site == "loja-late")
        .expect("late");
    assert_eq!(
        late.detail,
        "[nvr] newest recording 28/11/2026 00:00 (6h 58m before the scan)"
    );
}

#[test]
fn an_acknowledged_finding_is_quiet_until_the_acknowledgement_ends() {
    let mut fleet = every_kind_fleet();
    let late = fleet
        .sites
        .iter_mut()
        .find(|s| s.site == "loja-late")
        .expect("late site");
    let open = late.clone();
    acknowledge(
        late,
        VerdictKind::Late,
        "ana",
        "recorder being replaced",
        now(),
    );
    // Never alerted: acknowledged before the first check, nothing to say.
    let got = entered(&fleet, &AlertMemory::new());
    assert!(!got.iter().any(|(s, _)| s == "loja-late"), "{got:?}");
    // Alerted before, acknowledged now: no "recovered" email, the state goes quiet.
    let mut unacked = fleet.clone();
    *unacked
        .sites
        .iter_mut()
        .find(|s| s.site == "loja-late")
        .expect("late site") = open.clone();
    let (_, _, stored) = alert_changes(&unacked, &AlertMemory::new(), now(), &at_once(), &opts());
    assert!(stored.keys().any(|k| k.site == "loja-late"), "alerted");
    let (changes, _, updates) = alert_changes(&fleet, &stored, now(), &at_once(), &opts());
    assert!(
        !changes.iter().any(|c| c.site == "loja-late"),
        "an acknowledgement is not a recovery: {changes:?}"
    );
    assert!(
        !updates.keys().any(|k| k.site == "loja-late"),
        "forgotten quietly"
    );
    // The acknowledgement is gone (the collector dropped it): the finding alerts again.
    let site = fleet
        .sites
        .iter_mut()
        .find(|s| s.site == "loja-late")
        .expect("late site");
    *site = open;
    let got = entered(&fleet, &updates);
    assert!(
        got.contains(&("loja-late".to_string(), VerdictKind::Late)),
        "{got:?}"
    );
}
