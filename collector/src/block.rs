//! History blocks: one sled record holding many statuses of one site, for an hour (a day once
//! thinned). sled spends a few hundred bytes on every record beyond its key and value
//! (bench/history.sh: a fresh copy of the live records took 2.4x their logical size), and a
//! site reporting every 5 minutes makes 288 records a day; a block makes it 24, then one.
//!
//! A block's members are stored values as `crate::store` writes them (heartbeats, never the full
//! statuses they name as base: those stay records of their own, so a base is always one `get`
//! away) under their own history key suffixes. Each heartbeat following one with the same base
//! and the same shape is kept as the differences of its numbers from that one's: a recorder's
//! counts and times move by the same small steps at every scan, so consecutive rows are nearly
//! equal bytes, which zstd then stores in a few bytes each.
//!
//! Stored form: [`BLOCK_TAG`], the uncompressed length (LEB128), then the zstd frame of the
//! encoded rows. A full `pb::HistoryEntry` never starts with byte 1 (protobuf has no field 0),
//! a heartbeat starts with `crate::beat::BEAT_TAG`.

use prost::Message;
use prost_types::{Duration, Timestamp};

use crate::beat::{Beat, BEAT_TAG};

/// First byte of a stored block.
pub const BLOCK_TAG: u8 = 1;

/// A block member: its history key after `site\0`, and its stored value.
pub type Member = (Vec<u8>, Vec<u8>);

/// zstd's level: blocks are written by the hourly compaction pass, never on the ack path.
const LEVEL: i32 = 9;

/// Largest uncompressed block accepted when decoding (a day of one-minute reports of a
/// 64-camera recorder is well under it); a larger length is damage, not a block.
const MAX_RAW: usize = 64 << 20;

thread_local! {
    // A zstd context is costly to build (sled 0.34 builds one per page: a fifth of a compressed
    // store's ingest time); each thread keeps its own.
    static COMPRESSOR: std::cell::RefCell<zstd::block::Compressor> =
        std::cell::RefCell::new(zstd::block::Compressor::new());
    static DECOMPRESSOR: std::cell::RefCell<zstd::block::Decompressor> =
        std::cell::RefCell::new(zstd::block::Decompressor::new());
}

/// One member of a block.
#[derive(Clone, PartialEq, prost::Message)]
struct Row {
    /// The member's history key after `site\0`.
    #[prost(bytes = "vec", tag = "1")]
    suffix: Vec<u8>,
    /// Its stored value, when not given as differences.
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
    /// Whether `numbers` are differences from the previous row's heartbeat, whose base and
    /// shape this one has.
    #[prost(bool, tag = "3")]
    delta: bool,
    /// The heartbeat's numbers minus the previous row's ([`numbers`] order), wrapping.
    #[prost(sint64, repeated, packed = "true", tag = "4")]
    numbers: Vec<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Rows {
    #[prost(message, repeated, tag = "1")]
    rows: Vec<Row>,
}

/// Why a stored block cannot be read (the store reports it as corruption).
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Not a block's stored form.
    #[error("not a history block")]
    NotBlock,
    /// The length or the zstd frame is damaged.
    #[error("history block does not decompress: {0}")]
    Frame(String),
    /// The rows do not decode.
    #[error("history block rows: {0}")]
    Rows(#[from] prost::DecodeError),
    /// A difference row with no heartbeat before it.
    #[error("history block: a difference row without a heartbeat before it")]
    Orphan,
}

/// What a heartbeat's numbers are laid out by: two heartbeats of the same shape differ only
/// in [`numbers`].
#[derive(PartialEq)]
struct Shape<'a> {
    base: &'a [u8],
    present: [bool; 3],
    lens: [usize; 3],
}

fn shape(b: &Beat) -> Shape<'_> {
    Shape {
        base: &b.base,
        present: [
            b.received_at.is_some(),
            b.observed_at.is_some(),
            b.scan_duration.is_some(),
        ],
        lens: [b.counts.len(), b.seconds.len(), b.nanos.len()],
    }
}

/// A heartbeat's numbers, in a fixed order (unsigned ones reinterpreted, wrapping).
fn numbers(b: &Beat) -> Vec<i64> {
    let ts = |t: &Option<Timestamp>| {
        let t = t.unwrap_or_default();
        [t.seconds, i64::from(t.nanos)]
    };
    let d = b.scan_duration.unwrap_or_default();
    let mut out = Vec::with_capacity(8 + b.counts.len() + b.seconds.len() + b.nanos.len());
    out.extend(ts(&b.received_at));
    out.push(b.sequence as i64);
    out.extend(ts(&b.observed_at));
    out.extend([d.seconds, i64::from(d.nanos)]);
    out.extend(b.counts.iter().map(|c| *c as i64));
    out.extend(&b.seconds);
    out.extend(b.nanos.iter().map(|n| i64::from(*n)));
    out
}

/// The heartbeat of `like`'s shape with `n` as its numbers.
fn with_numbers(like: &Beat, n: &[i64]) -> Beat {
    let ts = |s: i64, ns: i64| Timestamp {
        seconds: s,
        nanos: ns as i32,
    };
    let c = like.counts.len();
    let s = like.seconds.len();
    Beat {
        base: like.base.clone(),
        received_at: like.received_at.map(|_| ts(n[0], n[1])),
        sequence: n[2] as u64,
        observed_at: like.observed_at.map(|_| ts(n[3], n[4])),
        scan_duration: like.scan_duration.map(|_| Duration {
            seconds: n[5],
            nanos: n[6] as i32,
        }),
        counts: n[7..7 + c].iter().map(|v| *v as u64).collect(),
        seconds: n[7 + c..7 + c + s].to_vec(),
        nanos: n[7 + c + s..].iter().map(|v| *v as i32).collect(),
    }
}

fn beat_of(value: &[u8]) -> Option<Beat> {
    match value.split_first() {
        Some((&BEAT_TAG, rest)) => Beat::decode(rest).ok(),
        _ => None,
    }
}

/// The stored form of a block of `members` (history key suffix, stored value), in key order.
pub fn encode(members: &[Member]) -> Vec<u8> {
    let mut rows = Vec::with_capacity(members.len());
    let mut previous: Option<Beat> = None;
    for (suffix, value) in members {
        let beat = beat_of(value);
        let row = match (&beat, &previous) {
            // Only when the heartbeat re-encodes to the very bytes stored: what a block gives
            // back is what was written.
            (Some(b), Some(p)) if shape(b) == shape(p) && b.to_value() == *value => {
                let (now, before) = (numbers(b), numbers(p));
                Row {
                    suffix: suffix.clone(),
                    value: Vec::new(),
                    delta: true,
                    numbers: now
                        .iter()
                        .zip(&before)
                        .map(|(a, b)| a.wrapping_sub(*b))
                        .collect(),
                }
            }
            _ => Row {
                suffix: suffix.clone(),
                value: value.clone(),
                delta: false,
                numbers: Vec::new(),
            },
        };
        rows.push(row);
        previous = beat;
    }
    let raw = Rows { rows }.encode_to_vec();
    // Compressing a byte buffer in memory fails only on allocation: the rows are then kept
    // uncompressed (length 0 says so).
    let frame = COMPRESSOR
        .with(|c| c.borrow_mut().compress(&raw, LEVEL))
        .ok();
    let mut out = Vec::with_capacity(16 + frame.as_ref().map_or(raw.len(), Vec::len));
    out.push(BLOCK_TAG);
    match frame {
        Some(frame) => {
            prost::encoding::encode_varint(raw.len() as u64, &mut out);
            out.extend_from_slice(&frame);
        }
        None => {
            prost::encoding::encode_varint(0, &mut out);
            out.extend_from_slice(&raw);
        }
    }
    out
}

/// Whether a stored history value is a block.
pub fn is_block(value: &[u8]) -> bool {
    value.first() == Some(&BLOCK_TAG)
}

/// The members of a stored block (history key suffix, stored value), in key order.
pub fn decode(value: &[u8]) -> Result<Vec<Member>, BlockError> {
    let Some((&BLOCK_TAG, mut rest)) = value.split_first() else {
        return Err(BlockError::NotBlock);
    };
    let len =
        prost::encoding::decode_varint(&mut rest).map_err(|e| BlockError::Frame(e.to_string()))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_RAW {
        return Err(BlockError::Frame(format!("{len} bytes uncompressed")));
    }
    let raw = if len == 0 {
        rest.to_vec()
    } else {
        DECOMPRESSOR
            .with(|d| d.borrow_mut().decompress(rest, len))
            .map_err(|e| BlockError::Frame(e.to_string()))?
    };
    let rows = Rows::decode(raw.as_slice())?.rows;
    let mut out = Vec::with_capacity(rows.len());
    let mut previous: Option<Beat> = None;
    for row in rows {
        if row.delta {
            let p = previous.as_ref().ok_or(BlockError::Orphan)?;
            let before = numbers(p);
            if row.numbers.len() != before.len() {
                return Err(BlockError::Orphan);
            }
            let n: Vec<i64> = before
                .iter()
                .zip(&row.numbers)
                .map(|(b, d)| b.wrapping_add(*d))
                .collect();
            let beat = with_numbers(p, &n);
            out.push((row.suffix, beat.to_value()));
            previous = Some(beat);
        } else {
            previous = beat_of(&row.value);
            out.push((row.suffix, row.value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(base: &[u8], i: i64) -> Beat {
        Beat {
            base: base.to_vec(),
            received_at: Some(Timestamp {
                seconds: 1_800_000_000 + 300 * i,
                nanos: 17,
            }),
            sequence: 40 + i as u64,
            observed_at: Some(Timestamp {
                seconds: 1_800_000_000 + 300 * i - 2,
                nanos: 0,
            }),
            scan_duration: Some(Duration {
                seconds: 2,
                nanos: (i * 1000) as i32,
            }),
            counts: vec![1000 + i as u64, u64::MAX - i as u64, 7],
            seconds: vec![-2_592_000 - 300 * i, -40],
            nanos: vec![0, 999_999_999],
        }
    }

    #[test]
    fn members_come_back_byte_for_byte_and_repeats_cost_little() {
        let mut members: Vec<Member> = (0..12)
            .map(|i| {
                (
                    format!("k{i:02}").into_bytes(),
                    beat(b"base-1", i).to_value(),
                )
            })
            .collect();
        // Another base, a different shape, and a value that is not a heartbeat.
        members.push((b"k12".to_vec(), beat(b"base-2", 12).to_value()));
        let mut short = beat(b"base-2", 13);
        short.nanos.pop();
        members.push((b"k13".to_vec(), short.to_value()));
        members.push((b"k14".to_vec(), vec![0x0a, 0x00]));
        members.push((b"k15".to_vec(), beat(b"base-2", 15).to_value()));
        let stored = encode(&members);
        assert!(is_block(&stored));
        assert_eq!(decode(&stored).expect("decodes"), members);
        let plain: usize = members.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(
            stored.len() * 3 < plain,
            "{} bytes stored for {plain}",
            stored.len()
        );
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let stored = encode(&[(b"k".to_vec(), beat(b"b", 0).to_value())]);
        for cut in 0..stored.len() {
            let _ = decode(&stored[..cut]);
        }
        assert!(decode(&[0x0a]).is_err(), "not a block");
        // Nor is a block one status (protobuf has no field 0).
        assert!(crate::beat::decode(&stored).is_err());
        assert!(decode(&[BLOCK_TAG, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        let mut flipped = stored.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let _ = decode(&flipped);
        let orphan = Rows {
            rows: vec![Row {
                suffix: b"k".to_vec(),
                value: Vec::new(),
                delta: true,
                numbers: vec![1],
            }],
        }
        .encode_to_vec();
        let mut v = vec![BLOCK_TAG, 0];
        v.extend_from_slice(&orphan);
        assert!(matches!(decode(&v), Err(BlockError::Orphan)));
    }
}
