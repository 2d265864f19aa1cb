//! The mailer's own memory, in sled (`state_dir`): the last digest slot the relay accepted,
//! the findings that digest showed (with when each was first shown, for tomorrow's "new" and
//! "still open since" marks), which alert conditions are open per site, and since when the
//! collector is unreachable.
//! Every write is flushed before the function returns, because each one stands for an email
//! that went out (or must not go out twice).

use crate::render::changes::{DigestMemory, ProblemKey};
use chrono::{DateTime, Utc};

use std::path::{Path, PathBuf};

const LAST_SLOT: &[u8] = b"digest.last_slot";
const UNREACHABLE_SINCE: &[u8] = b"collector.unreachable_since";
const LAST_OK: &[u8] = b"collector.last_ok";
const PROBLEMS_AT: &[u8] = b"digest.problems_at";

/// How long `open` waits for a previous holder of the store to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the store failed; names the folder.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// sled could not open, read or write the folder.
    #[error("mailer state {}: {source}", .dir.display())]
    Sled {
        /// The state folder.
        dir: PathBuf,
        /// sled's error (e.g. the folder is locked by another running mailer).
        source: sled::Error,
    },
}

/// Open alert conditions per site: site name → verdict kinds (as their wire numbers).
pub use crate::alert_policy::Memory as AlertMemory;
use crate::alert_policy::{FindingKey, Remembered};

/// The opened store; cheap to clone, shared by the digest and alert loops.
#[derive(Clone)]
pub struct State {
    dir: PathBuf,
    meta: sled::Tree,
    alerts: sled::Tree,
    problems: sled::Tree,
    db: sled::Db,
}

impl State {
    /// Opens (or creates) the store. Fails when another process holds it; a holder that is
    /// just exiting (a restart) is waited for up to two seconds.
    pub fn open(dir: &Path) -> Result<State, StateError> {
        let err = |source| StateError::Sled {
            dir: dir.to_path_buf(),
            source,
        };
        let config = sled::Config::new().path(dir).cache_capacity(8 << 20);
        let opened = vigia::sled_open::open_waiting(dir, LOCK_WAIT, || config.open());
        let db = opened.map_err(|e| err(e.into_inner()))?;
        let meta = db.open_tree("meta").map_err(err)?;
        let alerts = db.open_tree("alerts").map_err(err)?;
        let problems = db.open_tree("digest_problems").map_err(err)?;
        Ok(State {
            dir: dir.to_path_buf(),
            meta,
            alerts,
            problems,
            db,
        })
    }

    fn err(&self, source: sled::Error) -> StateError {
        StateError::Sled {
            dir: self.dir.clone(),
            source,
        }
    }

    fn get_time(&self, key: &[u8]) -> Result<Option<DateTime<Utc>>, StateError> {
        let v = self.meta.get(key).map_err(|e| self.err(e))?;
        Ok(v.and_then(|b| decode_time(&b)))
    }

    fn set_time(&self, key: &[u8], t: Option<DateTime<Utc>>) -> Result<(), StateError> {
        match t {
            Some(t) => self
                .meta
                .insert(key, time_bytes(t).as_slice())
                .map_err(|e| self.err(e))?,
            None => self.meta.remove(key).map_err(|e| self.err(e))?,
        };
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest digest slot the relay accepted.
    pub fn last_digest_slot(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        self.get_time(LAST_SLOT)
    }

    /// Records that the relay accepted the digest of `slot` (never moves backwards).
    pub fn mark_digest_sent(&self, slot: DateTime<Utc>) -> Result<(), StateError> {
        if self.last_digest_slot()?.is_some_and(|last| last >= slot) {
            return Ok(());
        }
        self.set_time(LAST_SLOT, Some(slot))
    }

    /// Whether the digest of `slot` (or a later one) already went out.
    pub fn digest_sent(&self, slot: DateTime<Utc>) -> Result<bool, StateError> {
        Ok(self.last_digest_slot()?.is_some_and(|last| last >= slot))
    }

    /// Notes a failed read of the collector; returns since when it has been failing.
    pub fn collector_failed(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, StateError> {
        match self.get_time(UNREACHABLE_SINCE)? {
            Some(since) => Ok(since),
            None => {
                self.set_time(UNREACHABLE_SINCE, Some(now))?;
                Ok(now)
            }
        }
    }

    /// Notes a successful contact with the collector (ends an outage).
    pub fn collector_ok(&self, now: DateTime<Utc>) -> Result<(), StateError> {
        self.meta
            .remove(UNREACHABLE_SINCE)
            .map_err(|e| self.err(e))?;
        self.set_time(LAST_OK, Some(now))
    }

    /// The start of the current collector outage, if there is one.
    pub fn collector_unreachable_since(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        self.get_time(UNREACHABLE_SINCE)
    }

    /// The last successful contact with the collector.
    pub fn collector_last_ok(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        self.get_time(LAST_OK)
    }

    /// What the alert loop remembers of each urgent finding (entries of older mailers, one set
    /// of kinds per site, are not read and go at the next write).
    pub fn alert_memory(&self) -> Result<AlertMemory, StateError> {
        let mut out = AlertMemory::new();
        for item in self.alerts.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if let (Some(key), Some(r)) = (FindingKey::decode(&k), decode_remembered(&v)) {
                out.insert(key, r);
            }
        }
        Ok(out)
    }

    /// Replaces what the alert loop remembers, durably.
    pub fn set_alert_memory(&self, memory: &AlertMemory) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for item in self.alerts.iter() {
            let (k, _) = item.map_err(|e| self.err(e))?;
            let keep = FindingKey::decode(&k).is_some_and(|key| memory.contains_key(&key));
            if !keep {
                batch.remove(k);
            }
        }
        for (key, r) in memory {
            batch.insert(key.encode(), encode_remembered(r));
        }
        self.alerts.apply_batch(batch).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }
}

fn encode_remembered(r: &Remembered) -> Vec<u8> {
    let micros = |t: Option<DateTime<Utc>>| t.map_or(i64::MIN, |t| t.timestamp_micros());
    [Some(r.since), r.alerted, r.last_sent, r.escalated]
        .into_iter()
        .flat_map(|t| micros(t).to_be_bytes())
        .collect()
}

fn decode_remembered(v: &[u8]) -> Option<Remembered> {
    let mut times = v.chunks_exact(8).map(|c| {
        let us = i64::from_be_bytes(<[u8; 8]>::try_from(c).ok()?);
        (us != i64::MIN)
            .then(|| DateTime::<Utc>::from_timestamp_micros(us))
            .flatten()
    });
    if v.len() != 32 {
        return None;
    }
    Some(Remembered {
        since: times.next()??,
        alerted: times.next()?,
        last_sent: times.next()?,
        escalated: times.next()?,
    })
}

impl State {
    /// The findings of the last digest sent, or `None` before the first one.
    pub fn digest_memory(&self) -> Result<Option<DigestMemory>, StateError> {
        let Some(at) = self.get_time(PROBLEMS_AT)? else {
            return Ok(None);
        };
        let mut memory = DigestMemory {
            at: Some(at),
            ..DigestMemory::default()
        };
        for item in self.problems.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if let (Some(key), Some(t)) = (decode_key(&k), decode_time(&v)) {
                memory.first_seen.insert(key, t);
            }
        }
        Ok(Some(memory))
    }

    /// Replaces the findings of the last digest sent.
    pub fn set_digest_memory(&self, memory: &DigestMemory) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for k in self.problems.iter().keys() {
            let k = k.map_err(|e| self.err(e))?;
            batch.remove(k);
        }
        for (key, t) in &memory.first_seen {
            batch.insert(encode_key(key), time_bytes(*t));
        }
        self.problems.apply_batch(batch).map_err(|e| self.err(e))?;
        self.set_time(PROBLEMS_AT, memory.at)
    }
}

/// A finding's key: site, kind, recorder, camera, each string length-prefixed.
fn encode_key(k: &ProblemKey) -> Vec<u8> {
    fn push(v: &mut Vec<u8>, s: &str) {
        v.extend_from_slice(&(s.len() as u32).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    }
    let mut v = Vec::with_capacity(k.site.len() + k.recorder.len() + k.camera.len() + 16);
    push(&mut v, &k.site);
    v.extend_from_slice(&k.kind.to_be_bytes());
    push(&mut v, &k.recorder);
    push(&mut v, &k.camera);
    v
}

/// The key back; `None` for bytes this build did not write.
fn decode_key(b: &[u8]) -> Option<ProblemKey> {
    fn take<'b>(rest: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        *rest = tail;
        Some(head)
    }
    fn string(rest: &mut &[u8]) -> Option<String> {
        let len = u32::from_be_bytes(take(rest, 4)?.try_into().ok()?) as usize;
        Some(std::str::from_utf8(take(rest, len)?).ok()?.to_string())
    }
    let mut rest = b;
    let site = string(&mut rest)?;
    let kind = i32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
    let recorder = string(&mut rest)?;
    let camera = string(&mut rest)?;
    rest.is_empty().then_some(ProblemKey {
        site,
        kind,
        recorder,
        camera,
    })
}

/// An instant back from [`time_bytes`].
fn decode_time(b: &[u8]) -> Option<DateTime<Utc>> {
    let secs = i64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let nanos = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
    DateTime::<Utc>::from_timestamp(secs, nanos)
}

/// An instant as stored: seconds then nanoseconds, big-endian (12 bytes).
fn time_bytes(t: DateTime<Utc>) -> Vec<u8> {
    let mut v = t.timestamp().to_be_bytes().to_vec();
    v.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_alerts_survive_reopening() {
        let dir = tempfile::tempdir().expect("dir");
        let t = DateTime::<Utc>::from_timestamp(1_795_000_000, 123_456_789).expect("time");
        {
            let s = State::open(dir.path()).expect("open");
            assert!(!s.digest_sent(t).expect("read"));
            s.mark_digest_sent(t).expect("mark");
            s.mark_digest_sent(t - chrono::Duration::days(1))
                .expect("older mark");
            s.set_alert_memory(&memory(t)).expect("alerts");
            assert_eq!(s.collector_failed(t).expect("fail"), t);
            assert_eq!(
                s.collector_failed(t + chrono::Duration::hours(1))
                    .expect("fail"),
                t,
                "an outage keeps its start"
            );
        }
        let s = State::open(dir.path()).expect("reopen");
        assert_eq!(s.last_digest_slot().expect("read"), Some(t));
        assert!(s.digest_sent(t).expect("read"));
        assert_eq!(s.alert_memory().expect("alerts"), memory(t));
        s.collector_ok(t).expect("ok");
        let later = t + chrono::Duration::hours(2);
        assert_eq!(s.collector_failed(later).expect("fail"), later);
        s.set_alert_memory(&AlertMemory::new()).expect("clear");
        assert!(s.alert_memory().expect("alerts").is_empty());
    }

    fn memory(t: DateTime<Utc>) -> AlertMemory {
        let key = FindingKey {
            site: "loja-1".into(),
            kind: vigia::pb::VerdictKind::CameraLate,
            recorder: "nvr".into(),
            camera: "doca".into(),
        };
        let t = DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros()).expect("time");
        let r = Remembered {
            since: t,
            alerted: Some(t + chrono::Duration::minutes(10)),
            last_sent: Some(t + chrono::Duration::minutes(10)),
            escalated: None,
        };
        [(key, r)].into_iter().collect()
    }

    #[test]
    fn the_digest_memory_survives_reopening_and_is_replaced_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let t = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).expect("time");
        let key = |site: &str, kind: i32, camera: &str| ProblemKey {
            site: site.into(),
            kind,
            recorder: "nvr".into(),
            camera: camera.into(),
        };
        {
            let s = State::open(dir.path()).expect("open");
            assert_eq!(
                s.digest_memory().expect("read"),
                None,
                "none before a digest"
            );
            let mut m = DigestMemory {
                at: Some(t),
                ..DigestMemory::default()
            };
            m.first_seen.insert(key("loja-1", 2, ""), t);
            m.first_seen.insert(key("loja-é", 5, "doca"), t);
            s.set_digest_memory(&m).expect("write");
        }
        let s = State::open(dir.path()).expect("reopen");
        let m = s.digest_memory().expect("read").expect("memory");
        assert_eq!(m.at, Some(t));
        assert_eq!(m.first_seen.len(), 2);
        assert_eq!(m.first_seen.get(&key("loja-é", 5, "doca")), Some(&t));
        let later = DigestMemory {
            at: Some(t + chrono::Duration::days(1)),
            ..DigestMemory::default()
        };
        s.set_digest_memory(&later).expect("replace");
        assert_eq!(
            s.digest_memory().expect("read"),
            Some(later),
            "old findings gone"
        );
    }

    #[test]
    fn a_second_open_is_refused_and_names_the_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let _s = State::open(dir.path()).expect("open");
        let e = State::open(dir.path()).err().expect("locked");
        assert!(e.to_string().contains(&dir.path().display().to_string()));
    }
}
