//! The collector's memory of what each site had: every recorder and camera ever reported, when
//! first seen, when a camera was last seen before it vanished, and what an operator retired.
//! Without it a camera whose folder is gone is simply absent from the latest status — a false
//! OK. Written only when something changes (a camera appears or vanishes, a retirement), so the
//! ingest path pays one small read per status.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `inventory` | site `\0` recorder | [`RecorderRecord`] |

use chrono::{DateTime, Utc};
use prost::Message;
use vigia::days::to_timestamp;
use vigia::pb::{InventoryEntry, RecordingStatus};

use crate::store::{pair_key, prefix, Store, StoreError};

/// One camera as remembered.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CameraRecord {
    /// The camera's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// First status that included it.
    #[prost(message, optional, tag = "2")]
    pub first_seen: Option<prost_types::Timestamp>,
    /// In the recorder's latest status.
    #[prost(bool, tag = "3")]
    pub present: bool,
    /// The last status that included it, set when it vanished (while present, the recorder's
    /// latest status is the last one).
    #[prost(message, optional, tag = "4")]
    pub last_seen: Option<prost_types::Timestamp>,
    /// Retired by an operator.
    #[prost(message, optional, tag = "5")]
    pub retired_at: Option<prost_types::Timestamp>,
}

/// One recorder as remembered, with its cameras.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecorderRecord {
    /// First status of this recorder.
    #[prost(message, optional, tag = "1")]
    pub first_seen: Option<prost_types::Timestamp>,
    /// Retired by an operator (cleared when it reports again).
    #[prost(message, optional, tag = "2")]
    pub retired_at: Option<prost_types::Timestamp>,
    /// Its cameras, by name.
    #[prost(message, repeated, tag = "3")]
    pub cameras: Vec<CameraRecord>,
}

impl RecorderRecord {
    /// Brings the record up to date with a status that became the recorder's latest, received
    /// at `now`; `previous_at` is when the status it replaces was received. True when changed.
    pub fn observe(
        &mut self,
        status: &RecordingStatus,
        now: DateTime<Utc>,
        previous_at: Option<DateTime<Utc>>,
    ) -> bool {
        let now_ts = to_timestamp(now);
        let mut changed = false;
        if self.first_seen.is_none() {
            self.first_seen = Some(now_ts);
            changed = true;
        }
        if self.retired_at.take().is_some() {
            changed = true;
        }
        for c in &mut self.cameras {
            let present = status
                .cameras
                .iter()
                .any(|s| counts(s) && s.camera == c.name);
            if present && !c.present {
                c.present = true;
                c.last_seen = None;
                c.retired_at = None;
                changed = true;
            } else if !present && c.present {
                c.present = false;
                c.last_seen = Some(to_timestamp(previous_at.unwrap_or(now)));
                changed = true;
            }
        }
        for s in status.cameras.iter().filter(|s| counts(s)) {
            if !self.cameras.iter().any(|c| c.name == s.camera) {
                self.cameras.push(CameraRecord {
                    name: s.camera.clone(),
                    first_seen: Some(now_ts),
                    present: true,
                    last_seen: None,
                    retired_at: None,
                });
                changed = true;
            }
        }
        changed
    }
}

/// A camera is there when it has recordings: a folder left empty (its files aged out) is a
/// camera gone.
pub fn counts(c: &vigia::pb::CameraStatus) -> bool {
    c.file_count > 0
}

/// Why an operator's retirement was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// Nothing of that name was ever reported.
    #[error("{0}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// A recorder's remembered record.
    pub fn recorder_record(
        &self,
        site: &str,
        recorder: &str,
    ) -> Result<Option<RecorderRecord>, StoreError> {
        match self
            .inventory
            .get(pair_key(site, recorder))
            .map_err(|e| self.err(e))?
        {
            Some(v) => Ok(Some(
                RecorderRecord::decode(v.as_ref()).map_err(|e| self.corrupt("inventory", e))?,
            )),
            None => Ok(None),
        }
    }

    /// Writes a recorder's record.
    pub fn put_recorder_record(
        &self,
        site: &str,
        recorder: &str,
        rec: &RecorderRecord,
    ) -> Result<(), StoreError> {
        self.inventory
            .insert(pair_key(site, recorder), rec.encode_to_vec())
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Keeps the inventory in step with a status that just became its recorder's latest.
    /// `previous` is the status it replaces (read only when the recorder has no record yet, to
    /// seed one from it after an upgrade), `previous_at` when that one arrived.
    pub fn observe_inventory(
        &self,
        status: &RecordingStatus,
        now: DateTime<Utc>,
        previous_at: Option<DateTime<Utc>>,
        previous: impl FnOnce() -> Option<RecordingStatus>,
    ) -> Result<(), StoreError> {
        let known = match self.recorder_record(&status.site, &status.recorder) {
            Err(StoreError::Corrupt { reason, .. }) => {
                // A damaged record must not block the site's statuses: start it again from this
                // status (cameras that vanished before are forgotten, which the log says).
                tracing::warn!(
                    store = %self.dir().display(),
                    site = %status.site,
                    recorder = %status.recorder,
                    error = %reason,
                    "inventory record cannot be read; rebuilt from the latest status"
                );
                None
            }
            other => other?,
        };
        let mut rec = match known {
            Some(r) => r,
            None => {
                let mut r = RecorderRecord::default();
                if let (Some(prev), Some(at)) = (previous(), previous_at) {
                    r.observe(&prev, at, None);
                }
                r
            }
        };
        if rec.observe(status, now, previous_at) {
            self.put_recorder_record(&status.site, &status.recorder, &rec)?;
        }
        Ok(())
    }

    /// Retires a camera (`Some`) or a whole recorder (`None`).
    pub fn retire(
        &self,
        site: &str,
        recorder: &str,
        camera: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), RetireError> {
        let Some(mut rec) = self.recorder_record(site, recorder)? else {
            return Err(RetireError::Unknown(format!(
                "recorder: {recorder:?} has never reported at site {site:?}"
            )));
        };
        let at = Some(to_timestamp(now));
        match camera {
            None => rec.retired_at = at,
            Some(name) => match rec.cameras.iter_mut().find(|c| c.name == name) {
                Some(c) => c.retired_at = at,
                None => {
                    return Err(RetireError::Unknown(format!(
                    "camera: {name:?} was never reported by recorder {recorder:?} at site {site:?}"
                )))
                }
            },
        }
        self.put_recorder_record(site, recorder, &rec)?;
        Ok(())
    }

    /// A site's inventory as the contract shows it; `latest_at` gives each recorder's latest
    /// arrival (the last time its present cameras were seen).
    pub fn inventory(
        &self,
        site: &str,
        latest_at: &dyn Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let mut out = Vec::new();
        let skip = prefix(site).len();
        for kv in self.inventory.scan_prefix(prefix(site)) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let recorder = String::from_utf8_lossy(&k[skip..]).into_owned();
            let rec = match RecorderRecord::decode(v.as_ref()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        store = %self.dir().display(),
                        site,
                        recorder = %recorder,
                        error = %e,
                        "inventory record cannot be read; left out of the report"
                    );
                    continue;
                }
            };
            let last = latest_at(&recorder).map(to_timestamp);
            out.push(InventoryEntry {
                recorder: recorder.clone(),
                camera: String::new(),
                first_seen: rec.first_seen,
                last_seen: last,
                present: true,
                retired_at: rec.retired_at,
            });
            for c in &rec.cameras {
                out.push(InventoryEntry {
                    recorder: recorder.clone(),
                    camera: c.name.clone(),
                    first_seen: c.first_seen,
                    last_seen: if c.present { last } else { c.last_seen },
                    present: c.present,
                    retired_at: c.retired_at,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia::pb::CameraStatus;

    fn status(cams: &[&str]) -> RecordingStatus {
        RecordingStatus {
            site: "s".into(),
            recorder: "r".into(),
            cameras: cams
                .iter()
                .map(|c| CameraStatus {
                    camera: (*c).into(),
                    file_count: 1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + h * 3600, 0).expect("time")
    }

    #[test]
    fn a_vanished_camera_keeps_when_it_was_last_seen_and_comes_back() {
        let mut r = RecorderRecord::default();
        assert!(r.observe(&status(&["a", "b"]), t(0), None));
        assert!(!r.observe(&status(&["a", "b"]), t(1), Some(t(0))));
        assert!(r.observe(&status(&["a"]), t(2), Some(t(1))));
        let b = r.cameras.iter().find(|c| c.name == "b").expect("b kept");
        assert!(!b.present);
        assert_eq!(b.last_seen, Some(to_timestamp(t(1))));
        assert!(
            !r.observe(&status(&["a"]), t(3), Some(t(2))),
            "no write while nothing changes"
        );
        assert!(r.observe(&status(&["a", "b"]), t(4), Some(t(3))));
        assert!(r.cameras.iter().all(|c| c.present && c.last_seen.is_none()));
        // A folder left without files is a camera gone.
        let mut emptied = status(&["a", "b"]);
        emptied.cameras[1].file_count = 0;
        assert!(r.observe(&emptied, t(5), Some(t(4))));
        assert!(!r.cameras[1].present);
    }
}
