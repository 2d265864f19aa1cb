//! The worker threads: a shared stack of folder tasks; each worker keeps its own share of the
//! result, so nothing is shared while walking but the queue.

use super::folder::scan_folder;
use super::{Acc, Ctx, Task};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

struct Queue {
    tasks: Vec<Task>,
    active: usize,
}

/// Walks the tree from the root on `threads` workers; one share of the result per worker.
pub(crate) fn run_pool(ctx: &Ctx<'_>, threads: usize, tz: vigia::Tz) -> Vec<Acc> {
    let shared = (
        Mutex::new(Queue {
            tasks: vec![Task {
                rel: PathBuf::new(),
                depth: 0,
                camera: None,
                ancestors: None,
                parent: None,
            }],
            active: 0,
        }),
        Condvar::new(),
    );
    let worker = || {
        let mut acc = Acc::new(tz);
        // About this worker's share of the folders: growing a vector of entries this size by
        // doubling copied megabytes on trees of many small folders.
        acc.dirs
            .reserve(ctx.old.map_or(0, |c| c.dirs.len() / threads + 64));
        let (lock, cv) = &shared;
        loop {
            let task = {
                let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if let Some(t) = q.tasks.pop() {
                        q.active += 1;
                        break Some(t);
                    }
                    if q.active == 0 {
                        break None;
                    }
                    q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(mut task) = task else {
                cv.notify_all();
                break;
            };
            let children = scan_folder(ctx, &mut task, &mut acc);
            let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
            q.active -= 1;
            let woke = !children.is_empty() || q.active == 0;
            q.tasks.extend(children);
            drop(q);
            if woke {
                cv.notify_all();
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
