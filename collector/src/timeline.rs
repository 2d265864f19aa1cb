//! A site's verdict timeline: for each verdict (kind and subject: recorder, camera) the
//! intervals `[start, end)` during which it held, found by running `vigia::rules::site_verdicts`
//! over the site's history — the rules GetSite applies now, applied at every past instant.
//!
//! Between two arrivals the verdicts of a site can change only when the site (or a recorder)
//! becomes silent (`report_interval + silent_grace` after its last status) or a report of lost
//! statuses expires (a day after it): [`evaluate`] judges the site at exactly those instants
//! and at every arrival, so its answer is exact, not sampled.
//!
//! What the timeline cannot know from history is left out, and said so in the RPC's docs: the
//! inventory (CAMERA_MISSING, retired recorders), acknowledgements, and NEVER_REPORTED before
//! the first status. The interval a site is judged by is the one its latest status announced.
//!
//! Thinning (`crate::thin`) stores the timeline of the history it thins as [`Fragment`]s, so an
//! answer is the stored fragments and the live evaluation of what is not thinned, stitched.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigia::pb::{HistoryEntry, RecordingStatus};
use vigia::rules::{site_verdicts, RecorderInput, Rules, SiteInput};

/// A verdict's identity in a timeline: kind, recorder (empty: site-wide), camera (empty:
/// the recorder as a whole).
pub type Subject = (i32, String, String);

/// One verdict held over `[start, end)` (nanoseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fragment {
    /// When it started to hold.
    pub start: i64,
    /// The verdict.
    pub subject: Subject,
    /// The first instant it no longer held (or the end of the evaluated range).
    pub end: i64,
}

/// Nanoseconds since the epoch (saturating far outside 1677–2262).
pub fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The instant of `nanos`.
pub fn instant(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// One status of the site in arrival order, with its arrival time.
struct Arrival<'a> {
    at: DateTime<Utc>,
    status: &'a RecordingStatus,
}

/// What the site looked like at an instant: each recorder's latest status, the site's latest
/// arrival and announced interval, the latest report of lost statuses.
#[derive(Default)]
struct State<'a> {
    recorders: BTreeMap<&'a str, Arrival<'a>>,
    last_contact: Option<DateTime<Utc>>,
    interval: Option<Duration>,
    last_drop: Option<(u64, DateTime<Utc>)>,
}

impl<'a> State<'a> {
    fn apply(&mut self, at: DateTime<Utc>, status: &'a RecordingStatus) {
        if status.dropped_statuses > 0 {
            self.last_drop = Some((status.dropped_statuses, at));
        }
        if self.last_contact.is_none_or(|t| t <= at) {
            self.last_contact = Some(at);
            self.interval = status
                .report_interval
                .and_then(|d| Duration::try_from(d).ok());
        }
        self.recorders
            .insert(status.recorder.as_str(), Arrival { at, status });
    }

    /// The verdicts at `now` (none before the first status).
    fn verdicts(&self, now: DateTime<Utc>, rules: &Rules, fallback: Duration) -> BTreeSet<Subject> {
        if self.recorders.is_empty() {
            return BTreeSet::new();
        }
        let input = SiteInput {
            expected: false,
            retired: false,
            last_contact: self.last_contact,
            report_interval: Some(self.interval.unwrap_or(fallback)),
            recorders: self
                .recorders
                .values()
                .map(|a| RecorderInput {
                    status: a.status,
                    received_at: a.at,
                })
                .collect(),
            inventory: &[],
            last_drop: self.last_drop.map(|(n, at)| (n, at, n)),
        };
        site_verdicts(&input, now, rules)
            .into_iter()
            .map(|v| {
                let camera = v.cameras.first().cloned().unwrap_or_default();
                (v.kind, v.recorder, camera)
            })
            .collect()
    }

    /// The next instant after `now` at which time alone can change the verdicts.
    fn next_by_time(
        &self,
        now: DateTime<Utc>,
        rules: &Rules,
        fallback: Duration,
    ) -> Option<DateTime<Utc>> {
        let quiet =
            chrono::Duration::from_std(self.interval.unwrap_or(fallback) + rules.silent_grace)
                .ok()?
                + chrono::Duration::nanoseconds(1);
        let silences = self
            .recorders
            .values()
            .map(|a| a.at)
            .chain(self.last_contact)
            .filter_map(|t| t.checked_add_signed(quiet));
        let drop_ends = self
            .last_drop
            .and_then(|(_, at)| at.checked_add_signed(DROP_SHOWN_FOR));
        silences.chain(drop_ends).filter(|t| *t > now).min()
    }
}

/// How long DATA_DROPPED holds after the report (`vigia::rules`'s data_dropped::SHOWN_FOR).
const DROP_SHOWN_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The verdict fragments of a site over `[from, to)` from `entries` (any order; those before
/// `from` only set the state at `from`, so give at least each recorder's latest status before
/// it, and the latest one that reported lost statuses). A verdict holding at `to` ends there.
pub fn evaluate(
    entries: &[HistoryEntry],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rules: &Rules,
    fallback_interval: Duration,
) -> Vec<Fragment> {
    let mut arrivals: Vec<Arrival<'_>> = entries
        .iter()
        .filter_map(|e| {
            Some(Arrival {
                at: crate::store::received_at(e)?,
                status: e.status.as_ref()?,
            })
        })
        .filter(|a| a.at < to)
        .collect();
    arrivals.sort_by_key(|a| a.at);
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let mut state = State::default();
    let mut next = 0;
    while next < arrivals.len() && arrivals[next].at <= from {
        state.apply(arrivals[next].at, arrivals[next].status);
        next += 1;
    }
    let mut open: BTreeMap<Subject, DateTime<Utc>> = state
        .verdicts(from, rules, fallback_interval)
        .into_iter()
        .map(|s| (s, from))
        .collect();
    let mut now = from;
    loop {
        let by_arrival = arrivals.get(next).map(|a| a.at);
        let by_time = state.next_by_time(now, rules, fallback_interval);
        let at = match (by_arrival, by_time) {
            (Some(a), Some(t)) => a.min(t),
            (Some(a), None) => a,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if at >= to {
            break;
        }
        while next < arrivals.len() && arrivals[next].at <= at {
            state.apply(arrivals[next].at, arrivals[next].status);
            next += 1;
        }
        now = at;
        let held = state.verdicts(now, rules, fallback_interval);
        let ended: Vec<Subject> = open
            .keys()
            .filter(|s| !held.contains(*s))
            .cloned()
            .collect();
        for subject in ended {
            if let Some(start) = open.remove(&subject) {
                out.push(Fragment {
                    start: nanos(start),
                    subject,
                    end: nanos(now),
                });
            }
        }
        for subject in held {
            open.entry(subject).or_insert(now);
        }
    }
    out.extend(open.into_iter().map(|(subject, start)| Fragment {
        start: nanos(start),
        subject,
        end: nanos(to),
    }));
    out.sort();
    out
}

/// Joins fragments of one verdict that meet (`end == start`: cut at a thinning boundary) and
/// clips them to `[from, to)`; ordered by start, then verdict.
pub fn stitch(mut fragments: Vec<Fragment>, from: i64, to: i64) -> Vec<Fragment> {
    fragments.sort_by(|a, b| (&a.subject, a.start).cmp(&(&b.subject, b.start)));
    let mut out: Vec<Fragment> = Vec::with_capacity(fragments.len());
    for f in fragments {
        match out.last_mut() {
            Some(last) if last.subject == f.subject && last.end >= f.start => {
                last.end = last.end.max(f.end);
            }
            _ => out.push(f),
        }
    }
    out.retain_mut(|f| {
        f.start = f.start.max(from);
        f.end = f.end.min(to);
        f.start < f.end
    });
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia::days::to_timestamp;
    use vigia::pb::VerdictKind;

    fn entry(at: DateTime<Utc>, newest: DateTime<Utc>) -> HistoryEntry {
        HistoryEntry {
            status: Some(RecordingStatus {
                site: "s".into(),
                recorder: "r".into(),
                observed_at: Some(to_timestamp(at)),
                newest_recording: Some(to_timestamp(newest)),
                file_count: 10,
                total_bytes: 10,
                outcome: vigia::pb::ScanOutcome::Ok as i32,
                report_interval: Some(prost_types::Duration {
                    seconds: 300,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            received_at: Some(to_timestamp(at)),
        }
    }

    fn kinds(f: &[Fragment]) -> Vec<(VerdictKind, i64, i64)> {
        f.iter()
            .map(|f| {
                (
                    VerdictKind::try_from(f.subject.0).unwrap_or_default(),
                    f.start,
                    f.end,
                )
            })
            .collect()
    }

    #[test]
    fn a_silence_starts_exactly_after_interval_and_grace_and_ends_with_the_next_report() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let min = chrono::Duration::minutes;
        let entries = vec![entry(t0, t0), entry(t0 + min(60), t0 + min(60))];
        let rules = Rules::default();
        let f = evaluate(&entries, t0, t0 + min(90), &rules, Duration::from_secs(300));
        let silent_from = nanos(t0 + min(20)) + 1;
        let got = kinds(&f);
        assert!(got.contains(&(VerdictKind::Silent, silent_from, nanos(t0 + min(60)))));
        // Split at the next report and joined again: the same fragments.
        let cut = t0 + min(40);
        let mut halves = evaluate(&entries, t0, cut, &rules, Duration::from_secs(300));
        halves.extend(evaluate(
            &entries,
            cut,
            t0 + min(90),
            &rules,
            Duration::from_secs(300),
        ));
        let all = nanos(t0 + min(90));
        assert_eq!(stitch(halves, nanos(t0), all), stitch(f, nanos(t0), all));
    }
}
