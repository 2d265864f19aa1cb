//! Six-field cron schedules read in a real IANA zone, shared by the probe's scan schedule and
//! the mailer's digest and alert slots. The expression is parsed with croner (seconds required,
//! day-of-month AND day-of-week, as tokio-cron-scheduler reads it) and the next slot is
//! computed on zone-aware times at every step, so a 07:00 Europe/Berlin digest stays at 07:00
//! across both DST changes (tests below).
//!
//! The schedules run on plain tokio timers, not on tokio-cron-scheduler (docs/scheduling.md,
//! `bench/job_scheduler.sh`): its `_tz` jobs keep the UTC offset of the day they were created
//! and fire an hour off after a DST change (PITFALLS.md; upstream PRs #100 and #108 are open);
//! and its one-shot jobs at an instant computed here fired 0.57-0.72 s *before* the instant
//! (12 of 12: it stores the instant as whole seconds counted from "now", rounded down), when
//! `latest_at_or_before` still names the previous slot. Its ticker also polls every 500 ms for
//! the life of the process (48 wake-ups per idle 10 s against 6), and 11 of its tasks stay alive
//! after `shutdown()`. The loops that use this module sleep until the instant (in naps of at
//! most a minute, so a changed wall clock is noticed), fire 0-1 ms after it, and end with the
//! shutdown signal.

use chrono::{DateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::fmt;

/// A parsed six-field cron expression (`sec min hour day-of-month month day-of-week`).
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    cron: Cron,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a cron expression was refused: the count of fields (five is the classic crontab, which
/// gets its own hint), or croner's reason. The expression is kept so the message quotes it.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// Five fields: a crontab line without the seconds.
    #[error("{text:?} has five fields; six are needed, seconds first (e.g. \"0 {}\", or \"0 0 7 * * *\" for 07:00 every day)", .text.trim())]
    FiveFields {
        /// The expression as written.
        text: String,
    },
    /// Neither five nor six fields.
    #[error("{text:?} has {fields} field(s); six are needed, seconds first: \"sec min hour day-of-month month day-of-week\", e.g. \"0 0 7 * * *\"")]
    FieldCount {
        /// The expression as written.
        text: String,
        /// How many whitespace-separated fields it has.
        fields: usize,
    },
    /// Six fields that croner refuses (a value out of range, an unknown name...).
    #[error("{text:?} is not a valid cron schedule (a six-field cron expression, seconds first, e.g. \"0 */5 * * * *\"): {source}")]
    Syntax {
        /// The expression as written.
        text: String,
        /// croner's reason.
        source: croner::errors::CronError,
    },
}

impl CronSchedule {
    /// Parses six fields, seconds first; five fields (the classic crontab) get a hint.
    pub fn parse(text: &str) -> Result<CronSchedule, CronError> {
        let fields = text.split_whitespace().count();
        if fields == 5 {
            return Err(CronError::FiveFields { text: text.into() });
        }
        if fields != 6 {
            return Err(CronError::FieldCount {
                text: text.into(),
                fields,
            });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|source| CronError::Syntax {
                text: text.into(),
                source,
            })?;
        Ok(CronSchedule {
            text: text.trim().to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first slot strictly after `t` in zone `tz` (whole seconds).
    ///
    /// croner skips the second pass of the hour repeated when DST ends (a `*/5` schedule would
    /// go silent for 65 minutes), so the slot is also sought on the fixed UTC offsets in force
    /// around `t`, keeping a candidate only when the zone really shows that wall time at that
    /// instant; the earliest wins. Wall times that do not exist (DST start) are left to croner.
    pub fn next_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let t = whole_second(t);
        // In the repeated hour croner may answer with the first pass, before `t`: ignored.
        let mut best = self
            .cron
            .find_next_occurrence(&t.with_timezone(&tz), false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
            .filter(|n| *n > t);
        let day = chrono::Duration::hours(26);
        let offsets: std::collections::BTreeSet<i32> = [t - day, t, t + day]
            .iter()
            .map(|i| {
                tz.offset_from_utc_datetime(&i.naive_utc())
                    .fix()
                    .local_minus_utc()
            })
            .collect();
        for secs in offsets {
            let Some(fixed) = chrono::FixedOffset::east_opt(secs) else {
                continue;
            };
            let Ok(candidate) = self
                .cron
                .find_next_occurrence(&t.with_timezone(&fixed), false)
            else {
                continue;
            };
            let instant = candidate.with_timezone(&Utc);
            let real = tz.offset_from_utc_datetime(&instant.naive_utc()).fix();
            if real.local_minus_utc() == secs && instant > t && best.is_none_or(|b| instant < b) {
                best = Some(instant);
            }
        }
        best
    }

    /// The latest slot at or before `t` in zone `tz` (what should have happened by now).
    pub fn latest_at_or_before(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&whole_second(t).with_timezone(&tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// croner keeps the sub-second part of its starting point; slots must not inherit it.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    //! The DST cases the probe's scans and the mailer's digests rely on (they used to live in
    //! `mailer/src/schedule.rs` and `probe/src/schedule.rs`).
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn berlin() -> Tz {
        "Europe/Berlin".parse().expect("zone")
    }

    #[test]
    fn five_fields_are_refused_with_a_hint() {
        let e = CronSchedule::parse("0 7 * * *").expect_err("five fields");
        assert!(matches!(e, CronError::FiveFields { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("five fields"), "{text}");
        assert!(text.contains("seconds first"), "{text}");
        assert!(text.contains("\"0 0 7 * * *\""), "{text}");
        let e = CronSchedule::parse("0 0 7 * *  * * *").expect_err("eight fields");
        assert!(
            matches!(e, CronError::FieldCount { fields: 8, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("8 field"), "{e}");
        let e = CronSchedule::parse("0 0 25 * * *").expect_err("hour 25");
        assert!(matches!(e, CronError::Syntax { .. }), "{e:?}");
        assert!(e.to_string().contains("not a valid cron"), "{e}");
        // The cause is reachable by type too, for a caller that prints the chain.
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn berlin_07_00_stays_07_00_across_both_dst_changes() {
        let tz = berlin();
        let s = CronSchedule::parse("0 0 7 * * *").expect("schedule");
        // Spring: CET (UTC+1) until 2026-03-29 02:00, then CEST (UTC+2).
        let sat = s.next_after(utc("2026-03-28T00:00:00Z"), tz).expect("slot");
        assert_eq!(sat, utc("2026-03-28T06:00:00Z"));
        let sun = s.next_after(sat, tz).expect("slot");
        assert_eq!(sun, utc("2026-03-29T05:00:00Z"), "07:00 CEST, not 08:00");
        let mon = s.next_after(sun, tz).expect("slot");
        assert_eq!(mon, utc("2026-03-30T05:00:00Z"));
        // Autumn: back to CET on 2026-10-25.
        let sat = s.next_after(utc("2026-10-24T00:00:00Z"), tz).expect("slot");
        assert_eq!(sat, utc("2026-10-24T05:00:00Z"));
        let sun = s.next_after(sat, tz).expect("slot");
        assert_eq!(sun, utc("2026-10-25T06:00:00Z"), "07:00 CET, not 06:00");
        // Catch-up asks the same question backwards.
        assert_eq!(
            s.latest_at_or_before(utc("2026-03-29T12:00:00Z"), tz),
            Some(utc("2026-03-29T05:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-03-29T04:59:59Z"), tz),
            Some(utc("2026-03-28T06:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-03-29T05:00:00Z"), tz),
            Some(utc("2026-03-29T05:00:00Z")),
            "a slot is due at its own instant"
        );
    }

    #[test]
    fn a_daily_slot_makes_a_23_hour_and_a_25_hour_day() {
        // The report interval the probe announces is the gap to the next slot.
        let tz = berlin();
        let s = CronSchedule::parse("0 0 7 * * *").expect("schedule");
        // Spring forward on 2026-03-29: 07:00 CET is 06:00 UTC before, 05:00 UTC after.
        let before = utc("2026-03-28T06:00:00Z");
        let after = s.next_after(before, tz).expect("next");
        assert_eq!(after, utc("2026-03-29T05:00:00Z"));
        assert_eq!(after - before, chrono::Duration::hours(23));
        // Fall back on 2026-10-25: back to 06:00 UTC, after a 25-hour day.
        let before = utc("2026-10-24T05:00:00Z");
        let after = s.next_after(before, tz).expect("next");
        assert_eq!(after, utc("2026-10-25T06:00:00Z"));
        assert_eq!(after - before, chrono::Duration::hours(25));
    }

    #[test]
    fn an_every_five_minutes_schedule_never_stalls_across_the_dst_changes() {
        let tz = berlin();
        let s = CronSchedule::parse("0 */5 * * * *").expect("schedule");
        for start in [utc("2026-03-29T00:30:00Z"), utc("2026-10-25T00:00:00Z")] {
            let mut t = start;
            for _ in 0..48 {
                let n = s.next_after(t, tz).expect("next");
                let gap = (n - t).num_seconds();
                assert_eq!(gap, 300, "gap after {t}: every 5 minutes of real time");
                t = n;
            }
            assert!(
                t - start >= chrono::Duration::hours(3),
                "went past the change"
            );
        }
    }

    #[test]
    fn a_fixed_offset_as_tokio_cron_scheduler_keeps_it_would_fire_an_hour_late() {
        // What a `_tz` job created in winter computes after the spring change: the offset of
        // its creation (+01:00) applied to a summer date.
        let s = CronSchedule::parse("0 0 7 * * *").expect("schedule");
        let winter = chrono::FixedOffset::east_opt(3600).expect("offset");
        let fixed = winter
            .from_local_datetime(
                &chrono::NaiveDate::from_ymd_opt(2026, 3, 30)
                    .and_then(|d| d.and_hms_opt(7, 0, 0))
                    .expect("date"),
            )
            .single()
            .expect("slot")
            .with_timezone(&Utc);
        assert_eq!(fixed, utc("2026-03-30T06:00:00Z"), "08:00 CEST: the bug");
        assert_eq!(
            s.next_after(utc("2026-03-30T00:00:00Z"), berlin()),
            Some(utc("2026-03-30T05:00:00Z")),
            "07:00 CEST: ours"
        );
    }

    #[test]
    fn a_slot_inside_the_spring_gap_still_fires_once() {
        // 02:30 does not exist in Berlin on 2026-03-29; the job must not vanish that day.
        let tz = berlin();
        let s = CronSchedule::parse("0 30 2 * * *").expect("schedule");
        let next = s.next_after(utc("2026-03-28T12:00:00Z"), tz).expect("slot");
        assert!(next < utc("2026-03-29T12:00:00Z"), "{next}");
        let after = s.next_after(next, tz).expect("slot");
        assert_eq!(after, utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn slots_are_whole_seconds() {
        let tz: Tz = "UTC".parse().expect("zone");
        let s = CronSchedule::parse("0 0 7 * * *").expect("schedule");
        let t = utc("2026-11-28T07:00:00.250Z");
        assert_eq!(
            s.latest_at_or_before(t, tz),
            Some(utc("2026-11-28T07:00:00Z"))
        );
        assert_eq!(s.next_after(t, tz), Some(utc("2026-11-29T07:00:00Z")));
    }

    #[test]
    fn every_ten_minutes_in_sao_paulo() {
        let s = CronSchedule::parse("0 */10 * * * *").expect("schedule");
        let tz: Tz = "America/Sao_Paulo".parse().expect("zone");
        assert_eq!(
            s.next_after(utc("2026-11-28T10:03:00Z"), tz),
            Some(utc("2026-11-28T10:10:00Z"))
        );
    }
}
