//! Turns the store's inventory and latest statuses into `SiteReport`s with verdicts, the one
//! place where Query and `/metrics` get their answers, so they always agree.

use chrono::{DateTime, Utc};
use std::time::Duration;
use vigia::days::from_timestamp;
use vigia::pb::{SiteReport, SiteState, VerdictKind};
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
    let (verdicts, inventory) = {
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
            recorders: inputs,
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
        (verdicts, inventory)
    };
    // The statuses move into the report (a fleet page holds thousands; a copy of each would
    // double what a listing allocates).
    let recorders = latest
        .into_iter()
        .filter_map(|entry| {
            let at = received_at(&entry)?;
            let status = entry.status?;
            let name = status.recorder.as_str();
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
            Some(vigia::pb::RecorderReport {
                status: Some(status),
                received_at: Some(vigia::days::to_timestamp(at)),
                verdicts: own,
            })
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
    let listing = Listing {
        include_retired,
        ..Listing::default()
    };
    Ok(page(config, store, now, &listing, usize::MAX, usize::MAX)?.0)
}

/// Which sites a listing wants, and where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Retired sites too.
    pub include_retired: bool,
    /// Only sites with a verdict other than OK.
    pub only_problems: bool,
    /// Only sites with a verdict of one of these kinds (empty: any).
    pub kinds: Vec<VerdictKind>,
    /// Only names starting with this.
    pub name_prefix: String,
    /// Names up to and including this one were on earlier pages.
    pub after: Option<String>,
}

impl Listing {
    fn wants(&self, report: &SiteReport) -> bool {
        if self.only_problems && report.verdicts.iter().all(|v| v.kind() == VerdictKind::Ok) {
            return false;
        }
        self.kinds.is_empty()
            || report
                .verdicts
                .iter()
                .chain(report.recorders.iter().flat_map(|r| r.verdicts.iter()))
                .any(|v| self.kinds.contains(&v.kind()))
    }
}

/// One page of sites by name after `listing.after`: at most `max_sites`, and no more once the
/// encoded page passes `max_bytes` (always at least one site). Also says whether any site is
/// left after the page. Only the page's sites are evaluated, except those a filter drops.
pub fn page(
    config: &CollectorConfig,
    store: &Store,
    now: DateTime<Utc>,
    listing: &Listing,
    max_sites: usize,
    max_bytes: usize,
) -> Result<(Vec<SiteReport>, bool), StoreError> {
    let after = listing.after.as_deref();
    // Expected sites that never reported have no record: merge their names into the store's
    // ordered walk, so only the page's sites are ever read.
    let mut expected: Vec<&str> = config
        .expected_sites
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with(&listing.name_prefix) && after.is_none_or(|a| *s > a))
        .collect();
    expected.sort_unstable();
    expected.dedup();
    let configured: std::collections::HashSet<&str> =
        config.expected_sites.iter().map(String::as_str).collect();
    let mut stored = store.sites_after(after, &listing.name_prefix).peekable();
    let mut expected = expected.into_iter().peekable();
    let mut next = || -> Option<Result<(String, SiteRecord), StoreError>> {
        let from_store = match stored.peek() {
            Some(Ok((name, _))) => Some(name.as_str()),
            Some(Err(_)) => return stored.next(),
            None => None,
        };
        match (from_store, expected.peek().copied()) {
            (None, None) => None,
            (Some(s), Some(e)) if e < s => {
                expected.next();
                Some(Ok((e.to_string(), SiteRecord::default())))
            }
            (Some(s), Some(e)) => {
                if e == s {
                    expected.next();
                }
                stored.next()
            }
            (Some(_), None) => stored.next(),
            (None, Some(e)) => {
                expected.next();
                Some(Ok((e.to_string(), SiteRecord::default())))
            }
        }
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_WORKERS);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut pending = next();
    loop {
        // The next candidates (retired ones dropped unless asked for), evaluated together.
        let want = max_sites.saturating_sub(out.len()).clamp(1, BATCH);
        let mut batch = Vec::with_capacity(want.min(BATCH));
        while batch.len() < want {
            let Some(item) = pending else { break };
            let (name, record) = item?;
            pending = next();
            if record.retired && !listing.include_retired {
                continue;
            }
            batch.push((name, record));
        }
        if batch.is_empty() {
            return Ok((out, false));
        }
        let mut reports =
            build_batch(config, store, &batch, &configured, now, workers)?.into_iter();
        for report in reports.by_ref() {
            if !listing.wants(&report) {
                continue;
            }
            bytes = bytes.saturating_add(prost::Message::encoded_len(&report));
            out.push(report);
            if out.len() >= max_sites || bytes >= max_bytes {
                // More may follow; a filter may still drop them all, which costs the reader one
                // empty last page. The batch's reports past the page are built again then.
                return Ok((out, reports.len() > 0 || pending.is_some()));
            }
        }
    }
}

/// Most threads one listing evaluates sites on.
const MAX_WORKERS: usize = 4;

/// Sites evaluated together: a page's worth, split among the workers.
const BATCH: usize = 512;

/// Fewer sites than this are evaluated on the calling thread (threads cost more than they save).
const PARALLEL_FROM: usize = 64;

/// The reports of `batch`, in its order. A fleet page is hundreds of independent sites, each
/// read from the store and judged on its own: they are split among `workers` threads, so a
/// 50,000-site digest is not bound to one core of the collector.
fn build_batch(
    config: &CollectorConfig,
    store: &Store,
    batch: &[(String, SiteRecord)],
    configured: &std::collections::HashSet<&str>,
    now: DateTime<Utc>,
    workers: usize,
) -> Result<Vec<SiteReport>, StoreError> {
    let one = |(name, record): &(String, SiteRecord)| {
        build(
            config,
            store,
            name,
            record,
            configured.contains(name.as_str()),
            now,
        )
    };
    if workers <= 1 || batch.len() < PARALLEL_FROM {
        return batch.iter().map(one).collect();
    }
    let chunk = batch.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for handle in handles {
            // A panic in a worker is the listing's own, as it would be on one thread.
            let part = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for report in part {
                out.push(report?);
            }
        }
        Ok(out)
    })
}
