//! Six-field cron schedules read in a real IANA zone, shared by the probe's scan schedule and
//! the mailer's digest and alert slots. tokio-cron-scheduler's `_tz` jobs keep the UTC offset of
//! the day they were created, so a 07:00 Europe/Berlin job fires at 08:00 after the spring
//! change (PITFALLS.md); instead the expression is parsed with croner (the parser
//! tokio-cron-scheduler itself uses, with its options: seconds required, day-of-month AND
//! day-of-week) and the next slot is computed on zone-aware times at every step.

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

impl CronSchedule {
    /// Parses six fields, seconds first; five fields (the classic crontab) get a hint.
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let fields = text.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "{text:?} has five fields; six are needed, seconds first (e.g. \"0 {}\", or \"0 0 7 * * *\" for 07:00 every day)",
                text.trim()
            ));
        }
        if fields != 6 {
            return Err(format!(
                "{text:?} has {fields} field(s); six are needed, seconds first: \"sec min hour day-of-month month day-of-week\", e.g. \"0 0 7 * * *\""
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|e| {
                format!(
                    "{text:?} is not a valid cron schedule (a six-field cron expression, seconds first, e.g. \"0 */5 * * * *\"): {e}"
                )
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
