//! When an urgent finding becomes an email: alerts people keep reading. A finding must hold for
//! `hold_for` before it alerts (a recorder restarting at 03:00 is not news), an open finding is
//! reminded every `remind_every`, one still open after `escalate_after` goes to the escalation
//! recipients as well, and the end of an alerted finding is announced once. Acknowledged findings
//! (`Admin/Acknowledge`) never alert. A pure function of (findings now, what was remembered,
//! now, policy), so the timing is tested on an injected clock; the mailer stores the states it
//! returns only once the email went out, so nothing is repeated across a restart.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use vigia::pb::VerdictKind;

/// The timing of alerts (`[alerts]` in `mailer.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a finding must hold before it alerts.
    pub hold_for: Duration,
    /// How often an open finding is reminded (zero: never).
    pub remind_every: Duration,
    /// After how long open a finding also goes to the escalation recipients.
    pub escalate_after: Option<Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            hold_for: Duration::from_secs(600),
            remind_every: Duration::from_secs(86_400),
            escalate_after: None,
        }
    }
}

/// One urgent finding as the alert loop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Site, kind, recorder and camera: what makes it the same finding from one check to the next.
    pub key: FindingKey,
    /// Its sentence in the email's language.
    pub detail: String,
    /// Acknowledged by an operator: visible in the digest, never alerted.
    pub acknowledged: bool,
}

/// What identifies a finding across checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingKey {
    /// The site.
    pub site: String,
    /// The verdict kind.
    pub kind: VerdictKind,
    /// The recorder (empty for site-wide findings).
    pub recorder: String,
    /// The camera (empty unless a camera finding).
    pub camera: String,
}

impl FindingKey {
    /// The key as stored (`\0`-separated; names never contain `\0`).
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{}\0{}\0{}\0{}",
            self.site, self.kind as i32, self.recorder, self.camera
        )
        .into_bytes()
    }

    /// Reads a stored key; `None` for one this mailer did not write.
    pub fn decode(bytes: &[u8]) -> Option<FindingKey> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let site = parts.next()?.to_string();
        let kind = VerdictKind::try_from(parts.next()?.parse::<i32>().ok()?).ok()?;
        let recorder = parts.next()?.to_string();
        let camera = parts.next()?.to_string();
        parts.next().is_none().then_some(FindingKey {
            site,
            kind,
            recorder,
            camera,
        })
    }
}

/// What the mailer remembers of one finding between checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remembered {
    /// When a check first saw it.
    pub since: DateTime<Utc>,
    /// When it was alerted (None while it holds).
    pub alerted: Option<DateTime<Utc>>,
    /// When it was last alerted or reminded.
    pub last_sent: Option<DateTime<Utc>>,
    /// When it was escalated.
    pub escalated: Option<DateTime<Utc>>,
}

/// Why a finding is in an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// It held for `hold_for`: first alert.
    Entered,
    /// Still open, `remind_every` after the last email about it.
    Reminder,
    /// Open for `escalate_after`: also to the escalation recipients.
    Escalated,
    /// It ended (or was acknowledged) after being alerted.
    Recovered,
}

/// One line of an alert email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The finding.
    pub key: FindingKey,
    /// Why it is in the email.
    pub phase: Phase,
    /// Its sentence (empty for a recovery).
    pub detail: String,
    /// Since when it holds.
    pub since: DateTime<Utc>,
}

/// The remembered findings, by key.
pub type Memory = BTreeMap<FindingKey, Remembered>;

fn at_least(now: DateTime<Utc>, from: DateTime<Utc>, span: Duration) -> bool {
    (now - from).to_std().is_ok_and(|d| d >= span)
}

/// One check: the events to send and the memory to keep once they are sent.
pub fn step(
    now: DateTime<Utc>,
    findings: &[Finding],
    memory: &Memory,
    policy: &Policy,
) -> (Vec<Event>, Memory) {
    let mut events = Vec::new();
    let mut next = Memory::new();
    // Acknowledging is not recovering: an acknowledged finding is forgotten quietly, and alerts
    // again (after the hold) when the acknowledgement ends.
    let acknowledged: std::collections::BTreeSet<&FindingKey> = findings
        .iter()
        .filter(|f| f.acknowledged)
        .map(|f| &f.key)
        .collect();
    for f in findings.iter().filter(|f| !f.acknowledged) {
        if next.contains_key(&f.key) {
            continue;
        }
        let mut r = memory.get(&f.key).copied().unwrap_or(Remembered {
            since: now,
            alerted: None,
            last_sent: None,
            escalated: None,
        });
        let event = |phase| Event {
            key: f.key.clone(),
            phase,
            detail: f.detail.clone(),
            since: r.since,
        };
        match r.alerted {
            None if at_least(now, r.since, policy.hold_for) => {
                events.push(event(Phase::Entered));
                r.alerted = Some(now);
                r.last_sent = Some(now);
            }
            None => {}
            Some(_) => {
                let escalate = policy
                    .escalate_after
                    .is_some_and(|after| r.escalated.is_none() && at_least(now, r.since, after));
                if escalate {
                    events.push(event(Phase::Escalated));
                    r.escalated = Some(now);
                    r.last_sent = Some(now);
                } else if !policy.remind_every.is_zero()
                    && r.last_sent
                        .is_none_or(|t| at_least(now, t, policy.remind_every))
                {
                    events.push(event(Phase::Reminder));
                    r.last_sent = Some(now);
                }
            }
        }
        next.insert(f.key.clone(), r);
    }
    for (key, r) in memory {
        if next.contains_key(key) || acknowledged.contains(key) {
            continue;
        }
        if r.alerted.is_some() {
            events.push(Event {
                key: key.clone(),
                phase: Phase::Recovered,
                detail: String::new(),
                since: r.since,
            });
        }
    }
    events.sort_by(|a, b| (a.phase, &a.key).cmp(&(b.phase, &b.key)));
    (events, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + min * 60, 0).expect("time")
    }

    fn late(site: &str) -> Finding {
        Finding {
            key: FindingKey {
                site: site.into(),
                kind: VerdictKind::Late,
                recorder: "nvr".into(),
                camera: String::new(),
            },
            detail: "newest recording 07:00".into(),
            acknowledged: false,
        }
    }

    fn phases(e: &[Event]) -> Vec<Phase> {
        e.iter().map(|e| e.phase).collect()
    }

    #[test]
    fn a_finding_alerts_only_once_it_held() {
        let p = Policy::default();
        let (e, m) = step(t(0), &[late("a")], &Memory::new(), &p);
        assert!(e.is_empty(), "held back: {e:?}");
        let (e, m) = step(t(9), &[late("a")], &m, &p);
        assert!(e.is_empty());
        let (e, m) = step(t(10), &[late("a")], &m, &p);
        assert_eq!(phases(&e), [Phase::Entered]);
        assert_eq!(e[0].since, t(0));
        let (e, _) = step(t(20), &[late("a")], &m, &p);
        assert!(e.is_empty(), "no repeat: {e:?}");
    }

    #[test]
    fn a_flap_shorter_than_the_hold_is_never_mailed() {
        let p = Policy::default();
        let (_, m) = step(t(0), &[late("a")], &Memory::new(), &p);
        let (e, m) = step(t(5), &[], &m, &p);
        assert!(
            e.is_empty(),
            "no recovery for what was never alerted: {e:?}"
        );
        assert!(m.is_empty());
    }

    #[test]
    fn reminders_escalation_and_recovery() {
        let p = Policy {
            hold_for: Duration::from_secs(600),
            remind_every: Duration::from_secs(3600),
            escalate_after: Some(Duration::from_secs(4 * 3600)),
        };
        let (_, m) = step(t(0), &[late("a")], &Memory::new(), &p);
        let (e, m) = step(t(10), &[late("a")], &m, &p);
        assert_eq!(phases(&e), [Phase::Entered]);
        let (e, m) = step(t(69), &[late("a")], &m, &p);
        assert!(e.is_empty());
        let (e, m) = step(t(70), &[late("a")], &m, &p);
        assert_eq!(phases(&e), [Phase::Reminder]);
        let (e, m) = step(t(240), &[late("a")], &m, &p);
        assert_eq!(phases(&e), [Phase::Escalated]);
        let (e, m) = step(t(250), &[late("a")], &m, &p);
        assert!(
            e.is_empty(),
            "escalated once, and that counted as the last email: {e:?}"
        );
        let (e, m) = step(t(300), &[late("a")], &m, &p);
        assert_eq!(phases(&e), [Phase::Reminder]);
        let (e, m) = step(t(301), &[], &m, &p);
        assert_eq!(phases(&e), [Phase::Recovered]);
        assert!(m.is_empty());
    }

    #[test]
    fn acknowledged_findings_never_alert_and_an_alerted_one_goes_quietly() {
        let p = Policy {
            hold_for: Duration::ZERO,
            ..Policy::default()
        };
        let mut f = late("a");
        f.acknowledged = true;
        let (e, m) = step(t(0), &[f.clone()], &Memory::new(), &p);
        assert!(e.is_empty() && m.is_empty());
        let (e, m) = step(t(0), &[late("a")], &Memory::new(), &p);
        assert_eq!(phases(&e), [Phase::Entered], "hold_for 0 alerts at once");
        let (e, m) = step(t(1), &[f], &m, &p);
        assert!(e.is_empty(), "an acknowledgement is not a recovery: {e:?}");
        assert!(m.is_empty());
        let (e, _) = step(t(2), &[late("a")], &m, &p);
        assert_eq!(
            phases(&e),
            [Phase::Entered],
            "back when the acknowledgement ends"
        );
    }

    #[test]
    fn keys_round_trip_and_garbage_is_refused() {
        let k = late("loja-1").key;
        assert_eq!(FindingKey::decode(&k.encode()), Some(k));
        assert_eq!(FindingKey::decode(b"loja\0x\0nvr\0"), None);
        assert_eq!(FindingKey::decode(b"loja\x007"), None);
    }
}
