//! Turns the store's inventory and latest statuses into `SiteReport`s with verdicts, the one
//! place where Query and `/metrics` get their answers, so they always agree.

use chrono::{DateTime, Utc};
use std::time::Duration;
use vigia::days::from_timestamp;
use vigia::pb::{SiteReport, SiteState};
use vigia::rules::{ok_verdict, site_verdicts, RecorderInput, SiteInput};

use crate::config::CollectorConfig;
use crate::store::{received_at, SiteRecord, Store, StoreError};

/// The interval assumed for a site that announced none (the probe's default).
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(300);

/// One site's report at `now`; `None` when the site is neither known nor expected.
pub fn site_report(
    config: &CollectorConfig,
    store: &Store,
    site: &str,
    now: DateTime<Utc>,
) -> Result<Option<SiteReport>, StoreError> {
    let record = store.site(site)?;
    let in_config = config.expected_sites.iter().any(|s| s == site);
    if record.is_none() && !in_config {
        return Ok(None);
    }
    let record = record.unwrap_or_default();
    Ok(Some(build(config, store, site, &record, in_config, now)?))
}

fn build(
    config: &CollectorConfig,
    store: &Store,
    site: &str,
    record: &SiteRecord,
    in_config: bool,
    now: DateTime<Utc>,
) -> Result<SiteReport, StoreError> {
    let rules = config.rules_for(site);
    let latest = store.latest(site)?;
    let last_contact = record.last_contact.as_ref().and_then(from_timestamp);
    let interval = record
        .report_interval
        .or(record.expected_interval)
        .and_then(|d| Duration::try_from(d).ok());
    let state = if record.retired {
        SiteState::Retired
    } else if last_contact.is_some() {
        SiteState::Active
    } else {
        SiteState::Expected
    };
    let mut inputs = Vec::with_capacity(latest.len());
    for entry in &latest {
        let (Some(status), Some(at)) = (entry.status.as_ref(), received_at(entry)) else {
            continue;
        };
        inputs.push(RecorderInput {
            status,
            received_at: at,
        });
    }
    let latest_at = |recorder: &str| {
        inputs
            .iter()
            .find(|r| r.status.recorder == recorder)
            .map(|r| r.received_at)
    };
    let inventory = store.inventory(site, &latest_at)?;
    let input = SiteInput {
        expected: in_config || record.expected,
        retired: record.retired,
        last_contact,
        report_interval: Some(interval.unwrap_or(DEFAULT_REPORT_INTERVAL)),
        recorders: inputs.clone(),
        inventory: &inventory,
        last_drop: record
            .last_drop_at
            .as_ref()
            .and_then(from_timestamp)
            .map(|at| (record.last_drop_count, at, record.dropped_total)),
    };
    let mut verdicts = site_verdicts(&input, now, &rules);
    let acks = store.acks(site, now)?;
    let ack_inputs: Vec<_> = acks.iter().filter_map(|a| a.input()).collect();
    vigia::rules::ack::apply(&mut verdicts, &ack_inputs, now);
    let recorders = inputs
        .iter()
        .map(|r| {
            let name = r.status.recorder.as_str();
            let retired = inventory
                .iter()
                .any(|e| e.recorder == name && e.camera.is_empty() && e.retired_at.is_some());
            let mut own: Vec<_> = verdicts
                .iter()
                .filter(|v| v.recorder == name)
                .cloned()
                .collect();
            if own.is_empty() && !record.retired && !retired {
                own.push(ok_verdict(name));
            }
            vigia::pb::RecorderReport {
                status: Some(r.status.clone()),
                received_at: Some(vigia::days::to_timestamp(r.received_at)),
                verdicts: own,
            }
        })
        .collect();
    Ok(SiteReport {
        site: site.to_string(),
        state: state as i32,
        first_contact: record.first_contact,
        last_contact: record.last_contact,
        last_sequence: record.last_sequence,
        report_interval: record.report_interval.or(record.expected_interval),
        recorders,
        verdicts,
        min_retention_days: rules.min_retention_days,
        note: record.note.clone(),
        inventory,
    })
}

/// Every site's report at `now`, by name; retired ones only when asked.
pub fn all_reports(
    config: &CollectorConfig,
    store: &Store,
    now: DateTime<Utc>,
    include_retired: bool,
) -> Result<Vec<SiteReport>, StoreError> {
    let mut records: std::collections::BTreeMap<String, SiteRecord> =
        store.sites()?.into_iter().collect();
    for s in &config.expected_sites {
        records.entry(s.clone()).or_default();
    }
    let expected: std::collections::HashSet<&str> =
        config.expected_sites.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(records.len());
    for (name, record) in &records {
        if record.retired && !include_retired {
            continue;
        }
        let in_config = expected.contains(name.as_str());
        out.push(build(config, store, name, record, in_config, now)?);
    }
    Ok(out)
}
