//! ListSites pages built ahead. A reader walking the fleet asks for page N+1 as soon as page N
//! arrives, and then decodes page N while the collector builds N+1: each side waits for the
//! other for part of every page. So when the collector answers a page that has a next one, it
//! starts building that one at once, for the request that will ask for it (the same filters,
//! the next token, so the same evaluation instant), and hands it over when that request comes.
//!
//! Bounded: a page built ahead is kept for [`KEEP`] and at most [`HELD`] are kept (one per
//! listing under way; a reader that stops walking leaves one page unclaimed, then dropped). A
//! request that finds none, or finds its build failed, builds its page itself as before.
//!
//! An operator's write (an acknowledgement, a retirement, a site expected) drops every page
//! built ahead, and any build under way is not kept: the next page a reader asks for after
//! acknowledging a site shows it acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use vigia::pb;

/// How long a page built ahead waits for its request: past it, the request builds a fresh one.
const KEEP: Duration = Duration::from_secs(30);
/// Pages built ahead kept at once.
const HELD: usize = 4;

/// A page's answer, as ListSites returns it.
pub(crate) type Answer = Result<pb::ListSitesResponse, tonic::Status>;

struct Ahead {
    request: pb::ListSitesRequest,
    started: Instant,
    answer: oneshot::Receiver<Answer>,
}

/// The pages built ahead of their requests.
#[derive(Default)]
pub(crate) struct Prefetch {
    held: Mutex<Vec<Ahead>>,
    /// Bumped by every operator's write: a page begun before it is not handed over.
    generation: AtomicU64,
}

impl Prefetch {
    /// The page being (or already) built for `request`, if one is.
    pub(crate) fn take(&self, request: &pb::ListSitesRequest) -> Option<oneshot::Receiver<Answer>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        expire(&mut held);
        let i = held.iter().position(|a| &a.request == request)?;
        Some(held.remove(i).answer)
    }

    /// The generation a page begun now belongs to (to [`Prefetch::hold`] it).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Drops every page built ahead, and any begun before now: the store changed under them.
    pub(crate) fn invalidate(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        held.clear();
    }

    /// Keeps the page that `answer` will carry, for `request`, begun in `generation` (not
    /// kept if the store changed since).
    pub(crate) fn hold(
        &self,
        request: pb::ListSitesRequest,
        generation: u64,
        answer: oneshot::Receiver<Answer>,
    ) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if generation != self.generation() {
            return;
        }
        expire(&mut held);
        held.retain(|a| a.request != request);
        if held.len() >= HELD {
            held.remove(0);
        }
        held.push(Ahead {
            request,
            started: Instant::now(),
            answer,
        });
    }

    /// Pages held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        expire(&mut held);
        held.len()
    }
}

fn expire(held: &mut Vec<Ahead>) {
    held.retain(|a| a.started.elapsed() < KEEP);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> pb::ListSitesRequest {
        pb::ListSitesRequest {
            page_size: 2,
            page_token: token.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_page_is_handed_to_its_own_request_only_and_only_once() {
        let pages = Prefetch::default();
        let (_tx, rx) = oneshot::channel();
        pages.hold(request("1:b"), pages.generation(), rx);
        let other = pb::ListSitesRequest {
            only_problems: true,
            ..request("1:b")
        };
        assert!(pages.take(&other).is_none(), "other filters");
        assert!(pages.take(&request("1:c")).is_none(), "another token");
        assert!(pages.take(&request("1:b")).is_some());
        assert!(pages.take(&request("1:b")).is_none(), "handed over once");
    }

    #[test]
    fn at_most_a_few_pages_are_held_the_oldest_dropped_first() {
        let pages = Prefetch::default();
        for i in 0..HELD + 2 {
            let (_tx, rx) = oneshot::channel();
            pages.hold(request(&format!("1:s{i}")), pages.generation(), rx);
        }
        assert_eq!(pages.len(), HELD);
        assert!(pages.take(&request("1:s0")).is_none());
        assert!(pages.take(&request("1:s1")).is_none());
        assert!(pages.take(&request(&format!("1:s{}", HELD + 1))).is_some());
    }

    #[test]
    fn an_operators_write_drops_the_pages_built_ahead_and_those_under_way() {
        let pages = Prefetch::default();
        let (_tx, rx) = oneshot::channel();
        pages.hold(request("1:b"), pages.generation(), rx);
        let begun = pages.generation();
        pages.invalidate();
        assert!(
            pages.take(&request("1:b")).is_none(),
            "held before the write"
        );
        let (_tx, rx) = oneshot::channel();
        pages.hold(request("1:c"), begun, rx);
        assert!(
            pages.take(&request("1:c")).is_none(),
            "begun before the write"
        );
        let (_tx, rx) = oneshot::channel();
        pages.hold(request("1:d"), pages.generation(), rx);
        assert!(pages.take(&request("1:d")).is_some(), "begun after it");
    }
}
