//! What a status must look like before it is stored. Every limit here bounds what one probe can
//! make the collector hold, and every refusal names the field, so the person reading a probe's
//! log knows what to fix. One definition for both sides: the collector refuses what breaks these
//! rules, and the probe checks them before spooling, so a status that would be refused is dropped
//! (and said why) instead of blocking the spool on every reconnect.

use crate::names::{validate_name, MAX_NAME_LEN};
use crate::pb::{RecordingStatus, ScanOutcome, Technology};
use prost::Message;
use std::time::Duration;

/// The collector's default `max_message_bytes`: the largest encoded status it accepts unless
/// configured otherwise. The probe checks against it too (it cannot know a collector's setting).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most entries in `recorded_days`: ten years of days.
pub const MAX_RECORDED_DAYS: usize = 3660;
/// Most cameras in one status.
pub const MAX_CAMERAS: usize = 1024;
/// Most scan errors listed in one status.
pub const MAX_ERRORS: usize = 20;
/// Longest path (root path, error path), in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest free-text field (error reason, camera, version...), in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Longest report interval a probe may announce.
pub const MAX_REPORT_INTERVAL: Duration = Duration::from_secs(31 * 86_400);
/// The range protobuf allows a Timestamp (0001-01-01 to 9999-12-31). Anything inside it is
/// stored: a recorder with a reset clock writes files dated 1969 or 2099, and the probe must be
/// able to say so (the rules flag it CLOCK_SKEW) instead of having its status refused forever.
const MIN_UNIX: i64 = -62_135_596_800;
/// See [`MIN_UNIX`].
const MAX_UNIX: i64 = 253_402_300_799;

/// A status refused: the field at fault (`cameras[2].camera`) and what is wrong with it,
/// written "field: problem". Not [`crate::invalid::Invalid`], which names a configuration key
/// and its file: this names a field of a message on the wire, and its text is what the
/// collector answers (INVALID_ARGUMENT) and what the probe logs when it drops a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The field path, as the protobuf names it (`recorded_days[3]`, `status` for the whole).
    pub field: String,
    /// What is wrong, without the field.
    pub message: String,
}

fn bad(field: impl Into<String>, what: impl std::fmt::Display) -> InvalidField {
    InvalidField {
        field: field.into(),
        message: what.to_string(),
    }
}

fn name(field: &str, value: &str) -> Result<(), InvalidField> {
    if value.is_empty() {
        return Err(bad(field, "empty"));
    }
    validate_name("", value).map_err(|e| {
        let msg = e.to_string();
        // NameError starts with the kind of name; the field says it better.
        let msg = msg.trim_start().trim_start_matches("name ").to_string();
        bad(field, msg)
    })
}

fn text(field: &str, value: &str, max: usize) -> Result<(), InvalidField> {
    if value.len() > max {
        return Err(bad(field, format!("{} bytes, at most {max}", value.len())));
    }
    if value.chars().any(|c| c == '\0') {
        return Err(bad(field, "contains a NUL character"));
    }
    Ok(())
}

fn timestamp(
    field: &str,
    t: &Option<prost_types::Timestamp>,
    required: bool,
) -> Result<(), InvalidField> {
    match t {
        None if required => Err(bad(field, "missing")),
        None => Ok(()),
        Some(t) => {
            if !(0..1_000_000_000).contains(&t.nanos) {
                Err(bad(field, format!("nanos {} out of range", t.nanos)))
            } else if !(MIN_UNIX..=MAX_UNIX).contains(&t.seconds) {
                Err(bad(
                    field,
                    format!(
                        "{} seconds since 1970 is outside the years 0001..9999 a timestamp allows",
                        t.seconds
                    ),
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn duration(
    field: &str,
    d: &Option<prost_types::Duration>,
    max: Duration,
) -> Result<(), InvalidField> {
    let Some(d) = d else { return Ok(()) };
    // The protobuf JSON rules (what grpcurl prints): nanos within one second, of the seconds'
    // sign. A stored value breaking them would make every query that includes it fail.
    if !(-999_999_999..=999_999_999).contains(&d.nanos) {
        return Err(bad(field, format!("nanos {} out of range", d.nanos)));
    }
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        return Err(bad(
            field,
            format!(
                "seconds {} and nanos {} disagree in sign",
                d.seconds, d.nanos
            ),
        ));
    }
    let std = Duration::try_from(*d).map_err(|_| bad(field, "negative or malformed duration"))?;
    if std > max {
        return Err(bad(
            field,
            format!("{}s, at most {}s", std.as_secs(), max.as_secs()),
        ));
    }
    Ok(())
}

/// Checks a status against the collector's limits; `max_bytes` is the configured message size.
pub fn status(s: &RecordingStatus, max_bytes: usize) -> Result<(), InvalidField> {
    let len = s.encoded_len();
    if len > max_bytes {
        return Err(bad(
            "status",
            format!("{len} bytes, at most {max_bytes} (max_message_bytes)"),
        ));
    }
    name("site", &s.site)?;
    name("recorder", &s.recorder)?;
    if s.spool_id.is_empty() {
        return Err(bad("spool_id", "empty"));
    }
    text("spool_id", &s.spool_id, MAX_NAME_LEN)?;
    if Technology::try_from(s.technology).is_err() || s.technology == 0 {
        return Err(bad(
            "technology",
            format!("{} is not a known technology", s.technology),
        ));
    }
    if ScanOutcome::try_from(s.outcome).is_err() || s.outcome == 0 {
        return Err(bad(
            "outcome",
            format!("{} is not a known scan outcome", s.outcome),
        ));
    }
    timestamp("observed_at", &s.observed_at, true)?;
    timestamp("oldest_recording", &s.oldest_recording, false)?;
    timestamp("newest_recording", &s.newest_recording, false)?;
    timestamp(
        "newest_nonempty_recording",
        &s.newest_nonempty_recording,
        false,
    )?;
    if let Some(d) = &s.report_interval {
        if d.seconds <= 0 && d.nanos <= 0 {
            return Err(bad("report_interval", "must be positive"));
        }
    }
    duration("report_interval", &s.report_interval, MAX_REPORT_INTERVAL)?;
    duration(
        "scan_duration",
        &s.scan_duration,
        Duration::from_secs(366 * 86_400),
    )?;
    if s.recorded_days.len() > MAX_RECORDED_DAYS {
        return Err(bad(
            "recorded_days",
            format!(
                "{} entries, at most {MAX_RECORDED_DAYS}",
                s.recorded_days.len()
            ),
        ));
    }
    for (i, d) in s.recorded_days.iter().enumerate() {
        if !is_day(d) {
            return Err(bad(
                format!("recorded_days[{i}]"),
                format!("{:?} is not a YYYY-MM-DD day", truncate(d)),
            ));
        }
    }
    if s.cameras.len() > MAX_CAMERAS {
        return Err(bad(
            "cameras",
            format!("{} entries, at most {MAX_CAMERAS}", s.cameras.len()),
        ));
    }
    for (i, c) in s.cameras.iter().enumerate() {
        if c.camera.is_empty() {
            return Err(bad(format!("cameras[{i}].camera"), "empty"));
        }
        text(&format!("cameras[{i}].camera"), &c.camera, MAX_TEXT_LEN)?;
        timestamp(
            &format!("cameras[{i}].oldest_recording"),
            &c.oldest_recording,
            false,
        )?;
        timestamp(
            &format!("cameras[{i}].newest_recording"),
            &c.newest_recording,
            false,
        )?;
        timestamp(
            &format!("cameras[{i}].newest_nonempty_recording"),
            &c.newest_nonempty_recording,
            false,
        )?;
        day_bitmap(i, &c.first_day, &c.day_bitmap)?;
    }
    if s.errors.len() > MAX_ERRORS {
        return Err(bad(
            "errors",
            format!("{} entries, at most {MAX_ERRORS}", s.errors.len()),
        ));
    }
    for (i, e) in s.errors.iter().enumerate() {
        text(&format!("errors[{i}].path"), &e.path, MAX_PATH_LEN)?;
        text(&format!("errors[{i}].reason"), &e.reason, MAX_TEXT_LEN * 4)?;
    }
    text("probe_version", &s.probe_version, MAX_TEXT_LEN)?;
    text("hostname", &s.hostname, MAX_TEXT_LEN)?;
    text("root_path", &s.root_path, MAX_PATH_LEN)?;
    text("time_zone", &s.time_zone, 64)?;
    if !s.time_zone.is_empty() && crate::days::parse_tz(&s.time_zone).is_err() {
        return Err(bad(
            "time_zone",
            format!("{:?} is not an IANA time zone", s.time_zone),
        ));
    }
    if s.disk_free_bytes > s.disk_total_bytes && s.disk_total_bytes > 0 {
        return Err(bad(
            "disk_free_bytes",
            format!(
                "{} is more than disk_total_bytes {}",
                s.disk_free_bytes, s.disk_total_bytes
            ),
        ));
    }
    Ok(())
}

/// A camera's day bitmap: both parts or neither, a real first day, at most ten years.
fn day_bitmap(i: usize, first_day: &str, bits: &[u8]) -> Result<(), InvalidField> {
    use crate::day_bitmap::MAX_BITMAP_DAYS;
    match (first_day.is_empty(), bits.is_empty()) {
        (true, true) => return Ok(()),
        (true, false) => {
            return Err(bad(
                format!("cameras[{i}].first_day"),
                "empty while day_bitmap is set",
            ))
        }
        (false, true) => {
            return Err(bad(
                format!("cameras[{i}].day_bitmap"),
                "empty while first_day is set",
            ))
        }
        _ => {}
    }
    if !is_day(first_day) {
        return Err(bad(
            format!("cameras[{i}].first_day"),
            format!("{:?} is not a YYYY-MM-DD day", truncate(first_day)),
        ));
    }
    if bits.len() > MAX_BITMAP_DAYS.div_ceil(8) {
        return Err(bad(
            format!("cameras[{i}].day_bitmap"),
            format!(
                "{} bytes, at most {} ({MAX_BITMAP_DAYS} days)",
                bits.len(),
                MAX_BITMAP_DAYS.div_ceil(8)
            ),
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD` naming a real date; by hand, because it runs for every day of every status.
fn is_day(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(day)) => {
            chrono::NaiveDate::from_ymd_opt(y as i32, m, day).is_some()
        }
        _ => false,
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> RecordingStatus {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        crate::status_builder::StatusBuilder::new(at).build()
    }

    #[track_caller]
    fn refused(s: RecordingStatus, says: &str) {
        let e = status(&s, 1 << 20).expect_err("must refuse");
        assert!(
            e.to_string().starts_with(says),
            "expected {says:?}, got {e}"
        );
        assert_eq!(e.field, says.split(": ").next().unwrap_or(says), "{e}");
    }

    #[test]
    fn each_field_is_named() {
        status(&good(), 1 << 20).expect("good status");
        refused(
            RecordingStatus {
                site: String::new(),
                ..good()
            },
            "site: ",
        );
        refused(
            RecordingStatus {
                recorder: String::new(),
                ..good()
            },
            "recorder: ",
        );
        refused(
            RecordingStatus {
                recorder: "a/b".into(),
                ..good()
            },
            "recorder: ",
        );
        refused(
            RecordingStatus {
                spool_id: String::new(),
                ..good()
            },
            "spool_id: empty",
        );
        refused(
            RecordingStatus {
                technology: 0,
                ..good()
            },
            "technology: ",
        );
        refused(
            RecordingStatus {
                technology: 99,
                ..good()
            },
            "technology: ",
        );
        refused(
            RecordingStatus {
                outcome: 0,
                ..good()
            },
            "outcome: ",
        );
        refused(
            RecordingStatus {
                observed_at: None,
                ..good()
            },
            "observed_at: missing",
        );
        refused(
            RecordingStatus {
                newest_recording: Some(prost_types::Timestamp {
                    seconds: -62_135_596_801,
                    nanos: 0,
                }),
                ..good()
            },
            "newest_recording: ",
        );
        refused(
            RecordingStatus {
                recorded_days: vec!["2024-01-01".into(); 5000],
                ..good()
            },
            "recorded_days: 5000 entries, at most 3660",
        );
        refused(
            RecordingStatus {
                recorded_days: vec!["yesterday".into()],
                ..good()
            },
            "recorded_days[0]: ",
        );
        refused(
            RecordingStatus {
                time_zone: "Mars/Base".into(),
                ..good()
            },
            "time_zone: ",
        );
        refused(
            RecordingStatus {
                report_interval: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 0,
                }),
                ..good()
            },
            "report_interval: ",
        );
        refused(
            RecordingStatus {
                hostname: "h".repeat(300),
                ..good()
            },
            "hostname: 300 bytes",
        );
        let cam = |first_day: &str, day_bitmap: Vec<u8>| RecordingStatus {
            cameras: vec![crate::pb::CameraStatus {
                camera: "cam1".into(),
                first_day: first_day.into(),
                day_bitmap,
                ..Default::default()
            }],
            ..good()
        };
        assert!(status(&cam("2026-11-01", vec![0xff; 12]), 1 << 20).is_ok());
        refused(cam("2026-11-01", vec![]), "cameras[0].day_bitmap: empty");
        refused(cam("", vec![1]), "cameras[0].first_day: empty");
        refused(cam("01/11/2026", vec![1]), "cameras[0].first_day: ");
        refused(
            cam("2026-11-01", vec![1; 500]),
            "cameras[0].day_bitmap: 500 bytes",
        );
        refused(
            RecordingStatus {
                scan_duration: Some(prost_types::Duration {
                    seconds: 5,
                    nanos: -1,
                }),
                ..good()
            },
            "scan_duration: seconds 5 and nanos -1 disagree in sign",
        );
        refused(
            RecordingStatus {
                report_interval: Some(prost_types::Duration {
                    seconds: 300,
                    nanos: 1_000_000_000,
                }),
                ..good()
            },
            "report_interval: nanos 1000000000 out of range",
        );
    }

    #[test]
    fn days_are_checked_exactly() {
        for ok in ["2024-02-29", "1999-12-31", "2026-01-01"] {
            assert!(is_day(ok), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024/01/01",
            "20240101xx",
            "",
            "2024-01-0a",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }

    #[test]
    fn the_message_size_limit_names_the_setting() {
        let e = status(
            &RecordingStatus {
                root_path: "x".repeat(4000),
                ..good()
            },
            1000,
        )
        .expect_err("too big");
        assert!(e.message.contains("max_message_bytes"), "{e}");
        assert_eq!(e.field, "status");
    }
}
