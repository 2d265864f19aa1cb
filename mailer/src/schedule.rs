//! When digests and alert checks are due, as pure functions of an instant and a zone.
//!
//! tokio-cron-scheduler's `_tz` jobs fix the zone's UTC offset when the job is created, so a
//! 07:00 Europe/Berlin job created in winter fires at 08:00 after the spring change (see
//! PITFALLS.md). We therefore parse the schedule with croner (the parser tokio-cron-scheduler
//! itself uses, with the same options: seconds required, day-of-month AND day-of-week) and ask
//! it for the next occurrence in the real zone each time, then sleep until that instant. The
//! same functions answer "which slot was due last?" for catching up after a restart, and tests
//! call them with any instant they like.

/// The mailer's schedules are the shared six-field cron schedules of the root crate.
pub use vigia::cron::CronSchedule as Schedule;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use vigia::Tz;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn five_fields_are_refused_with_a_hint() {
        let e = Schedule::parse("0 7 * * *").expect_err("five fields");
        assert!(e.contains("five fields"), "{e}");
        assert!(e.contains("seconds first"), "{e}");
        let e = Schedule::parse("0 0 7 * *  * * *").expect_err("eight fields");
        assert!(e.contains("8 field"), "{e}");
        let e = Schedule::parse("0 0 25 * * *").expect_err("hour 25");
        assert!(e.contains("not a valid cron"), "{e}");
    }

    #[test]
    fn berlin_07_00_stays_07_00_across_both_dst_changes() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let s = Schedule::parse("0 0 7 * * *").expect("schedule");
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
    fn a_fixed_offset_as_tokio_cron_scheduler_keeps_it_would_fire_an_hour_late() {
        // What a `_tz` job created in winter computes after the spring change: the offset of
        // its creation (+01:00) applied to a summer date.
        let s = Schedule::parse("0 0 7 * * *").expect("schedule");
        let winter = chrono::FixedOffset::east_opt(3600).expect("offset");
        let fixed = chrono::TimeZone::from_local_datetime(
            &winter,
            &chrono::NaiveDate::from_ymd_opt(2026, 3, 30)
                .and_then(|d| d.and_hms_opt(7, 0, 0))
                .expect("date"),
        )
        .single()
        .expect("slot")
        .with_timezone(&Utc);
        assert_eq!(fixed, utc("2026-03-30T06:00:00Z"), "08:00 CEST: the bug");
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        assert_eq!(
            s.next_after(utc("2026-03-30T00:00:00Z"), tz),
            Some(utc("2026-03-30T05:00:00Z")),
            "07:00 CEST: ours"
        );
    }

    #[test]
    fn a_slot_inside_the_spring_gap_still_fires_once() {
        // 02:30 does not exist in Berlin on 2026-03-29; the job must not vanish that day.
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let s = Schedule::parse("0 30 2 * * *").expect("schedule");
        let next = s.next_after(utc("2026-03-28T12:00:00Z"), tz).expect("slot");
        assert!(next < utc("2026-03-29T12:00:00Z"), "{next}");
        let after = s.next_after(next, tz).expect("slot");
        assert_eq!(after, utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn slots_are_whole_seconds() {
        let tz: Tz = "UTC".parse().expect("zone");
        let s = Schedule::parse("0 0 7 * * *").expect("schedule");
        let t = utc("2026-11-28T07:00:00.250Z");
        assert_eq!(
            s.latest_at_or_before(t, tz),
            Some(utc("2026-11-28T07:00:00Z"))
        );
        assert_eq!(s.next_after(t, tz), Some(utc("2026-11-29T07:00:00Z")));
    }

    #[test]
    fn every_ten_minutes() {
        let s = Schedule::parse("0 */10 * * * *").expect("schedule");
        let tz: Tz = "America/Sao_Paulo".parse().expect("zone");
        assert_eq!(
            s.next_after(utc("2026-11-28T10:03:00Z"), tz),
            Some(utc("2026-11-28T10:10:00Z"))
        );
    }
}
