//! Calendar days in a site's time zone. The old tool counted "days with recordings" as distinct
//! local dates of file modification times; a day is therefore a date in the probe's IANA zone,
//! not a 24-hour span (DST days last 23 or 25 hours), and timestamps cross the wire in UTC.

use chrono::{DateTime, Days, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Format of a day on the wire and in JSON: `2026-11-28`.
pub const DAY_FORMAT: &str = "%Y-%m-%d";

/// Why a time zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}; expected an IANA name such as \"America/Sao_Paulo\" or \"UTC\"")]
pub struct UnknownZone(pub String);

/// Reads an IANA zone name.
pub fn parse_tz(name: &str) -> Result<Tz, UnknownZone> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownZone(name.to_string()))
}

/// The machine's own zone (Windows included), or UTC when it cannot be told.
pub fn system_tz() -> Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|n| parse_tz(&n).ok())
        .unwrap_or(Tz::UTC)
}

/// The local date of an instant in a zone.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The local date of a Unix time in seconds (files before 1970 have negative times).
pub fn local_date_of_unix(secs: i64, tz: Tz) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp(secs, 0).map(|t| local_date(t, tz))
}

/// The first instant of a local date (its midnight, or the first valid instant after a DST gap).
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut naive = day.and_time(chrono::NaiveTime::MIN);
    // A zone may skip midnight (DST at 00:00, e.g. old Brazilian rules): move to the first valid minute.
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => naive += chrono::Duration::minutes(1),
        }
    }
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// The half-open UTC span `[start, end)` of a local date: 23, 24 or 25 hours.
pub fn day_span(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    (day_start(day, tz), day_start(next, tz))
}

/// Formats a day as on the wire.
pub fn format_day(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

/// Reads a day as on the wire.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    // Every status carries dozens of days and a fleet listing reads them all: the wire's own
    // form (`2026-11-28`) is read directly, anything else as chrono reads `DAY_FORMAT`.
    match canonical_day(s.as_bytes()) {
        Some((y, m, d)) => NaiveDate::from_ymd_opt(y, m, d),
        None => NaiveDate::parse_from_str(s, DAY_FORMAT).ok(),
    }
}

/// The year, month and day of exactly `YYYY-MM-DD` (ten ASCII bytes).
fn canonical_day(b: &[u8]) -> Option<(i32, u32, u32)> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let year = digit(y0)? * 1000 + digit(y1)? * 100 + digit(y2)? * 10 + digit(y3)?;
    let month = digit(m0)? * 10 + digit(m1)?;
    let day = digit(d0)? * 10 + digit(d1)?;
    Some((i32::try_from(year).ok()?, month, day))
}

/// The days missing between the first and the last of `days` (which must be sorted ascending).
/// Stops after `limit` days so a corrupt range (1970 to 2099) cannot make a huge list.
pub fn missing_days(days: &[NaiveDate], limit: usize) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for pair in days.windows(2) {
        let mut d = pair[0];
        while let Some(next) = d.succ_opt() {
            if next >= pair[1] {
                break;
            }
            if out.len() >= limit {
                return out;
            }
            out.push(next);
            d = next;
        }
    }
    out
}

/// The `n` local dates ending with `today`, oldest first (the digest's coverage strip).
pub fn last_n_days(today: NaiveDate, n: u32) -> Vec<NaiveDate> {
    (0..n)
        .rev()
        .filter_map(|i| today.checked_sub_days(Days::new(u64::from(i))))
        .collect()
}

/// Converts a protobuf timestamp to chrono, or None when out of range.
pub fn from_timestamp(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::<Utc>::from_timestamp(ts.seconds, nanos)
}

/// Converts a chrono instant to a protobuf timestamp.
pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test timestamp")
            .with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        parse_day(s).expect("test day")
    }

    #[test]
    fn sao_paulo_midnight_splits_days_at_03_utc() {
        let tz = parse_tz("America/Sao_Paulo").expect("zone");
        // 23:59:59 local on the 27th, then 00:00:00 local on the 28th (UTC-3, no DST since 2019).
        assert_eq!(
            local_date(utc("2026-11-28T02:59:59Z"), tz),
            date("2026-11-27")
        );
        assert_eq!(
            local_date(utc("2026-11-28T03:00:00Z"), tz),
            date("2026-11-28")
        );
        let (start, end) = day_span(date("2026-11-28"), tz);
        assert_eq!(start, utc("2026-11-28T03:00:00Z"));
        assert_eq!(end - start, chrono::Duration::hours(24));
    }

    #[test]
    fn berlin_dst_days_last_23_and_25_hours() {
        let tz = parse_tz("Europe/Berlin").expect("zone");
        let (s, e) = day_span(date("2026-03-29"), tz);
        assert_eq!(e - s, chrono::Duration::hours(23));
        assert_eq!(s, utc("2026-03-28T23:00:00Z"));
        let (s, e) = day_span(date("2026-10-25"), tz);
        assert_eq!(e - s, chrono::Duration::hours(25));
        // 00:30 UTC on Oct 25 is 02:30 CEST, still the 25th; 23:30 UTC is 00:30 CET of the 26th.
        assert_eq!(
            local_date(utc("2026-10-25T00:30:00Z"), tz),
            date("2026-10-25")
        );
        assert_eq!(
            local_date(utc("2026-10-25T22:59:59Z"), tz),
            date("2026-10-25")
        );
        assert_eq!(
            local_date(utc("2026-10-25T23:00:00Z"), tz),
            date("2026-10-26")
        );
        // Across the spring change, the hour 02:00–03:00 does not exist; 01:00 UTC is 03:00 CEST.
        assert_eq!(
            local_date(utc("2026-03-29T01:00:00Z"), tz),
            date("2026-03-29")
        );
    }

    #[test]
    fn parse_day_reads_what_chrono_reads() {
        let cases = [
            "2026-11-28",
            "2026-02-29",
            "2024-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "0000-01-01",
            "9999-12-31",
            "2026-1-05",
            "2026-01-5",
            "+2026-01-05",
            "2026/01/05",
            "2026-01-05 ",
            " 2026-01-05",
            "20260105",
            "",
            "2026-01-0a",
            "١٢٣٤-01-01",
        ];
        for s in cases {
            assert_eq!(
                parse_day(s),
                NaiveDate::parse_from_str(s, DAY_FORMAT).ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn missing_days_lists_the_gaps_only() {
        let days = [date("2026-11-01"), date("2026-11-02"), date("2026-11-05")];
        assert_eq!(
            missing_days(&days, 10),
            vec![date("2026-11-03"), date("2026-11-04")]
        );
        assert!(missing_days(&days[..2], 10).is_empty());
        assert_eq!(
            missing_days(&[date("1970-01-01"), date("2099-01-01")], 3).len(),
            3
        );
    }

    #[test]
    fn last_n_days_ends_today() {
        let d = last_n_days(date("2026-03-02"), 3);
        assert_eq!(
            d,
            vec![date("2026-02-28"), date("2026-03-01"), date("2026-03-02")]
        );
    }

    #[test]
    fn unknown_zone_is_named() {
        let e = parse_tz("Mars/Olympus").expect_err("no such zone");
        assert!(e.to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn pre_1970_times_have_dates() {
        let tz = parse_tz("UTC").expect("zone");
        assert_eq!(local_date_of_unix(-86_400, tz), Some(date("1969-12-31")));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = utc("2026-11-28T07:00:00.5Z");
        assert_eq!(from_timestamp(&to_timestamp(t)), Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_timestamp(&bad), None);
    }
}
