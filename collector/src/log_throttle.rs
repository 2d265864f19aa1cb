//! Rate-limited logging for events an attacker can cause at will (refused handshakes, accept
//! errors): the first few of each window are logged in full, the rest are counted and the
//! count is logged when the next window opens, so a flood costs neither the disk nor the
//! operator's attention, and is still visible.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Admits at most `per_window` log lines per `window`.
#[derive(Debug)]
pub struct LogThrottle {
    window: Duration,
    per_window: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

/// What the caller should do with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Log it; `suppressed` events of the previous window were not logged (say so first when > 0).
    Log {
        /// Events left unlogged in the window that just closed.
        suppressed: u64,
    },
    /// Count it only.
    Suppress,
}

impl LogThrottle {
    /// A throttle of `per_window` lines per `window`.
    pub fn new(window: Duration, per_window: u32) -> LogThrottle {
        LogThrottle {
            window,
            per_window,
            state: Mutex::new(State {
                started: Instant::now(),
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Decides about one event happening now.
    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admit {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut suppressed = 0;
        if now.duration_since(s.started) >= self.window {
            suppressed = s.suppressed;
            *s = State {
                started: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if s.logged < self.per_window {
            s.logged += 1;
            Admit::Log { suppressed }
        } else {
            s.suppressed += 1;
            Admit::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_window_and_counted() {
        let t = LogThrottle::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        let admitted: Vec<Admit> = (0..10).map(|_| t.admit_at(t0)).collect();
        assert_eq!(
            admitted
                .iter()
                .filter(|a| matches!(a, Admit::Log { .. }))
                .count(),
            3
        );
        assert_eq!(
            t.admit_at(t0 + Duration::from_secs(11)),
            Admit::Log { suppressed: 7 }
        );
        assert_eq!(
            t.admit_at(t0 + Duration::from_secs(12)),
            Admit::Log { suppressed: 0 }
        );
    }
}
