//! The blocking pool: a bounded set of threads, shared by the executors of one `Runtime`, that
//! run work which would block an executor's thread — closures given to
//! [`spawn_blocking`](crate::task::spawn_blocking), and file operations the driver cannot hand
//! to the kernel (every file operation on epoll; one whose opcode the kernel lacks on io_uring).
//!
//! This module knows nothing of executors, tasks or drivers: it runs `Job`s. Whoever queues a
//! job arranges how its result comes back (a waker, or the driver's completion queue).
//!
//! Rules:
//! - Threads start lazily, one when a job is queued and no idle thread is there to take it, up
//!   to `max_threads`; a thread idle for `idle_timeout` retires.
//! - A job is never lost: `execute` either queues it (a thread will run it, even after the last
//!   handle to the pool is gone: the threads drain the queue before they exit) or hands it
//!   back (the queue is full, the pool is shutting down, or no thread could be started), and
//!   the caller runs it itself. So nothing waits on a job nobody will run.
//! - `execute_or_wait` hands a job back on a full queue without asking the caller to run it:
//!   the caller keeps it and is woken (`room`) when a thread next takes a job from the queue,
//!   and tries again (the driver's file operations: docs/architecture.md, "Files and the
//!   blocking pool"). A pool that cannot run anything (shutting down, no thread) still hands
//!   the job back to be run by the caller.
//! - A job that panics does not take its thread or the pool's bookkeeping with it.

mod thread;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

/// Work for a pool thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// How a pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// Most threads at once.
    pub(crate) max_threads: usize,
    /// Most jobs waiting while every thread is busy; one more is handed back to its caller.
    pub(crate) queue_limit: usize,
    /// How long a thread waits for work before it retires.
    pub(crate) idle_timeout: Duration,
}

/// Counters of a runtime's blocking pool, read with
/// [`Runtime::blocking_stats`](crate::Runtime::blocking_stats).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockingStats {
    /// Gauge: pool threads alive now (busy or idle).
    pub threads: u64,
    /// Gauge: pool threads waiting for work now.
    pub idle_threads: u64,
    /// Gauge: jobs queued and not yet taken by a thread.
    pub queued: u64,
    /// Threads started since the pool was made.
    pub threads_started: u64,
    /// Threads that retired after `idle_timeout` without work.
    pub threads_retired: u64,
    /// Jobs taken by pool threads (counted as each starts).
    pub jobs_run: u64,
    /// Jobs handed back to their caller and run on its thread: the queue was full, the pool
    /// was shutting down, or no thread could be started.
    pub jobs_run_by_caller: u64,
}

/// What `execute_or_wait` did with a job.
pub(crate) enum Queued {
    /// A pool thread will run it.
    Yes,
    /// The queue is full: the caller keeps the job; `room` is woken when a thread takes a job
    /// from the queue.
    Full(Job),
    /// The pool cannot run it (shutting down, or no thread could be started): the caller runs
    /// it.
    Refused(Job),
}

/// A handle to the pool; the pool shuts down when the last handle is dropped.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// What the handles and the threads share.
struct Shared {
    state: Mutex<State>,
    /// Idle threads wait here for a job (or for the shutdown).
    work: Condvar,
    config: PoolConfig,
    threads_started: AtomicU64,
    threads_retired: AtomicU64,
    jobs_run: AtomicU64,
    jobs_run_by_caller: AtomicU64,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting on `work`.
    idle: usize,
    /// Callers of `execute_or_wait` that found the queue full: woken when a thread takes a job.
    room: Vec<Waker>,
    /// Wake-ups sent to idle threads and not yet taken (each is meant for one queued job).
    notified: usize,
    /// The last handle is gone: threads finish the queue, then exit.
    shutdown: bool,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        let config = PoolConfig {
            max_threads: config.max_threads.max(1),
            ..config
        };
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                config,
                threads_started: AtomicU64::new(0),
                threads_retired: AtomicU64::new(0),
                jobs_run: AtomicU64::new(0),
                jobs_run_by_caller: AtomicU64::new(0),
            }),
        }
    }

    /// Queues `job` for a pool thread, starting one if none is idle and the pool has room.
    /// `Err(job)`: the queue is full, the pool is shutting down, or no thread could be started
    /// and none is alive; the caller must run the job itself (see the module's rules).
    pub(crate) fn execute(&self, job: Job) -> Result<(), Job> {
        match self.submit(job, None) {
            Queued::Yes => Ok(()),
            Queued::Full(job) | Queued::Refused(job) => {
                self.shared
                    .jobs_run_by_caller
                    .fetch_add(1, Ordering::Relaxed);
                Err(job)
            }
        }
    }

    /// Queues `job` like `execute`; on a full queue hands it back with `room` registered, to
    /// be woken when a thread takes a job from the queue (see the module's rules).
    pub(crate) fn execute_or_wait(&self, job: Job, room: &Waker) -> Queued {
        match self.submit(job, Some(room)) {
            Queued::Refused(job) => {
                self.shared
                    .jobs_run_by_caller
                    .fetch_add(1, Ordering::Relaxed);
                Queued::Refused(job)
            }
            queued => queued,
        }
    }

    fn submit(&self, job: Job, room: Option<&Waker>) -> Queued {
        let start_thread = {
            let mut state = self.shared.lock();
            let idle_free = state.idle > state.notified;
            let room_for_thread = state.threads < self.shared.config.max_threads;
            let queue_full = state.queue.len() >= self.shared.config.queue_limit;
            if state.shutdown {
                return Queued::Refused(job);
            }
            if !idle_free && !room_for_thread && queue_full {
                return match room {
                    Some(waker) => {
                        // Registered under the lock the threads take the queue under: the next
                        // job taken wakes it.
                        if !state.room.iter().any(|w| w.will_wake(waker)) {
                            state.room.push(waker.clone());
                        }
                        Queued::Full(job)
                    }
                    None => Queued::Refused(job),
                };
            }
            state.queue.push_back(job);
            if idle_free {
                state.notified += 1;
                self.shared.work.notify_one();
                false
            } else if room_for_thread {
                // Counted now, so that concurrent callers do not overshoot the bound.
                state.threads += 1;
                true
            } else {
                // Every thread is busy: the job waits for the first one to finish.
                false
            }
        };
        if start_thread && !thread::start(&self.shared) {
            return self.thread_failed();
        }
        Queued::Yes
    }

    /// A thread could not be started (the system is out of threads or memory): undo its
    /// count; if no thread is left to run the queue, the caller takes the newest job back.
    fn thread_failed(&self) -> Queued {
        let mut state = self.shared.lock();
        state.threads -= 1;
        if state.threads > 0 {
            return Queued::Yes;
        }
        match state.queue.pop_back() {
            Some(job) => Queued::Refused(job),
            None => Queued::Yes,
        }
    }

    pub(crate) fn stats(&self) -> BlockingStats {
        let s = &self.shared;
        let state = s.lock();
        BlockingStats {
            threads: state.threads as u64,
            idle_threads: state.idle as u64,
            queued: state.queue.len() as u64,
            threads_started: s.threads_started.load(Ordering::Relaxed),
            threads_retired: s.threads_retired.load(Ordering::Relaxed),
            jobs_run: s.jobs_run.load(Ordering::Relaxed),
            jobs_run_by_caller: s.jobs_run_by_caller.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Pool {
    /// The last handle: threads run what is queued, then exit (they are not joined, so a job
    /// that never returns cannot hang the runtime's drop).
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a panic cannot leave the state half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
