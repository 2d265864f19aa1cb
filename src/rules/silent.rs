//! SILENT and NEVER_REPORTED: the site-wide findings about contact. SILENT when no report came
//! for the probe's interval plus `silent_grace` (clears with the next report); NEVER_REPORTED for
//! an expected site that never reported.

use super::clock::span;
use super::{Rules, SiteInput};
use crate::days::to_timestamp;
use crate::pb::verdict::Facts;
use crate::pb::{NeverReportedFacts, SilentFacts};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The interval assumed for a site that announced none (the probe's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The site-wide finding, if any.
pub fn check(site: &SiteInput<'_>, now: DateTime<Utc>, rules: &Rules) -> Option<Facts> {
    match site.last_contact {
        None => site
            .expected
            .then_some(Facts::NeverReported(NeverReportedFacts {})),
        Some(last) => {
            let interval = site.report_interval.unwrap_or(DEFAULT_INTERVAL);
            let silence = span(now, last);
            (silence > interval + rules.silent_grace).then(|| {
                Facts::Silent(SilentFacts {
                    last_contact: Some(to_timestamp(last)),
                    silence: prost_types::Duration::try_from(silence).ok(),
                    interval: prost_types::Duration::try_from(interval).ok(),
                })
            })
        }
    }
}
