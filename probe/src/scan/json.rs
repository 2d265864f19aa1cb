//! Statuses in protobuf's JSON form (what `grpcurl` prints): lowerCamelCase field names,
//! RFC 3339 timestamps, durations as `"1.5s"`, enums by name, 64-bit integers as strings, bytes
//! as standard base64 with padding.
//! Generated, not written here: the statuses go through their JSON twins
//! (`vigia::pb::json`, pbjson's serde impls made from the contract's descriptor set), so a
//! field added to the contract is printed without a change here. Fields at their default value
//! are printed too, for readability; an unset time or duration is left out, as protobuf JSON
//! does.

use serde_json::{json, Value};
use vigia::pb::json::{to_twin, vigia::v1 as twin};
use vigia::pb::RecordingStatus;

/// One status as a protobuf JSON object.
pub fn status(s: &RecordingStatus) -> Value {
    let encoded = to_twin::<_, twin::RecordingStatus>(s)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::to_value(t).map_err(|e| e.to_string()));
    match encoded {
        Ok(mut v) => {
            drop_nulls(&mut v);
            v
        }
        // The twin decodes the very bytes the status encodes to, and every value has a JSON
        // form except an enum number the contract does not name: say so in place.
        Err(e) => json!({ "site": s.site, "recorder": s.recorder, "error": e }),
    }
}

/// Unset messages (times, durations) are printed as `null` by pbjson when defaults are
/// emitted; protobuf JSON leaves them out.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Statuses as one JSON array.
pub fn statuses(list: &[RecordingStatus]) -> Value {
    Value::Array(list.iter().map(status).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{DescriptorProto, FileDescriptorSet};
    use vigia::pb::{CameraStatus, ScanOutcome, Technology};

    fn contract() -> FileDescriptorSet {
        use prost::Message as _;
        FileDescriptorSet::decode(vigia::pb::FILE_DESCRIPTOR_SET)
            .expect("the contract's descriptor set")
    }

    fn message<'a>(set: &'a FileDescriptorSet, full_name: &str) -> &'a DescriptorProto {
        set.file
            .iter()
            .flat_map(|f| f.message_type.iter().map(move |m| (f.package(), m)))
            .find(|(package, m)| format!(".{package}.{}", m.name()) == full_name)
            .map(|(_, m)| m)
            .unwrap_or_else(|| panic!("{full_name} in the contract"))
    }

    /// Every field of `full_name` is a key of `got`, named as protobuf JSON names it, and so
    /// on down every message of the contract it holds (one element of each list is looked at).
    #[track_caller]
    fn assert_every_field(set: &FileDescriptorSet, full_name: &str, got: &Value, path: &str) {
        let obj = got
            .as_object()
            .unwrap_or_else(|| panic!("{path}: not an object: {got}"));
        let m = message(set, full_name);
        let mut want: Vec<&str> = m.field.iter().map(|f| f.json_name()).collect();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        want.sort_unstable();
        keys.sort_unstable();
        assert_eq!(
            keys, want,
            "{path}: keys against the descriptor of {full_name}"
        );
        for f in &m.field {
            let Some(inner) = f.type_name.as_deref().filter(|t| t.starts_with(".vigia.")) else {
                continue;
            };
            if f.r#type() != prost_types::field_descriptor_proto::Type::Message {
                continue;
            }
            let v = &obj[f.json_name()];
            let first = match v {
                Value::Array(a) => a
                    .first()
                    .unwrap_or_else(|| panic!("{path}.{}: empty", f.json_name())),
                v => v,
            };
            assert_every_field(set, inner, first, &format!("{path}.{}", f.json_name()));
        }
    }

    fn full_status() -> RecordingStatus {
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
        RecordingStatus {
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
        }
    }

    #[test]
    fn every_field_of_the_contract_is_printed_down_every_message() {
        let v = status(&full_status());
        assert_every_field(&contract(), ".vigia.v1.RecordingStatus", &v, "status");
    }

    #[test]
    fn a_full_status_prints_as_before() {
        let v = status(&full_status());
        let cam = json!({
            "camera": "cam01",
            "oldestRecording": "2026-11-28T03:00:00Z",
            "newestRecording": "2026-11-28T03:00:00Z",
            "daysRecorded": 2,
            "fileCount": "3",
            "totalBytes": "4",
            "newestNonemptyRecording": "2026-11-28T03:00:00Z",
            "firstDay": "2026-11-27",
            "dayBitmap": "BQ==",
        });
        let want = json!({
            "site": "loja",
            "recorder": "nvr",
            "technology": "TECHNOLOGY_DIGIFORT",
            "sequence": "1",
            "spoolId": "s",
            "observedAt": "2026-11-28T03:00:00Z",
            "reportInterval": "1s",
            "outcome": "SCAN_OUTCOME_OK",
            "oldestRecording": "2026-11-28T03:00:00Z",
            "newestRecording": "2026-11-28T03:00:00Z",
            "daysRecorded": 2,
            "recordedDays": ["2026-11-27"],
            "fileCount": "3",
            "totalBytes": "4",
            "cameras": [cam],
            "diskTotalBytes": "5",
            "diskFreeBytes": "6",
            "errors": [{"path": "p", "reason": "r"}],
            "errorsOmitted": "7",
            "probeVersion": "v",
            "hostname": "h",
            "timeZone": "UTC",
            "scanDuration": "1s",
            "droppedStatuses": "8",
            "rootPath": "/r",
            "newestNonemptyRecording": "2026-11-28T03:00:00Z",
            "dryRun": true,
        });
        assert_eq!(v, want);
    }

    #[test]
    fn fractional_times_and_durations_follow_protobuf_json() {
        let s = RecordingStatus {
            observed_at: Some(prost_types::Timestamp {
                seconds: 1_795_834_800,
                nanos: 500_000_000,
            }),
            scan_duration: Some(prost_types::Duration {
                seconds: 1,
                nanos: 5_000,
            }),
            ..Default::default()
        };
        let v = status(&s);
        assert_eq!(v["observedAt"], json!("2026-11-28T03:00:00.500Z"));
        assert_eq!(v["scanDuration"], json!("1.000005s"));
    }

    #[test]
    fn enums_by_name_u64_as_strings_defaults_printed_unset_times_left_out() {
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
        assert_eq!(v["totalBytes"], json!("0"));
        assert_eq!(v["dryRun"], json!(false));
        assert_eq!(v["cameras"], json!([]));
        assert!(v.get("oldestRecording").is_none());
        assert!(v.get("scanDuration").is_none());
    }
}
