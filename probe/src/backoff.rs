//! Reconnection delays: exponential growth with *full* jitter, so that thousands of probes cut
//! off by one collector restart do not all knock again in the same second. The ceiling is
//! `min(cap, initial * 2^n)`, the delay a uniform draw in `[0, ceiling]`, and one success brings
//! the sequence back to its start (a `max` instead of a `min` once kept tokio-console's backoff
//! from ever coming down).

use rand::Rng;
use std::time::Duration;

/// First ceiling of the delay sequence.
pub const INITIAL: Duration = Duration::from_secs(1);

/// The state of one reconnection loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and never waiting longer than `cap`.
    pub fn new(initial: Duration, cap: Duration) -> Backoff {
        Backoff {
            initial,
            cap: cap.max(Duration::from_millis(1)),
            failures: 0,
        }
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The upper bound of the next delay: `min(cap, initial * 2^failures)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// Records a success: the next failure waits at most `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_their_bounds_and_grow_to_the_cap() {
        let cap = Duration::from_secs(60);
        for _ in 0..200 {
            let mut b = Backoff::new(INITIAL, cap);
            let mut expected_ceiling = INITIAL;
            for _ in 0..20 {
                assert_eq!(b.ceiling(), expected_ceiling);
                let d = b.next_delay();
                assert!(d <= expected_ceiling, "{d:?} above {expected_ceiling:?}");
                expected_ceiling = (expected_ceiling * 2).min(cap);
            }
            assert_eq!(b.ceiling(), cap, "the ceiling stops at the cap");
        }
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        // Full jitter: over many draws at a 8 s ceiling, some land low and some high.
        let mut low = 0;
        let mut high = 0;
        for _ in 0..1000 {
            let mut b = Backoff::new(INITIAL, Duration::from_secs(60));
            for _ in 0..3 {
                b.next_delay();
            }
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(8));
            if d < Duration::from_secs(2) {
                low += 1;
            }
            if d > Duration::from_secs(6) {
                high += 1;
            }
        }
        assert!(low > 100 && high > 100, "low {low}, high {high}");
    }

    #[test]
    fn a_success_brings_the_delays_back_down() {
        let mut b = Backoff::new(INITIAL, Duration::from_secs(60));
        for _ in 0..10 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60));
        assert_eq!(b.failures(), 10);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.ceiling(), INITIAL);
        for _ in 0..100 {
            let mut again = b.clone();
            assert!(again.next_delay() <= INITIAL);
        }
        b.next_delay();
        assert_eq!(b.ceiling(), Duration::from_secs(2));
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut b = Backoff::new(INITIAL, Duration::from_secs(3));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(3));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(3));
    }

    #[test]
    fn a_cap_below_the_initial_delay_wins() {
        let mut b = Backoff::new(INITIAL, Duration::from_millis(200));
        assert_eq!(b.ceiling(), Duration::from_millis(200));
        assert!(b.next_delay() <= Duration::from_millis(200));
    }
}
