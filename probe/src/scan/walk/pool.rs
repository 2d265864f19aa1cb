//! The worker threads: each worker walks from its own stack of folder tasks and hands half of it
//! to a shared stack only when another worker is waiting for work; each keeps its own share of
//! the result, so nothing is shared while walking but that hand-over.
//!
//! On a tree of thousands of small folders a rescan spends about a microsecond per folder; a
//! shared stack locked twice per folder (take one, give its subfolders back) bounced its lock's
//! cache line between the cores thousands of times. Now the lock is taken when a worker runs out
//! of work or gives some away: a few hundred times per walk.

use super::folder::scan_folder;
use super::{Acc, Ctx, Task};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

struct Queue {
    tasks: Vec<Task>,
    /// Workers holding work (a task being scanned or tasks on their own stack).
    active: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Workers waiting for work: read without the lock on every folder, to decide whether to
    /// give some away (a stale value only delays a hand-over to the next folder).
    idle: AtomicUsize,
}

/// Walks the tree from the root on `threads` workers; one share of the result per worker.
pub(crate) fn run_pool(ctx: &Ctx<'_>, threads: usize, tz: vigia::Tz) -> Vec<Acc> {
    let shared = Shared {
        queue: Mutex::new(Queue {
            tasks: vec![Task {
                rel: PathBuf::new(),
                depth: 0,
                camera: None,
                ancestors: None,
                parent: None,
            }],
            active: 0,
        }),
        wake: Condvar::new(),
        idle: AtomicUsize::new(0),
    };
    let worker = || {
        let mut acc = Acc::new(tz);
        // About this worker's share of the folders: growing a vector of entries this size by
        // doubling copied megabytes on trees of many small folders.
        let share = ctx.old.map_or(0, |c| c.dirs.len() / threads + 64);
        acc.dirs.reserve(share);
        acc.kept.reserve(share);
        let mut local: Vec<Task> = Vec::new();
        let mut holding = false;
        while let Some(mut task) = next_task(&shared, &mut local, &mut holding) {
            let children = scan_folder(ctx, &mut task, &mut acc);
            local.extend(children);
            if local.len() > 1 && shared.idle.load(Ordering::Relaxed) > 0 {
                give_away(&shared, &mut local);
            }
        }
        acc
    };
    if threads == 1 {
        return vec![worker()];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
        let mut accs = vec![worker()];
        for h in handles {
            match h.join() {
                Ok(a) => accs.push(a),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        accs
    })
}

/// The next folder for a worker: from its own stack, else from the shared one (waiting while
/// other workers still hold work). `None` once no worker holds any: the walk is done.
/// `holding`: whether this worker is counted in [`Queue::active`].
fn next_task(shared: &Shared, local: &mut Vec<Task>, holding: &mut bool) -> Option<Task> {
    if let Some(t) = local.pop() {
        return Some(t);
    }
    let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(t) = q.tasks.pop() {
            if !*holding {
                q.active += 1;
                *holding = true;
            }
            return Some(t);
        }
        if *holding {
            q.active -= 1;
            *holding = false;
        }
        if q.active == 0 {
            drop(q);
            shared.wake.notify_all();
            return None;
        }
        shared.idle.fetch_add(1, Ordering::Relaxed);
        q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
        shared.idle.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Moves the older half of a worker's stack (the folders it would reach last) to the shared
/// stack and wakes the waiting workers.
fn give_away(shared: &Shared, local: &mut Vec<Task>) {
    let half = local.len() / 2;
    let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    q.tasks.extend(local.drain(..half));
    drop(q);
    shared.wake.notify_all();
}
