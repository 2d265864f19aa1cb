//! A token bucket per site for Ingest. The certificate proves which site is sending, not that it
//! sends sensibly: a stolen key or a runaway script could otherwise write statuses as fast as
//! the disk takes them. All of a site's streams share its bucket, so opening more streams does
//! not buy more rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::IngestLimits;

/// The sites' buckets; one entry per site that has sent, so memory is bounded by the fleet.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A status refused for rate: how long until the next one would be accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    /// Time until one token is back.
    pub retry_after: Duration,
}

impl RateLimiter {
    /// Buckets that start full, so a probe's spool after an outage goes through at once.
    pub fn new(limits: &IngestLimits) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(limits.statuses_per_minute) / 60.0,
            burst: f64::from(limits.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one status's token from `site`'s bucket, or says how long to wait.
    pub fn take(&self, site: &str) -> Result<(), Exceeded> {
        self.take_at(site, Instant::now())
    }

    fn take_at(&self, site: &str, now: Instant) -> Result<(), Exceeded> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(site.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Exceeded {
            retry_after: Duration::from_secs_f64(missing / self.per_second),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(&IngestLimits {
            statuses_per_minute: per_minute,
            burst,
        })
    }

    #[test]
    fn a_full_bucket_takes_the_burst_then_refuses_with_the_wait() {
        let l = limiter(60, 3);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take_at("a", t), Ok(()));
        }
        let e = l.take_at("a", t).expect_err("the bucket is empty");
        assert!((e.retry_after.as_secs_f64() - 1.0).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn tokens_come_back_at_the_sustained_rate_up_to_the_burst() {
        let l = limiter(60, 2);
        let t = Instant::now();
        assert!(l.take_at("a", t).is_ok());
        assert!(l.take_at("a", t).is_ok());
        assert!(l.take_at("a", t).is_err());
        let later = t + Duration::from_secs(1);
        assert!(l.take_at("a", later).is_ok());
        assert!(l.take_at("a", later).is_err());
        let much_later = t + Duration::from_secs(3600);
        assert!(l.take_at("a", much_later).is_ok());
        assert!(l.take_at("a", much_later).is_ok());
        assert!(
            l.take_at("a", much_later).is_err(),
            "never more than the burst"
        );
    }

    #[test]
    fn sites_do_not_share_a_bucket() {
        let l = limiter(1, 1);
        let t = Instant::now();
        assert!(l.take_at("a", t).is_ok());
        assert!(l.take_at("a", t).is_err());
        assert!(l.take_at("b", t).is_ok());
    }
}
