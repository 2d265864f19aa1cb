//! When the daemon scans: a fixed interval, or a six-field cron expression read in the probe's
//! time zone. Next fire times are computed with croner on zone-aware times at every step
//! (rather than by tokio-cron-scheduler's `_tz` jobs, which keep the UTC offset of the day they
//! were created and so fire an hour off after a DST change). The first scan happens at start,
//! which also makes up for slots missed while the probe was down; scans never overlap, and a
//! scan that outlasts its interval skips the slots it overran instead of running twice.

use crate::config::{ScheduleSection, DEFAULT_EVERY};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use vigia::cron::{CronError, CronSchedule};
use vigia::Tz;

/// When the daemon scans: an interval, or a cron expression read in the probe's zone.
#[derive(Debug, Clone)]
pub enum ScanSchedule {
    /// Every this long, counted from the start.
    Every(Duration),
    /// At the times a cron expression names, in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<CronSchedule>,
        /// The zone the expression is read in.
        tz: Tz,
    },
}

impl ScanSchedule {
    /// The schedule `[schedule]` describes, in zone `tz` (default: every five minutes).
    pub fn from_config(section: &ScheduleSection, tz: Tz) -> Result<ScanSchedule, CronError> {
        match (&section.cron, section.every) {
            (Some(expr), _) => Ok(ScanSchedule::Cron {
                cron: Box::new(CronSchedule::parse(expr)?),
                tz,
            }),
            (None, every) => Ok(ScanSchedule::Every(every.unwrap_or(DEFAULT_EVERY))),
        }
    }

    /// The first slot strictly after `t` (None only for expressions that never fire again).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ScanSchedule::Every(d) => chrono::Duration::from_std(*d).ok().map(|d| t + d),
            ScanSchedule::Cron { cron, tz } => cron.next_after(t, *tz),
        }
    }

    /// How long until the status after one made at `t` (the report interval it announces).
    pub fn interval_after(&self, t: DateTime<Utc>) -> Duration {
        match self {
            ScanSchedule::Every(d) => *d,
            ScanSchedule::Cron { .. } => self
                .next_after(t)
                .and_then(|n| (n - t).to_std().ok())
                .unwrap_or(DEFAULT_EVERY),
        }
    }

    /// A ticker that fires now, then on every slot.
    pub fn ticker(&self) -> Ticker {
        Ticker {
            schedule: self.clone(),
            interval: None,
            last_slot: None,
        }
    }
}

/// Waits for the schedule's slots, one at a time.
#[derive(Debug)]
pub struct Ticker {
    schedule: ScanSchedule,
    interval: Option<Interval>,
    last_slot: Option<DateTime<Utc>>,
}

impl Ticker {
    /// Waits for the next slot (the first returns at once) and returns the report interval
    /// the scan made now should announce. Slots that passed during a long scan are skipped.
    pub async fn tick(&mut self) -> Duration {
        match &self.schedule {
            ScanSchedule::Every(d) => {
                let d = (*d).max(Duration::from_millis(1));
                let interval = self.interval.get_or_insert_with(|| {
                    let mut i = tokio::time::interval_at(Instant::now(), d);
                    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    i
                });
                interval.tick().await;
                d
            }
            ScanSchedule::Cron { .. } => {
                let now = Utc::now();
                let Some(last) = self.last_slot else {
                    self.last_slot = Some(now);
                    return self.schedule.interval_after(now);
                };
                // From the later of now and the last slot: never the same slot twice, and
                // slots overrun by a long scan are skipped.
                let from = now.max(last);
                let Some(slot) = self.schedule.next_after(from) else {
                    // An expression with no future slot: wait forever (shutdown still works).
                    std::future::pending::<()>().await;
                    return DEFAULT_EVERY;
                };
                // Sleep in bounded steps, so a wall clock set back or a suspended machine
                // does not make us fire early or very late.
                loop {
                    let left = slot - Utc::now();
                    match left.to_std() {
                        Ok(d) if !d.is_zero() => {
                            tokio::time::sleep(d.min(Duration::from_secs(60))).await;
                        }
                        _ => break,
                    }
                }
                self.last_slot = Some(slot);
                self.schedule.interval_after(slot)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A UTC instant to the minute.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    fn berlin() -> Tz {
        vigia::days::parse_tz("Europe/Berlin").expect("zone")
    }

    fn cron(expr: &str, tz: Tz) -> ScanSchedule {
        ScanSchedule::from_config(
            &ScheduleSection {
                every: None,
                cron: Some(expr.into()),
            },
            tz,
        )
        .expect("valid")
    }

    #[test]
    fn five_fields_are_refused_with_a_hint() {
        let e = CronSchedule::parse("*/5 * * * *").expect_err("five fields");
        assert!(e.to_string().contains("six are needed"), "{e}");
        let e = CronSchedule::parse("0 0 25 * * *").expect_err("hour 25");
        assert!(e.to_string().contains("six-field"), "{e}");
        assert!(CronSchedule::parse("0 */5 * * * *").is_ok());
    }

    #[test]
    fn the_default_is_every_five_minutes() {
        let s = ScanSchedule::from_config(&ScheduleSection::default(), Tz::UTC).expect("ok");
        assert!(matches!(s, ScanSchedule::Every(d) if d == Duration::from_secs(300)));
        assert_eq!(s.interval_after(Utc::now()), Duration::from_secs(300));
    }

    #[test]
    fn cron_reads_the_probe_zone() {
        // 07:00 in Berlin in winter is 06:00 UTC.
        let s = cron("0 0 7 * * *", berlin());
        let t = utc(2026, 1, 10, 12, 0);
        let next = s.next_after(t).expect("next");
        assert_eq!(next, utc(2026, 1, 11, 6, 0));
        assert_eq!(s.interval_after(next), Duration::from_secs(24 * 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_ticker_fires_at_once_then_on_every_slot_and_skips_overruns() {
        let mut t = ScanSchedule::Every(Duration::from_secs(10)).ticker();
        let start = Instant::now();
        assert_eq!(t.tick().await, Duration::from_secs(10));
        assert_eq!(start.elapsed(), Duration::ZERO, "first scan at start");
        t.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // A scan that takes 25 s: the slots at 20 s and 30 s pass during it. One scan
        // follows at once (not two), then the schedule goes on from its own slots.
        tokio::time::sleep(Duration::from_secs(25)).await;
        t.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        t.tick().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(40),
            "no burst of missed ticks after an overrun"
        );
    }

    #[tokio::test]
    async fn a_cron_ticker_fires_at_once_then_waits_for_the_slot() {
        let mut t = cron("* * * * * *", Tz::UTC).ticker();
        let i = t.tick().await;
        assert!(i <= Duration::from_secs(1));
        let before = Utc::now();
        t.tick().await;
        let after = Utc::now();
        assert!(
            after.timestamp() > before.timestamp(),
            "waited for the next second"
        );
        assert!(after - before <= chrono::Duration::milliseconds(1100));
    }
}
