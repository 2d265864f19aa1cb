//! RECORDER_SILENT: a recorder the site had is no longer reported while the site keeps reporting
//! (the probe's config was edited, the path changed). Its last status is not judged any more —
//! an old OK would be a false OK. Clears when it reports again or is retired.

use super::clock::span;
use super::{RecorderInput, Rules};
use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::RecorderSilentFacts;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The finding, if this recorder's latest status is older than the interval plus grace.
pub fn check(
    r: &RecorderInput<'_>,
    interval: Duration,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Option<Facts> {
    let silence = span(now, r.received_at);
    (silence > interval + rules.silent_grace).then(|| {
        Facts::RecorderSilent(RecorderSilentFacts {
            last_seen: Some(to_timestamp(r.received_at)),
            silence: prost_types::Duration::try_from(silence).ok(),
            interval: prost_types::Duration::try_from(interval).ok(),
        })
    })
}
