//! The mailer at work: fetch, render, send, remember. Each step takes the instant it is about
//! (`now`, `slot`) as a parameter, so tests drive "the 07:00 digest of 28/11" without waiting
//! for 07:00; only [`Mailer::run`] reads the wall clock.
//!
//! A digest slot is marked sent only after the relay accepted the message; transient failures
//! are retried with capped exponential backoff and jitter until the next slot is due, and a
//! restart catches up the latest slot that did not go out.

use crate::alert_policy::{self, Event, Finding, FindingKey, Phase, Policy};
use crate::config::Settings;
use crate::delivery::Delivery;
use crate::notify::Notifier;
use crate::render::{self, AlertChange, FleetView, Rendered};
use crate::smtp::{Recipients, SendError};
use crate::state::{AlertMemory, State, StateError};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};
use vigia::cron::CronSchedule;
use vigia::pb::{ListSitesResponse, VerdictKind};
use vigia::rules::ack::unacknowledged;

/// The conditions that warrant an urgent email on entry (and a recovery email on exit): the
/// ones that mean "not recording" (or no longer known to record). An acknowledged finding does
/// not alert; it is back when its acknowledgement expires or it changes (the collector decides).
pub const ALERTABLE: [VerdictKind; 7] = [
    VerdictKind::Late,
    VerdictKind::Silent,
    VerdictKind::ScanError,
    VerdictKind::CameraLate,
    VerdictKind::NotWriting,
    VerdictKind::CameraMissing,
    VerdictKind::RecorderSilent,
];

/// Gmail shows "[Message clipped]" past this many bytes of HTML.
const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Longest single sleep, so a changed wall clock (suspend, NTP step) is noticed within a minute.
const MAX_NAP: Duration = Duration::from_secs(60);

/// What went wrong beyond retrying.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The message could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// A schedule loop panicked (a bug): the process should stop and be restarted.
    #[error("{0} loop panicked")]
    Panicked(&'static str),
}

/// The fleet as fetched, owning its data.
#[derive(Debug, Clone)]
pub enum Fleet {
    /// The collector answered: its pages folded into the digest's compact rows.
    Reachable(render::FleetRows),
    /// It did not: since when, the last good read, and the error.
    Unreachable {
        /// First failure of the current outage.
        since: DateTime<Utc>,
        /// Last successful contact.
        last_ok: Option<DateTime<Utc>>,
        /// The latest error.
        error: String,
    },
}

impl Fleet {
    /// The borrowed view the renderer takes.
    pub fn view(&self) -> FleetView<'_> {
        match self {
            Fleet::Reachable(r) => FleetView::Rows(r),
            Fleet::Unreachable {
                since,
                last_ok,
                error,
            } => FleetView::Unreachable {
                since: *since,
                last_ok: *last_ok,
                error,
            },
        }
    }
}

/// How a digest slot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOutcome {
    /// The relay accepted it now.
    Sent,
    /// It had gone out before (e.g. before a restart): nothing sent.
    AlreadySent,
    /// Not sent: a permanent failure, or still failing when the next slot came.
    GaveUp(String),
    /// Shutdown was asked for while retrying.
    Cancelled,
}

/// What an alert check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOutcome {
    /// The collector could not be read (the digest reports it).
    CollectorUnreachable,
    /// No site entered or left an alertable condition.
    NoChange,
    /// One email listing these changes went out.
    Sent(Vec<AlertChange>),
}

/// Reads the fleet without any state: for `preview` and `send-now`, which must work while
/// `run` holds the store.
pub async fn fetch_stateless(settings: &Settings, now: DateTime<Utc>) -> Fleet {
    match crate::fleet::list_sites(&settings.raw.collector).await {
        Ok(r) => Fleet::Reachable(r),
        Err(e) => Fleet::Unreachable {
            since: now,
            last_ok: None,
            error: e.to_string(),
        },
    }
}

/// The mailer: its settings and its store.
#[derive(Clone)]
pub struct Mailer {
    settings: Arc<Settings>,
    state: State,
    delivery: Delivery,
    notifier: Notifier,
}

impl Mailer {
    /// Opens the state store named by the settings.
    pub fn open(settings: Settings) -> Result<Mailer, StateError> {
        let state = State::open(&settings.raw.state_dir)?;
        let settings = Arc::new(settings);
        Ok(Mailer {
            delivery: Delivery::new(settings.clone()),
            notifier: Notifier::new(&settings),
            settings,
            state,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// How messages leave (SMTP or Graph), with its OAuth2 token kept between sends.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Reads the fleet and keeps track of collector outages.
    pub async fn fetch(&self, now: DateTime<Utc>) -> Result<Fleet, StateError> {
        self.fetch_with(now, &[]).await
    }

    /// [`Mailer::fetch`] of only the sites with a verdict of one of `kinds` (all when empty).
    async fn fetch_with(
        &self,
        now: DateTime<Utc>,
        kinds: &[VerdictKind],
    ) -> Result<Fleet, StateError> {
        match crate::fleet::list_sites_with(&self.settings.raw.collector, kinds).await {
            Ok(r) => {
                self.state.collector_ok(now)?;
                Ok(Fleet::Reachable(r))
            }
            Err(e) => {
                let since = self.state.collector_failed(now)?;
                warn!(error = %e, since = %since, "collector unreachable");
                Ok(Fleet::Unreachable {
                    since,
                    last_ok: self.state.collector_last_ok()?,
                    error: e.to_string(),
                })
            }
        }
    }

    /// The digest's recipients.
    pub fn digest_recipients(&self) -> Recipients {
        Recipients {
            to: self.settings.to.clone(),
            cc: self.settings.cc.clone(),
            bcc: self.settings.bcc.clone(),
        }
    }

    /// Renders the digest about `slot` from a fetched fleet, marking what changed since the
    /// last digest sent (an unreadable memory only loses the marks, never the digest).
    pub fn render(&self, fleet: &Fleet, slot: DateTime<Utc>) -> Rendered {
        let previous = self.state.digest_memory().unwrap_or_else(|e| {
            warn!(error = %e, "cannot read the previous digest's problems; no change marks");
            None
        });
        render::render_digest_since(
            &fleet.view(),
            slot,
            previous.as_ref(),
            &self.settings.render_options(),
        )
    }

    /// Remembers the problems of the digest of `slot` that went out, for tomorrow's marks.
    fn remember_digest(&self, fleet: &Fleet, slot: DateTime<Utc>) {
        let Fleet::Reachable(resp) = fleet else {
            return;
        };
        let previous = self.state.digest_memory().ok().flatten();
        let memory = render::changes::remember_rows(resp, previous.as_ref(), slot);
        if let Err(e) = self.state.set_digest_memory(&memory) {
            warn!(error = %e, "cannot store the digest's problems; tomorrow's digest shows no change marks");
        }
    }

    /// Sends the digest of `slot` unless it went out already; retries transient failures until
    /// `deadline` (normally the next slot). Marks the slot only once the relay accepted it.
    pub async fn send_digest_for_slot(
        &self,
        slot: DateTime<Utc>,
        deadline: DateTime<Utc>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<SlotOutcome, MailerError> {
        if self.state.digest_sent(slot)? {
            info!(slot = %slot, "digest of this slot already sent");
            return Ok(SlotOutcome::AlreadySent);
        }
        let smtp = &self.settings.raw.smtp;
        let mut attempt: u32 = 0;
        loop {
            let now = Utc::now();
            let fleet = self.fetch(now).await?;
            let mail = self.render(&fleet, slot);
            if mail.html.len() > GMAIL_CLIP_BYTES {
                warn!(
                    bytes = mail.html.len(),
                    "digest HTML is over Gmail's 102 KB clipping limit; Gmail readers will see a truncated message"
                );
            }
            let sent = self
                .delivery
                .send(&self.digest_recipients(), &mail, false)
                .await;
            match sent {
                Ok(()) => {
                    self.state.mark_digest_sent(slot)?;
                    self.remember_digest(&fleet, slot);
                    info!(slot = %slot, subject = %mail.subject, attempts = attempt + 1, "digest sent");
                    self.notifier.digest_sent().await;
                    return Ok(SlotOutcome::Sent);
                }
                Err(e) if e.is_transient() => {
                    let wait = backoff(smtp.retry_initial, smtp.retry_max, attempt);
                    attempt = attempt.saturating_add(1);
                    let next_try = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                    if next_try >= deadline {
                        error!(slot = %slot, error = %e, attempts = attempt, "digest not sent before the next slot; giving up on this one");
                        self.notifier.digest_failed(&e.to_string()).await;
                        return Ok(SlotOutcome::GaveUp(e.to_string()));
                    }
                    warn!(slot = %slot, error = %e, retry_in = ?wait, "digest not sent; will retry");
                    if !nap(wait, shutdown).await {
                        return Ok(SlotOutcome::Cancelled);
                    }
                }
                Err(e) => {
                    error!(slot = %slot, error = %e, "digest refused; not retrying this slot");
                    self.notifier.digest_failed(&e.to_string()).await;
                    return Ok(SlotOutcome::GaveUp(e.to_string()));
                }
            }
        }
    }

    /// Sends the digest of the latest due slot if it has not gone out; returns the slot acted on.
    /// Without any marker (first start) nothing was missed, so nothing is sent.
    pub async fn catch_up(
        &self,
        now: DateTime<Utc>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<(DateTime<Utc>, SlotOutcome)>, MailerError> {
        let sched = &self.settings.digest_schedule;
        let tz = self.settings.tz;
        let Some(due) = sched.latest_at_or_before(now, tz) else {
            return Ok(None);
        };
        match self.state.last_digest_slot()? {
            None => {
                info!(next = ?sched.next_after(now, tz), "first start: no digest was missed");
                Ok(None)
            }
            Some(last) if last >= due => Ok(None),
            Some(last) => {
                info!(missed = %due, last_sent = %last, "catching up a digest missed while down");
                let deadline = deadline_after(sched, due, tz);
                let outcome = self.send_digest_for_slot(due, deadline, shutdown).await?;
                Ok(Some((due, outcome)))
            }
        }
    }

    /// One alert check at `now`: an email for sites entering or leaving an alertable condition.
    /// The state moves only after the relay accepted the email, so a failure is retried at the
    /// next check instead of being forgotten.
    pub async fn check_alerts(&self, now: DateTime<Utc>) -> Result<AlertOutcome, MailerError> {
        // Only the sites that can alert: a site absent from the answer has no finding, which
        // is what ends (recovers) a remembered one.
        let fleet = match self.fetch_with(now, &ALERTABLE).await? {
            Fleet::Reachable(r) => r,
            Fleet::Unreachable { .. } => return Ok(AlertOutcome::CollectorUnreachable),
        };
        let opts = self.settings.render_options();
        let memory = self.state.alert_memory()?;
        let (changes, escalations, next) =
            alert_changes_of(&fleet, &memory, now, &self.settings.alert_policy, &opts);
        if changes.is_empty() && escalations.is_empty() {
            if next != memory {
                self.state.set_alert_memory(&next)?;
            }
            return Ok(AlertOutcome::NoChange);
        }
        for (lines, to) in [
            (&changes, &self.settings.alerts_to),
            (&escalations, &self.settings.escalate_to),
        ] {
            if lines.is_empty() {
                continue;
            }
            let mail = render::render_alert(lines, now, &opts);
            let rcpt = Recipients {
                to: to.clone(),
                cc: Vec::new(),
                bcc: Vec::new(),
            };
            self.delivery.send(&rcpt, &mail, true).await?;
            info!(subject = %mail.subject, changes = lines.len(), "alert sent");
            self.notifier
                .alert(&mail.subject, &mail.text, &site_notes(lines))
                .await;
        }
        // Remembered only once sent: a failed send is retried at the next check, and a sent
        // one is never repeated, also across a restart.
        self.state.set_alert_memory(&next)?;
        let mut all = changes;
        all.extend(escalations);
        Ok(AlertOutcome::Sent(all))
    }

    /// Runs the digest (and alert) schedules until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), MailerError> {
        let digest = {
            let me = self.clone();
            let rx = shutdown.clone();
            tokio::spawn(async move { me.digest_loop(rx).await })
        };
        let alerts = match self.settings.alerts_schedule.clone() {
            Some(sched) => {
                let me = self.clone();
                let rx = shutdown.clone();
                Some(tokio::spawn(async move { me.alert_loop(sched, rx).await }))
            }
            None => None,
        };
        let watch = {
            let every = self.settings.raw.collector.watch_every;
            (!every.is_zero()).then(|| {
                let me = self.clone();
                let rx = shutdown.clone();
                tokio::spawn(async move { me.watch_loop(every, rx).await })
            })
        };
        let joined = digest.await;
        if let Some(w) = watch {
            w.abort();
        }
        let digest_failed = !matches!(joined, Ok(Ok(())));
        if let Some(a) = alerts {
            if digest_failed {
                // Without its digest the mailer must stop (and be restarted), not idle on alerts.
                a.abort();
            } else if let Ok(Err(e)) = a.await {
                error!(error = %e, "alert loop failed");
            }
        }
        match joined {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "digest loop panicked");
                Err(MailerError::Panicked("digest"))
            }
        }
    }

    async fn digest_loop(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), MailerError> {
        let sched = self.settings.digest_schedule.clone();
        let tz = self.settings.tz;
        info!(schedule = %sched, zone = %tz, next = ?sched.next_after(Utc::now(), tz), "digest schedule");
        if let Some((_, SlotOutcome::Cancelled)) = self.catch_up(Utc::now(), &mut shutdown).await? {
            return Ok(());
        }
        // The slot after the last one handled, so a send that overran the next slot (or a
        // suspended machine) never skips a due digest; only the latest due one is sent.
        let mut cursor = Utc::now();
        loop {
            let Some(next) = sched.next_after(cursor, tz) else {
                error!(schedule = %sched, "the digest schedule has no future slot");
                let _ = shutdown.wait_for(|s| *s).await;
                return Ok(());
            };
            if !sleep_until(next, &mut shutdown).await {
                return Ok(());
            }
            let due = sched
                .latest_at_or_before(Utc::now(), tz)
                .map_or(next, |d| d.max(next));
            let deadline = deadline_after(&sched, due, tz);
            if self
                .send_digest_for_slot(due, deadline, &mut shutdown)
                .await?
                == SlotOutcome::Cancelled
            {
                return Ok(());
            }
            cursor = due;
        }
    }

    /// Checks the collector's health every `every`, so an outage's start is known between digests.
    async fn watch_loop(&self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if !nap(every, &mut shutdown).await {
                return;
            }
            let now = Utc::now();
            let noted = match crate::fleet::ping(&self.settings.raw.collector).await {
                Ok(()) => self.state.collector_ok(now),
                Err(e) => {
                    warn!(error = %e, "collector health check failed");
                    self.state.collector_failed(now).map(|_| ())
                }
            };
            if let Err(e) = noted {
                error!(error = %e, "cannot record the collector's health");
            }
        }
    }

    async fn alert_loop(
        &self,
        sched: CronSchedule,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), MailerError> {
        let tz = self.settings.tz;
        info!(schedule = %sched, "alert schedule");
        loop {
            let Some(next) = sched.next_after(Utc::now(), tz) else {
                let _ = shutdown.wait_for(|s| *s).await;
                return Ok(());
            };
            if !sleep_until(next, &mut shutdown).await {
                return Ok(());
            }
            match self.check_alerts(next).await {
                Ok(_) => {}
                Err(MailerError::State(e)) => return Err(MailerError::State(e)),
                Err(e) => warn!(error = %e, "alert not sent; the next check retries"),
            }
        }
    }
}

/// The urgent findings of a fleet, as the alert policy reads them: the [`ALERTABLE`] kinds,
/// one per site, kind, recorder and camera, retired sites left out.
pub fn alert_findings(fleet: &render::FleetRows, opts: &render::RenderOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    // The rows hold every finding of every non-retired site.
    for site in &fleet.sites {
        for v in site
            .verdicts
            .iter()
            .filter(|v| ALERTABLE.contains(&v.kind()))
        {
            let sentence = render::verdict_sentence(v, opts);
            out.push(Finding {
                key: FindingKey {
                    site: site.site.clone(),
                    kind: v.kind(),
                    recorder: v.recorder.clone(),
                    camera: v.cameras.first().cloned().unwrap_or_default(),
                },
                detail: match v.recorder.as_str() {
                    "" => sentence,
                    r => format!("[{r}] {sentence}"),
                },
                acknowledged: !unacknowledged(v),
            });
        }
    }
    out
}

/// One alert check at `now`: the lines for the alert recipients, those for the escalation
/// recipients, and what to remember once they are sent. Reminders and escalations say since
/// when the finding is open.
pub fn alert_changes(
    fleet: &ListSitesResponse,
    memory: &AlertMemory,
    now: DateTime<Utc>,
    policy: &Policy,
    opts: &render::RenderOptions,
) -> (Vec<AlertChange>, Vec<AlertChange>, AlertMemory) {
    let rows = render::FleetRows::from_response(fleet);
    alert_changes_of(&rows, memory, now, policy, opts)
}

/// [`alert_changes`] of the fleet as it was folded from the collector's pages.
pub fn alert_changes_of(
    fleet: &render::FleetRows,
    memory: &AlertMemory,
    now: DateTime<Utc>,
    policy: &Policy,
    opts: &render::RenderOptions,
) -> (Vec<AlertChange>, Vec<AlertChange>, AlertMemory) {
    let findings = alert_findings(fleet, opts);
    let (events, next) = alert_policy::step(now, &findings, memory, policy);
    let open_since = |e: &Event, escalated: bool| {
        let since = opts.datetime(e.since);
        match (opts.language, escalated) {
            (crate::Language::En, false) => format!("still open since {since} — {}", e.detail),
            (crate::Language::En, true) => format!("open since {since}, escalated — {}", e.detail),
            (crate::Language::PtBr, false) => format!("ainda aberto desde {since} — {}", e.detail),
            (crate::Language::PtBr, true) => {
                format!("aberto desde {since}, escalado — {}", e.detail)
            }
        }
    };
    let mut alerts = Vec::new();
    let mut escalations = Vec::new();
    for e in &events {
        let change = |entered, detail| AlertChange {
            site: e.key.site.clone(),
            kind: e.key.kind,
            entered,
            detail,
        };
        match e.phase {
            Phase::Entered => alerts.push(change(true, e.detail.clone())),
            Phase::Reminder => alerts.push(change(true, open_since(e, false))),
            Phase::Escalated => escalations.push(change(true, open_since(e, true))),
            Phase::Recovered => alerts.push(change(false, String::new())),
        }
    }
    (alerts, escalations, next)
}

/// The alert's changes per site, for the webhooks' JSON payload.
fn site_notes(changes: &[AlertChange]) -> Vec<crate::webhook::SiteNote> {
    let name = |k: VerdictKind| {
        k.as_str_name()
            .trim_start_matches("VERDICT_KIND_")
            .to_string()
    };
    let mut notes: Vec<crate::webhook::SiteNote> = Vec::new();
    for c in changes {
        let i = match notes.iter().position(|n| n.site == c.site) {
            Some(i) => i,
            None => {
                notes.push(crate::webhook::SiteNote {
                    site: c.site.clone(),
                    verdicts: Vec::new(),
                    recovered: Vec::new(),
                });
                notes.len() - 1
            }
        };
        if c.entered {
            notes[i].verdicts.push(name(c.kind));
        } else {
            notes[i].recovered.push(name(c.kind));
        }
    }
    notes
}

/// The retry deadline of a slot: the next slot (or a day later if there is none).
fn deadline_after(sched: &CronSchedule, slot: DateTime<Utc>, tz: vigia::Tz) -> DateTime<Utc> {
    sched
        .next_after(slot, tz)
        .unwrap_or(slot + chrono::Duration::days(1))
}

/// `min(cap, base * 2^n)` with ±20 % jitter, so many mailers do not retry in step.
pub fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let d = exp.min(cap);
    let factor = rand::rng().random_range(0.8..=1.2);
    d.mul_f64(factor).min(cap)
}

/// Sleeps `d` unless shutdown is asked for; false when it was.
async fn nap(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

/// Sleeps until the wall clock reaches `t`, in naps of at most a minute; false on shutdown.
async fn sleep_until(t: DateTime<Utc>, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        let now = Utc::now();
        if now >= t {
            return true;
        }
        let left = (t - now).to_std().unwrap_or(Duration::ZERO);
        if !nap(left.min(MAX_NAP), shutdown).await {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(600);
        let first = backoff(base, cap, 0);
        assert!(first >= Duration::from_secs(24) && first <= Duration::from_secs(36));
        let third = backoff(base, cap, 2);
        assert!(third >= Duration::from_secs(96) && third <= Duration::from_secs(144));
        for n in [5, 10, 40, u32::MAX] {
            assert!(backoff(base, cap, n) <= cap);
            assert!(backoff(base, cap, n) >= Duration::from_secs(480));
        }
    }
}
