//! Operations run on the blocking pool: every file operation on epoll (a regular file cannot be
//! polled, and its syscalls block), and on io_uring an operation whose opcode the kernel lacks
//! and which has a blocking form.
//!
//! The pool plays the kernel's part, and the driver treats its jobs as it treats SQEs:
//! - `start` takes a slot (the same table the ring uses, `slots.rs`) and queues one job: the
//!   op's blocking call (`sys::Blocking`, built from memory the op owns), then its result,
//!   pushed onto `Done` with the slot's tag.
//! - A pool thread that pushes a result onto an empty `Done` writes the executor's eventfd
//!   (the wake target every driver has, `Notifier`), coalesced like `Remote::notify`: the loop
//!   clears `pending` before it takes the list, so a push after that writes again.
//! - Each `park` ends with `deliver`: results go to their slots like CQEs — waking the task, or
//!   completing what a dropped op left (`Orphan`). Until then the op's memory stays with its
//!   future or its slot, so the pool thread never touches freed memory.
//! - A blocking call cannot be cancelled: a dropped op's job runs to the end and its result
//!   goes to the orphan. At shutdown the driver waits (bounded) for the jobs in flight, then
//!   leaks what they still hold, as the ring does.

use super::notify::Notifier;
use super::op::{FileRef, OpState, Orphan};
use super::slots::{Delivery, Orphaned, Slots};
use super::{DriverStats, OpResult};
use crate::blocking::{Job, Pool};
use crate::sys::blocking::Blocking;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long `shutdown` waits for pool jobs in flight before leaking what they hold.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Results from pool threads, waiting for the executor.
struct Done {
    results: Mutex<Vec<(u64, i32)>>,
    /// A result was pushed since the executor last took the list.
    pending: AtomicBool,
    /// Signalled on every push, for `shutdown`'s wait.
    arrived: Condvar,
    notifier: Arc<Notifier>,
}

impl Done {
    /// A pool thread's result for the op tagged `user_data`, in the CQE's convention.
    fn push(&self, user_data: u64, res: i32) {
        self.lock().push((user_data, res));
        self.arrived.notify_all();
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.notifier.write_eventfd();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, i32)>> {
        // Nothing panics while the lock is held.
        self.results.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct Offload {
    pool: Arc<Pool>,
    slots: Slots,
    done: Arc<Done>,
    /// Only the pool's counters: `pool_ops`, `orphan_completions`, `stale_events`.
    stats: DriverStats,
}

impl Offload {
    pub(crate) fn new(pool: Arc<Pool>, notifier: Arc<Notifier>) -> Offload {
        Offload {
            pool,
            slots: Slots::with_capacity(16),
            done: Arc::new(Done {
                results: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                arrived: Condvar::new(),
                notifier,
            }),
            stats: DriverStats::default(),
        }
    }

    /// The pool's counters (see `stats`), and its gauge of jobs in flight.
    pub(crate) fn stats(&self) -> DriverStats {
        DriverStats {
            pool_in_flight: self.slots.len() as u64,
            ..self.stats
        }
    }

    /// Starts `call` on the pool for an op on `fd`. If the pool hands the job back
    /// (its queue is full), the call runs here, now, and its result is returned at once.
    pub(crate) fn start(
        &mut self,
        state: &mut OpState,
        call: Blocking,
        fd: Option<FileRef>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let user_data = self.slots.insert(fd, cx.waker().clone());
        let done = self.done.clone();
        let job: Job = Box::new(move || {
            let res = match call.run() {
                Ok(n) => n.min(i32::MAX as u32) as i32,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            };
            done.push(user_data, res);
        });
        self.stats.pool_ops += 1;
        *state = OpState::InPool(user_data);
        if let Err(job) = self.pool.execute(job) {
            // Run by the caller: the result is in `done` when this returns.
            job();
            self.deliver();
        }
        self.poll(user_data, cx)
    }

    /// The op's future asks for its result.
    pub(crate) fn poll(&mut self, user_data: u64, cx: &Context<'_>) -> Poll<OpResult> {
        self.slots
            .poll(user_data, cx)
            .map(|(res, flags)| (crate::sys::cqe_result(res), flags))
    }

    /// The op's future is gone: its slot keeps what the pool thread may still use.
    pub(crate) fn orphan(&mut self, user_data: u64, data: Box<dyn Orphan>) {
        match self.slots.orphan(user_data, data) {
            // A blocking call cannot be cancelled: the result will come.
            Orphaned::InFlight => {}
            Orphaned::Done(data, res, flags) => {
                self.stats.orphan_completions += 1;
                data.complete(crate::sys::cqe_result(res), flags);
            }
        }
    }

    /// Hands the results pool threads reported to their slots (see the module docs). One
    /// atomic load when there are none.
    pub(crate) fn deliver(&mut self) {
        if !self.done.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let results = std::mem::take(&mut *self.done.lock());
        for (user_data, res) in results {
            match self.slots.complete(user_data, res, 0) {
                Delivery::Wake(waker) => waker.wake(),
                Delivery::Orphan(data, res, flags) => {
                    self.stats.orphan_completions += 1;
                    data.complete(crate::sys::cqe_result(res), flags);
                }
                Delivery::Stale => self.stats.stale_events += 1,
            }
        }
    }

    /// Waits, at most `SHUTDOWN_GRACE`, for every job in flight; then leaks (never frees)
    /// what the ones still running hold.
    pub(crate) fn shutdown(&mut self) {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        loop {
            self.done.pending.store(true, Ordering::Release);
            self.deliver();
            if !self.slots.any_in_flight() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                self.slots.leak_orphans();
                return;
            }
            let results = self.done.lock();
            if results.is_empty() {
                // Woken by the next push (or the deadline); the loop takes what came.
                drop(self.done.arrived.wait_timeout(results, deadline - now));
            }
        }
    }
}
