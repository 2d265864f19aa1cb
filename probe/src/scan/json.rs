//! Statuses in protobuf's JSON form (what `grpcurl` prints): lowerCamelCase field names,
//! RFC 3339 timestamps, durations as `"1.5s"`, enums by name, 64-bit integers as strings, bytes
//! as standard base64 with padding.
//! Written by hand with serde_json because the generated code carries no serde support and the
//! build has no protoc. Fields at their default value are printed too, for readability.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use vigia::pb::{CameraStatus, RecordingStatus, ScanOutcome, Technology};

/// A timestamp as protobuf JSON: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
pub fn timestamp(t: &prost_types::Timestamp) -> Value {
    let nanos = u32::try_from(t.nanos).unwrap_or(0);
    match DateTime::<Utc>::from_timestamp(t.seconds, nanos) {
        Some(d) => Value::String(d.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => Value::Null,
    }
}

/// A duration as protobuf JSON: seconds with 0, 3, 6 or 9 fractional digits and an `s`.
pub fn duration(d: &prost_types::Duration) -> Value {
    let neg = d.seconds < 0 || d.nanos < 0;
    let secs = d.seconds.unsigned_abs();
    let nanos = d.nanos.unsigned_abs();
    let frac = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    Value::String(format!("{}{secs}{frac}s", if neg { "-" } else { "" }))
}

fn opt_ts(t: &Option<prost_types::Timestamp>) -> Value {
    t.as_ref().map_or(Value::Null, timestamp)
}

fn u64s(x: u64) -> Value {
    Value::String(x.to_string())
}

fn camera(c: &CameraStatus) -> Value {
    let mut m = Map::new();
    m.insert("camera".into(), json!(c.camera));
    insert_ts(&mut m, "oldestRecording", &c.oldest_recording);
    insert_ts(&mut m, "newestRecording", &c.newest_recording);
    m.insert("daysRecorded".into(), json!(c.days_recorded));
    m.insert("fileCount".into(), u64s(c.file_count));
    m.insert("totalBytes".into(), u64s(c.total_bytes));
    insert_ts(
        &mut m,
        "newestNonemptyRecording",
        &c.newest_nonempty_recording,
    );
    m.insert("firstDay".into(), json!(c.first_day));
    m.insert("dayBitmap".into(), bytes(&c.day_bitmap));
    Value::Object(m)
}

/// Bytes as protobuf JSON: standard base64 with padding.
fn bytes(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Message fields are omitted when unset, as protobuf JSON does.
fn insert_ts(m: &mut Map<String, Value>, key: &str, t: &Option<prost_types::Timestamp>) {
    if t.is_some() {
        m.insert(key.into(), opt_ts(t));
    }
}

/// One status as a protobuf JSON object.
pub fn status(s: &RecordingStatus) -> Value {
    let mut m = Map::new();
    m.insert("site".into(), json!(s.site));
    m.insert("recorder".into(), json!(s.recorder));
    m.insert(
        "technology".into(),
        json!(Technology::try_from(s.technology)
            .map(|t| t.as_str_name().to_string())
            .unwrap_or_else(|_| s.technology.to_string())),
    );
    m.insert("sequence".into(), u64s(s.sequence));
    m.insert("spoolId".into(), json!(s.spool_id));
    insert_ts(&mut m, "observedAt", &s.observed_at);
    if let Some(d) = &s.report_interval {
        m.insert("reportInterval".into(), duration(d));
    }
    m.insert(
        "outcome".into(),
        json!(ScanOutcome::try_from(s.outcome)
            .map(|o| o.as_str_name().to_string())
            .unwrap_or_else(|_| s.outcome.to_string())),
    );
    insert_ts(&mut m, "oldestRecording", &s.oldest_recording);
    insert_ts(&mut m, "newestRecording", &s.newest_recording);
    m.insert("daysRecorded".into(), json!(s.days_recorded));
    m.insert("recordedDays".into(), json!(s.recorded_days));
    m.insert("fileCount".into(), u64s(s.file_count));
    m.insert("totalBytes".into(), u64s(s.total_bytes));
    m.insert(
        "cameras".into(),
        Value::Array(s.cameras.iter().map(camera).collect()),
    );
    m.insert("diskTotalBytes".into(), u64s(s.disk_total_bytes));
    m.insert("diskFreeBytes".into(), u64s(s.disk_free_bytes));
    m.insert(
        "errors".into(),
        Value::Array(
            s.errors
                .iter()
                .map(|e| json!({"path": e.path, "reason": e.reason}))
                .collect(),
        ),
    );
    m.insert("errorsOmitted".into(), u64s(s.errors_omitted));
    m.insert("probeVersion".into(), json!(s.probe_version));
    m.insert("hostname".into(), json!(s.hostname));
    m.insert("timeZone".into(), json!(s.time_zone));
    if let Some(d) = &s.scan_duration {
        m.insert("scanDuration".into(), duration(d));
    }
    m.insert("droppedStatuses".into(), u64s(s.dropped_statuses));
    m.insert("rootPath".into(), json!(s.root_path));
    insert_ts(
        &mut m,
        "newestNonemptyRecording",
        &s.newest_nonempty_recording,
    );
    m.insert("dryRun".into(), json!(s.dry_run));
    Value::Object(m)
}

/// Statuses as one JSON array.
pub fn statuses(list: &[RecordingStatus]) -> Value {
    Value::Array(list.iter().map(status).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_durations_follow_protobuf_json() {
        let t = prost_types::Timestamp {
            seconds: 1_795_834_800,
            nanos: 500_000_000,
        };
        assert_eq!(timestamp(&t), json!("2026-11-28T03:00:00.500Z"));
        let before = prost_types::Timestamp {
            seconds: -86_400,
            nanos: 0,
        };
        assert_eq!(timestamp(&before), json!("1969-12-31T00:00:00Z"));
        let d = prost_types::Duration {
            seconds: 1,
            nanos: 5_000,
        };
        assert_eq!(duration(&d), json!("1.000005s"));
        assert_eq!(
            duration(&prost_types::Duration {
                seconds: 3,
                nanos: 0
            }),
            json!("3s")
        );
    }

    /// The fields of one message of the contract, by their protobuf JSON names.
    fn json_names(message: &str) -> Vec<String> {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(vigia::pb::FILE_DESCRIPTOR_SET)
            .expect("the contract's descriptor set");
        let m = set
            .file
            .iter()
            .filter(|f| f.package() == "vigia.v1")
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == message)
            .expect("message in the contract");
        m.field
            .iter()
            .map(|f| match &f.json_name {
                Some(j) if !j.is_empty() => j.clone(),
                _ => lower_camel(f.name()),
            })
            .collect()
    }

    fn lower_camel(name: &str) -> String {
        let mut out = String::new();
        let mut up = false;
        for c in name.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.extend(c.to_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn every_field_of_a_full_status_and_camera_is_printed() {
        let t = Some(prost_types::Timestamp {
            seconds: 1_795_834_800,
            nanos: 0,
        });
        let d = Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        });
        let cam = CameraStatus {
            camera: "cam01".into(),
            oldest_recording: t,
            newest_recording: t,
            days_recorded: 2,
            file_count: 3,
            total_bytes: 4,
            newest_nonempty_recording: t,
            first_day: "2026-11-27".into(),
            day_bitmap: vec![0b101],
        };
        let s = RecordingStatus {
            site: "loja".into(),
            recorder: "nvr".into(),
            technology: Technology::Digifort as i32,
            sequence: 1,
            spool_id: "s".into(),
            observed_at: t,
            report_interval: d,
            outcome: ScanOutcome::Ok as i32,
            oldest_recording: t,
            newest_recording: t,
            days_recorded: 2,
            recorded_days: vec!["2026-11-27".into()],
            file_count: 3,
            total_bytes: 4,
            cameras: vec![cam],
            disk_total_bytes: 5,
            disk_free_bytes: 6,
            errors: vec![vigia::pb::ScanError {
                path: "p".into(),
                reason: "r".into(),
            }],
            errors_omitted: 7,
            probe_version: "v".into(),
            hostname: "h".into(),
            time_zone: "UTC".into(),
            scan_duration: d,
            dropped_statuses: 8,
            root_path: "/r".into(),
            newest_nonempty_recording: t,
            dry_run: true,
        };
        let v = status(&s);
        for (message, got) in [
            ("RecordingStatus", &v),
            ("CameraStatus", &v["cameras"][0]),
            ("ScanError", &v["errors"][0]),
        ] {
            let mut want = json_names(message);
            want.sort();
            assert_eq!(keys(got), want, "{message}");
        }
        assert_eq!(v["cameras"][0]["dayBitmap"], json!("BQ=="));
        assert_eq!(v["cameras"][0]["firstDay"], json!("2026-11-27"));
        assert_eq!(v["newestNonemptyRecording"], json!("2026-11-28T03:00:00Z"));
    }

    #[test]
    fn enums_by_name_and_u64_as_strings() {
        let s = RecordingStatus {
            technology: Technology::Digifort as i32,
            outcome: ScanOutcome::Partial as i32,
            file_count: 12,
            ..Default::default()
        };
        let v = status(&s);
        assert_eq!(v["technology"], json!("TECHNOLOGY_DIGIFORT"));
        assert_eq!(v["outcome"], json!("SCAN_OUTCOME_PARTIAL"));
        assert_eq!(v["fileCount"], json!("12"));
        assert!(v.get("oldestRecording").is_none());
    }
}
