//! Operators' acknowledgements, kept with the findings they covered when given, so that the rules
//! (`vigia::rules::ack`) can tell "the same, known finding" from "a new or worse one". Expired
//! ones are dropped when the next one is written for the site.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `acks` | site `\0` id (8, BE) | [`AckRecord`] |

use chrono::{DateTime, Utc};
use prost::Message;
use vigia::days::from_timestamp;
use vigia::pb::{Acknowledgement, Verdict, VerdictKind};
use vigia::rules::ack::AckInput;

use crate::store::{prefix, Store, StoreError};

/// One stored acknowledgement.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AckRecord {
    /// The kind acknowledged (`VerdictKind`).
    #[prost(int32, tag = "1")]
    pub kind: i32,
    /// The recorder; empty for all.
    #[prost(string, tag = "2")]
    pub recorder: String,
    /// The camera; empty for all.
    #[prost(string, tag = "3")]
    pub camera: String,
    /// Who, why, until when.
    #[prost(message, optional, tag = "4")]
    pub ack: Option<Acknowledgement>,
    /// The findings it covered when given.
    #[prost(message, repeated, tag = "5")]
    pub snapshot: Vec<Verdict>,
}

impl AckRecord {
    /// The record as the rules read it.
    pub fn input(&self) -> Option<AckInput<'_>> {
        Some(AckInput {
            kind: VerdictKind::try_from(self.kind).ok()?,
            recorder: &self.recorder,
            camera: &self.camera,
            ack: self.ack.as_ref()?,
            snapshot: &self.snapshot,
        })
    }

    fn live(&self, now: DateTime<Utc>) -> bool {
        self.ack
            .as_ref()
            .and_then(|a| a.until.as_ref())
            .and_then(from_timestamp)
            .is_some_and(|until| until > now)
    }
}

impl Store {
    /// A site's unexpired acknowledgements.
    pub fn acks(&self, site: &str, now: DateTime<Utc>) -> Result<Vec<AckRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.acks.scan_prefix(prefix(site)) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            match AckRecord::decode(v.as_ref()) {
                Ok(rec) if rec.live(now) => out.push(rec),
                Ok(_) => {}
                // One damaged record must not take the site's (or the fleet's) report down.
                Err(e) => tracing::warn!(
                    store = %self.dir().display(),
                    site,
                    key = ?k,
                    error = %e,
                    "acknowledgement record cannot be read; ignored (its finding alerts again)"
                ),
            }
        }
        Ok(out)
    }

    /// Stores an acknowledgement and drops the site's expired ones.
    pub fn add_ack(
        &self,
        site: &str,
        rec: &AckRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for kv in self.acks.scan_prefix(prefix(site)) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            // Damaged records stay for inspection; only readable expired ones go.
            let expired = AckRecord::decode(v.as_ref()).is_ok_and(|r| !r.live(now));
            if expired {
                batch.remove(k);
            }
        }
        let id = self.db.generate_id().map_err(|e| self.err(e))?;
        let mut key = prefix(site);
        key.extend_from_slice(&id.to_be_bytes());
        batch.insert(key, rec.encode_to_vec());
        self.acks.apply_batch(batch).map_err(|e| self.err(e))
    }
}
