//! tokio-cron-scheduler's `JobScheduler` against Vigia's own schedule loop, for what Vigia's
//! schedules need: one-shot jobs at whole-second instants computed by `vigia::cron`, re-armed
//! after each run, and a shutdown that leaves nothing behind. Built outside the workspace by
//! `bench/job_scheduler.sh` (the workspace does not declare the crate: see docs/scheduling.md).
use chrono::{DateTime, Timelike, Utc};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};

const SLOTS: usize = 12;

/// Voluntary context switches of the process so far: each is a wake-up of an idle thread.
fn wakeups() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_nvcsw
}

/// The next whole second at least a second away (vigia::cron's slots are whole seconds).
fn next_slot() -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(2);
    t.with_nanosecond(0).unwrap_or(t)
}

/// Waits until the wall clock shows `ms` milliseconds past a second, so slots are armed at
/// different fractions of a second.
async fn at_fraction(ms: u32) {
    let now = Utc::now().nanosecond() / 1_000_000;
    let wait = (1000 + ms - now.min(999)) % 1000;
    tokio::time::sleep(Duration::from_millis(u64::from(wait))).await;
}

fn summary(name: &str, mut offsets: Vec<i64>) {
    offsets.sort_unstable();
    let early = offsets.iter().filter(|o| **o < 0).count();
    println!(
        "{name}: fired vs slot min {:+} ms, median {:+} ms, max {:+} ms; before the slot: {early}/{}",
        offsets[0],
        offsets[offsets.len() / 2],
        offsets[offsets.len() - 1],
        offsets.len()
    );
}

/// Vigia's way (probe/src/schedule.rs, mailer/src/service.rs): sleep until the instant.
async fn sleep_until(t: DateTime<Utc>) {
    while let Ok(left) = (t - Utc::now()).to_std() {
        if left.is_zero() {
            break;
        }
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = tokio::runtime::Handle::current().metrics();
    println!("== load average: {}", std::fs::read_to_string("/proc/loadavg")?.trim());

    // 1. Idle cost over 10 s.
    let w = wakeups();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let plain = wakeups() - w;
    let mut sched = JobScheduler::new().await?;
    sched.start().await?;
    let w = wakeups();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = wakeups() - w;
    println!("idle 10 s, wake-ups: a sleeping task (Vigia's loop) {plain}; an idle JobScheduler {idle}");

    // 2. One-shot jobs at computed instants, each armed after the previous one ran.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut theirs = Vec::new();
    for i in 0..SLOTS as u32 {
        at_fraction(40 + i * 80).await;
        let slot = next_slot();
        let left = (slot - Utc::now()).to_std()?;
        let tx = tx.clone();
        let job = Job::new_one_shot_at_instant_async(Instant::now() + left, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send((slot, Utc::now()));
            })
        })?;
        sched.add(job).await?;
        let (slot, fired) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await?
            .ok_or("job channel closed")?;
        theirs.push((fired - slot).num_milliseconds());
    }
    let mut ours = Vec::new();
    for i in 0..SLOTS as u32 {
        at_fraction(40 + i * 80).await;
        let slot = next_slot();
        sleep_until(slot).await;
        ours.push((Utc::now() - slot).num_milliseconds());
    }
    summary("JobScheduler one-shot", theirs);
    summary("Vigia's sleep-until  ", ours);

    // 3. What shutdown leaves running.
    let before = metrics.num_alive_tasks();
    sched.shutdown().await?;
    drop(sched);
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "tokio tasks alive: {before} while scheduling, {} two seconds after shutdown() and drop (Vigia's loop: 0)",
        metrics.num_alive_tasks()
    );
    Ok(())
}
