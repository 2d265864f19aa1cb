//! Heartbeats: a status that repeats the previous full status of its recorder in everything but
//! the figures that move at every scan is stored as a small [`Beat`] naming that full status (its
//! *base*) instead of a second ~3 KB copy. History then grows with change, not with reports.
//!
//! What moves at every scan (the *volatile* fields): the sequence, the observation and scan
//! times, the oldest/newest recording times, the file and byte counts and the disk's free space,
//! of the recorder and of each camera. Everything else (outcome, recorded days, cameras and their
//! day bitmaps, errors, drops, versions...) is what verdicts are made of; a status whose
//! non-volatile part differs in any bit from its base's is stored in full. The comparison is by a
//! keyed 128-bit hash of the non-volatile part ([`Fingerprint`]), and a beat keeps every volatile
//! value exactly, so a status rebuilt from its base and its beat equals the one received.
//!
//! Stored form: `0x00` then the encoded [`Beat`]. A full `pb::HistoryEntry` never starts with a
//! zero byte (protobuf has no field number 0), so one byte tells the two apart.

use prost::Message;
use prost_types::Timestamp;
use std::hash::{BuildHasher, Hasher};
use vigia::pb::{HistoryEntry, RecordingStatus};

/// First byte of a stored heartbeat.
pub const BEAT_TAG: u8 = 0;

/// A repeat of its base status: the base's history key and the volatile values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Beat {
    /// The base's history key after `site\0` (arrival, sequence, recorder, spool).
    #[prost(bytes = "vec", tag = "1")]
    pub base: Vec<u8>,
    /// When the collector stored this status.
    #[prost(message, optional, tag = "2")]
    pub received_at: Option<Timestamp>,
    /// The status's sequence.
    #[prost(uint64, tag = "3")]
    pub sequence: u64,
    /// The status's observation time.
    #[prost(message, optional, tag = "4")]
    pub observed_at: Option<Timestamp>,
    /// The scan's duration.
    #[prost(message, optional, tag = "5")]
    pub scan_duration: Option<prost_types::Duration>,
    /// Recorder file count, total bytes, disk free bytes, then each camera's file count and
    /// total bytes.
    #[prost(uint64, repeated, packed = "true", tag = "6")]
    pub counts: Vec<u64>,
    /// Seconds of every present recording time (recorder oldest, newest, newest non-empty, then
    /// the same per camera), relative to `observed_at` (small numbers, short varints).
    #[prost(sint64, repeated, packed = "true", tag = "7")]
    pub seconds: Vec<i64>,
    /// Nanoseconds of the same times, in the same order.
    #[prost(int32, repeated, packed = "true", tag = "8")]
    pub nanos: Vec<i32>,
}

/// A keyed hash of a status's non-volatile part: equal fingerprints mean a repeat.
pub type Fingerprint = u128;

/// Two independently keyed SipHash states (random per process): a 128-bit keyed hash, so that
/// two different statuses share a fingerprint with odds no probe can influence or hit.
pub struct Hasher128 {
    a: std::collections::hash_map::RandomState,
    b: std::collections::hash_map::RandomState,
}

impl Default for Hasher128 {
    fn default() -> Self {
        Hasher128 {
            a: std::collections::hash_map::RandomState::new(),
            b: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Hasher128 {
    /// The fingerprint of `status` (its volatile fields set aside).
    pub fn fingerprint(&self, status: &RecordingStatus) -> Fingerprint {
        let bytes = stripped(status).encode_to_vec();
        let mut a = self.a.build_hasher();
        let mut b = self.b.build_hasher();
        a.write(&bytes);
        b.write(&bytes);
        (u128::from(a.finish()) << 64) | u128::from(b.finish())
    }
}

/// The placeholder a present time becomes when stripped: presence is part of the fingerprint.
fn zero(t: &Option<Timestamp>) -> Option<Timestamp> {
    t.as_ref().map(|_| Timestamp::default())
}

/// `status` without its volatile values (presence of optional ones kept).
fn stripped(status: &RecordingStatus) -> RecordingStatus {
    let mut s = status.clone();
    s.sequence = 0;
    s.observed_at = zero(&s.observed_at);
    s.scan_duration = s.scan_duration.map(|_| prost_types::Duration::default());
    s.oldest_recording = zero(&s.oldest_recording);
    s.newest_recording = zero(&s.newest_recording);
    s.newest_nonempty_recording = zero(&s.newest_nonempty_recording);
    s.file_count = 0;
    s.total_bytes = 0;
    s.disk_free_bytes = 0;
    for c in &mut s.cameras {
        c.oldest_recording = zero(&c.oldest_recording);
        c.newest_recording = zero(&c.newest_recording);
        c.newest_nonempty_recording = zero(&c.newest_nonempty_recording);
        c.file_count = 0;
        c.total_bytes = 0;
    }
    s
}

/// The recording times of a status in beat order (absent ones skipped).
fn times(s: &RecordingStatus) -> impl Iterator<Item = &Option<Timestamp>> {
    [
        &s.oldest_recording,
        &s.newest_recording,
        &s.newest_nonempty_recording,
    ]
    .into_iter()
    .chain(s.cameras.iter().flat_map(|c| {
        [
            &c.oldest_recording,
            &c.newest_recording,
            &c.newest_nonempty_recording,
        ]
    }))
}

fn times_mut(s: &mut RecordingStatus) -> Vec<&mut Option<Timestamp>> {
    let mut out = vec![
        &mut s.oldest_recording,
        &mut s.newest_recording,
        &mut s.newest_nonempty_recording,
    ];
    for c in &mut s.cameras {
        out.push(&mut c.oldest_recording);
        out.push(&mut c.newest_recording);
        out.push(&mut c.newest_nonempty_recording);
    }
    out
}

impl Beat {
    /// The beat of `status` against the base stored under `base` (key suffix).
    pub fn of(status: &RecordingStatus, received_at: Timestamp, base: Vec<u8>) -> Beat {
        let origin = status.observed_at.as_ref().map_or(0, |t| t.seconds);
        let mut counts = vec![
            status.file_count,
            status.total_bytes,
            status.disk_free_bytes,
        ];
        for c in &status.cameras {
            counts.push(c.file_count);
            counts.push(c.total_bytes);
        }
        let present: Vec<&Timestamp> = times(status).filter_map(Option::as_ref).collect();
        Beat {
            base,
            received_at: Some(received_at),
            sequence: status.sequence,
            observed_at: status.observed_at,
            scan_duration: status.scan_duration,
            counts,
            seconds: present
                .iter()
                .map(|t| t.seconds.wrapping_sub(origin))
                .collect(),
            nanos: present.iter().map(|t| t.nanos).collect(),
        }
    }

    /// The stored form: [`BEAT_TAG`] then the encoding.
    pub fn to_value(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + self.encoded_len());
        v.push(BEAT_TAG);
        self.encode(&mut v).unwrap_or_default();
        v
    }

    /// The status this beat repeats, rebuilt from its base's entry; `Err` names what does not fit.
    pub fn rebuild(&self, base: HistoryEntry) -> Result<HistoryEntry, Misfit> {
        let mut s = base.status.ok_or(Misfit::NoStatus)?;
        let cameras = s.cameras.len();
        if self.counts.len() != 3 + 2 * cameras {
            return Err(Misfit::Counts {
                counts: self.counts.len(),
                cameras,
            });
        }
        s.sequence = self.sequence;
        s.observed_at = self.observed_at;
        s.scan_duration = self.scan_duration;
        s.file_count = self.counts[0];
        s.total_bytes = self.counts[1];
        s.disk_free_bytes = self.counts[2];
        for (i, c) in s.cameras.iter_mut().enumerate() {
            c.file_count = self.counts[3 + 2 * i];
            c.total_bytes = self.counts[4 + 2 * i];
        }
        let origin = self.observed_at.as_ref().map_or(0, |t| t.seconds);
        let slots: Vec<&mut Option<Timestamp>> = times_mut(&mut s)
            .into_iter()
            .filter(|t| t.is_some())
            .collect();
        if slots.len() != self.seconds.len() || slots.len() != self.nanos.len() {
            return Err(Misfit::Times {
                times: self.seconds.len(),
                base: slots.len(),
            });
        }
        for ((slot, secs), nanos) in slots.into_iter().zip(&self.seconds).zip(&self.nanos) {
            *slot = Some(Timestamp {
                seconds: secs.wrapping_add(origin),
                nanos: *nanos,
            });
        }
        Ok(HistoryEntry {
            status: Some(s),
            received_at: self.received_at,
        })
    }
}

/// Why a heartbeat does not fit the base it names (the store reports it as corruption).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misfit {
    /// The base entry carries no status.
    #[error("its base has no status")]
    NoStatus,
    /// Not three counts plus two per camera of the base.
    #[error("{counts} counts for a base of {cameras} cameras")]
    Counts {
        /// The counts the beat holds.
        counts: usize,
        /// The base's cameras.
        cameras: usize,
    },
    /// Not one time per recording time the base has.
    #[error("{times} recording times for a base with {base}")]
    Times {
        /// The times the beat holds.
        times: usize,
        /// The recording times the base has.
        base: usize,
    },
}

/// What a stored history value is.
pub enum Stored {
    /// A whole status (boxed: a status is several times a beat's size).
    Full(Box<HistoryEntry>),
    /// A repeat of a base status.
    Beat(Beat),
}

/// Decodes a stored history value (either form).
pub fn decode(value: &[u8]) -> Result<Stored, prost::DecodeError> {
    match value.split_first() {
        Some((&BEAT_TAG, rest)) => Beat::decode(rest).map(Stored::Beat),
        _ => HistoryEntry::decode(value).map(|e| Stored::Full(Box::new(e))),
    }
}

/// The base a stored history value names, when it is a heartbeat (`None` for a full status or
/// an undecodable value). Passes ask this of every latest status and of every status near the
/// watermark: a full status (most of them on a quiet fleet) is told by its first byte, never
/// decoded.
pub fn base_of(value: &[u8]) -> Option<Vec<u8>> {
    match value.split_first() {
        Some((&BEAT_TAG, rest)) => Beat::decode(rest).ok().map(|b| b.base),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia::pb::CameraStatus;

    fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    fn status(seq: u64, at: i64) -> RecordingStatus {
        RecordingStatus {
            site: "s".into(),
            recorder: "r".into(),
            sequence: seq,
            observed_at: ts(at, 5),
            oldest_recording: ts(at - 86_400 * 30, 1),
            newest_recording: ts(at - 60, 999),
            file_count: seq * 10,
            total_bytes: seq << 30,
            disk_free_bytes: 1 << 40,
            recorded_days: vec!["2026-12-01".into()],
            cameras: vec![
                CameraStatus {
                    camera: "c1".into(),
                    newest_recording: ts(at - 30, 7),
                    file_count: seq,
                    day_bitmap: vec![0xff],
                    ..Default::default()
                },
                CameraStatus {
                    camera: "c2".into(),
                    oldest_recording: ts(at - 1000, 0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_repeat_has_the_same_fingerprint_and_rebuilds_exactly() {
        let h = Hasher128::default();
        let (a, b) = (status(1, 1_000_000), status(2, 1_000_300));
        assert_eq!(h.fingerprint(&a), h.fingerprint(&b));
        let base = HistoryEntry {
            status: Some(a),
            received_at: ts(1, 0),
        };
        let beat = Beat::of(
            &b,
            Timestamp {
                seconds: 9,
                nanos: 0,
            },
            b"k".to_vec(),
        );
        let value = beat.to_value();
        let Ok(Stored::Beat(back)) = decode(&value) else {
            panic!("not a beat")
        };
        let rebuilt = back.rebuild(base).expect("rebuilds");
        assert_eq!(rebuilt.status, Some(b));
        assert_eq!(rebuilt.received_at, ts(9, 0));
        assert!(value.len() < 80, "{} bytes", value.len());
    }

    #[test]
    fn verdict_relevant_changes_and_presence_change_the_fingerprint() {
        let h = Hasher128::default();
        let a = status(1, 1_000_000);
        let mut days = a.clone();
        days.recorded_days.push("2026-12-02".into());
        let mut bitmap = a.clone();
        bitmap.cameras[0].day_bitmap = vec![0xfe];
        let mut gone = a.clone();
        gone.cameras[1].oldest_recording = None;
        let mut drops = a.clone();
        drops.dropped_statuses = 3;
        for other in [days, bitmap, gone, drops] {
            assert_ne!(h.fingerprint(&a), h.fingerprint(&other));
        }
    }

    #[test]
    fn a_beat_that_does_not_fit_its_base_is_refused() {
        let b = status(2, 1_000_300);
        let beat = Beat::of(&b, Timestamp::default(), Vec::new());
        let mut other = status(1, 1_000_000);
        other.cameras.pop();
        let base = HistoryEntry {
            status: Some(other),
            received_at: None,
        };
        assert!(
            matches!(beat.rebuild(base), Err(Misfit::Counts { .. })),
            "a camera fewer"
        );
        assert!(matches!(decode(&[0x0a, 0x00]), Ok(Stored::Full(_))));
    }

    #[test]
    fn only_a_heartbeat_names_a_base() {
        let beat = Beat::of(
            &status(2, 1_000_300),
            Timestamp {
                seconds: 9,
                nanos: 0,
            },
            b"base-key".to_vec(),
        );
        assert_eq!(base_of(&beat.to_value()), Some(b"base-key".to_vec()));
        let full = HistoryEntry {
            status: Some(status(1, 1_000_000)),
            received_at: ts(1, 0),
        }
        .encode_to_vec();
        assert_eq!(base_of(&full), None);
        assert_eq!(base_of(&[]), None);
        // A damaged heartbeat names nothing (the readers that need it report the damage).
        assert_eq!(base_of(&[BEAT_TAG, 0x0a, 0x7f]), None);
    }
}
