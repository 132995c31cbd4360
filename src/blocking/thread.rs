//! One pool thread: take a job, run it outside the lock, repeat; wait for work at most
//! `idle_timeout`, then retire.

use super::{Job, Shared, State};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

/// Starts a thread (already counted in `State::threads`); false if the system refused.
pub(super) fn start(shared: &Arc<Shared>) -> bool {
    let shared = shared.clone();
    let counters = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("corio-blocking".into())
        .spawn(move || run(&shared))
        .is_ok();
    if spawned {
        // Counted by the starter, so the count is right as soon as `execute` returns.
        counters.threads_started.fetch_add(1, Ordering::Relaxed);
    }
    spawned
}

fn run(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            // The queue has room again: callers waiting for it try again.
            let room = std::mem::take(&mut state.room);
            drop(state);
            room.into_iter().for_each(std::task::Waker::wake);
            run_job(shared, job);
            state = shared.lock();
            continue;
        }
        if state.shutdown {
            break;
        }
        match wait_for_work(shared, state) {
            Some(s) => state = s,
            None => {
                shared.threads_retired.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    state.threads -= 1;
}

/// Runs one job; a panic is caught here (a `spawn_blocking` job catches its own first, to hand
/// it to its handle), so the thread and its count survive.
fn run_job(shared: &Shared, job: Job) {
    // Counted first: a job's result may be awaited (and the counter read) before it returns.
    shared.jobs_run.fetch_add(1, Ordering::Relaxed);
    if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
        // Dropping the payload may panic too; never let that unwind out of the thread.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// Waits, idle, until a job is handed over, the pool shuts down, or `idle_timeout` passes
/// without work. `None`: the thread retired (its count is already given back).
fn wait_for_work<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
) -> Option<MutexGuard<'a, State>> {
    let deadline = Instant::now() + shared.config.idle_timeout;
    state.idle += 1;
    loop {
        let now = Instant::now();
        let timed_out = now >= deadline;
        if !timed_out && state.notified == 0 && !state.shutdown {
            let (s, _) = shared
                .work
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            state = s;
            continue;
        }
        state.idle -= 1;
        if state.notified > 0 {
            // A job was queued for an idle thread: this one takes it.
            state.notified -= 1;
            return Some(state);
        }
        if state.shutdown || !state.queue.is_empty() {
            return Some(state);
        }
        // Idle for the whole timeout with nothing to do.
        state.threads -= 1;
        return None;
    }
}
