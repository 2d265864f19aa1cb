//! File descriptors bound how many connections one collector can hold: each is one
//! descriptor, and running out (EMFILE) also breaks the store and the logs. At start the soft
//! limit is raised to the hard one where the OS allows, and the default connection cap leaves
//! a quarter (and a fixed reserve) of it for everything else.

/// Descriptors kept for the store, logs, the metrics listener and the like.
const RESERVE: u64 = 64;
/// The cap when the limit is unknown or unlimited (or beyond what `usize` holds).
const FALLBACK: usize = 16_384;
/// Never default below this: a tiny `ulimit -n` still serves a small fleet.
const FLOOR: usize = 16;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force
/// (`None` when unlimited or unknown).
pub fn raise_nofile_limit() -> Option<u64> {
    imp::raise()
}

/// The default `[limits] max_connections` for a soft descriptor limit.
pub fn default_max_connections(soft_limit: Option<u64>) -> usize {
    match soft_limit {
        Some(soft) => {
            let usable = soft.saturating_sub(RESERVE).saturating_mul(3) / 4;
            usize::try_from(usable).unwrap_or(FALLBACK).max(FLOOR)
        }
        None => FALLBACK,
    }
}

#[cfg(unix)]
mod imp {
    use rustix::process::{getrlimit, setrlimit, Resource};

    pub fn raise() -> Option<u64> {
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let before = limit.current;
            let mut raised = limit;
            raised.current = limit.maximum;
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::debug!(?before, now = ?raised.current, "raised the file descriptor limit");
                    limit = raised;
                }
                // macOS refuses "unlimited" for descriptors; keep what we have.
                Err(e) => tracing::debug!(error = %e, "cannot raise the file descriptor limit"),
            }
        }
        limit.current
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn raise() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_room_for_everything_else() {
        assert_eq!(default_max_connections(Some(1024)), 720);
        assert_eq!(default_max_connections(Some(10)), FLOOR);
        assert_eq!(default_max_connections(None), FALLBACK);
        assert_eq!(default_max_connections(Some(1_048_576)), 786_384);
    }
}
