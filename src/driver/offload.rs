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
//! - A full pool makes the op wait, never the executor: the job the pool hands back waits in
//!   `waiting`, in order, and is offered again when a pool thread takes a job from the queue
//!   (the pool wakes `room`, which writes the executor's eventfd) — at the end of that park.
//!   The op is `InPool` meanwhile, as if queued. A waiting job whose op is dropped, or that is
//!   still waiting at shutdown, never runs: its slot completes as cancelled. Only a pool that
//!   can run nothing at all (no thread could be started) has the job run here.

use super::notify::Notifier;
use super::op::{FileRef, OpState, Orphan};
use super::slots::{Delivery, Orphaned, Slots};
use super::{DriverStats, OpResult};
use crate::blocking::{Job, Pool, Queued};
use crate::sys::blocking::Blocking;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
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

/// Woken by a pool thread that took a job from a full queue: interrupts the executor's wait,
/// so that the jobs waiting for room are offered again at the end of its park.
struct Room(Arc<Notifier>);

impl Wake for Room {
    fn wake(self: Arc<Self>) {
        self.0.write_eventfd();
    }
}

pub(crate) struct Offload {
    pool: Arc<Pool>,
    slots: Slots,
    done: Arc<Done>,
    /// Jobs a full pool handed back, in order, by their slot's tag (see the module docs).
    waiting: VecDeque<(u64, Job)>,
    /// What the pool wakes when its queue has room again.
    room: Waker,
    /// Only the pool's counters: `pool_ops`, `orphan_completions`, `stale_events`.
    stats: DriverStats,
}

impl Offload {
    pub(crate) fn new(pool: Arc<Pool>, notifier: Arc<Notifier>) -> Offload {
        Offload {
            pool,
            slots: Slots::with_capacity(16),
            room: Waker::from(Arc::new(Room(notifier.clone()))),
            done: Arc::new(Done {
                results: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                arrived: Condvar::new(),
                notifier,
            }),
            waiting: VecDeque::new(),
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

    /// Starts `call` on the pool for an op on `fd`; with the pool full, the job waits for room
    /// (see the module docs). Only if the pool can run nothing does the call run here, now,
    /// and its result is returned at once.
    pub(crate) fn start(
        &mut self,
        state: &mut OpState,
        call: Blocking,
        fd: Option<FileRef>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let user_data = self.slots.insert(fd, cx.waker());
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
        if !self.waiting.is_empty() {
            // Behind the jobs already waiting for room.
            self.waiting.push_back((user_data, job));
        } else if let Some(job) = self.offer(user_data, job) {
            // Run by the caller: the result is in `done` when this returns.
            job();
            self.deliver();
        }
        self.poll(user_data, cx)
    }

    /// Offers a job to the pool: queued, kept in `waiting` (the pool is full), or handed back
    /// to be run here (the pool can run nothing).
    fn offer(&mut self, user_data: u64, job: Job) -> Option<Job> {
        match self.pool.execute_or_wait(job, &self.room) {
            Queued::Yes => None,
            Queued::Full(job) => {
                self.waiting.push_back((user_data, job));
                None
            }
            Queued::Refused(job) => Some(job),
        }
    }

    /// Offers the waiting jobs again, in order, until the pool is full again.
    fn offer_waiting(&mut self) {
        while let Some((user_data, job)) = self.waiting.pop_front() {
            let before = self.waiting.len();
            if let Some(job) = self.offer(user_data, job) {
                job();
            } else if self.waiting.len() > before {
                // Still full: it went back to the end; put it first again, and stop.
                let again = self.waiting.pop_back().expect("just pushed");
                self.waiting.push_front(again);
                return;
            }
        }
    }

    /// A job still waiting for room, taken out: it will never run, and its op completes as
    /// cancelled (`cancelled`).
    fn take_waiting(&mut self, user_data: u64) -> bool {
        let Some(i) = self.waiting.iter().position(|(ud, _)| *ud == user_data) else {
            return false;
        };
        drop(self.waiting.remove(i));
        true
    }

    /// Completes the slot of a job that never ran, as cancelled.
    fn cancelled(&mut self, user_data: u64) {
        self.done.push(user_data, -libc::ECANCELED);
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
            // Still waiting for room: it never runs.
            Orphaned::InFlight if self.take_waiting(user_data) => self.cancelled(user_data),
            // A blocking call cannot be cancelled: the result will come.
            Orphaned::InFlight => {}
            Orphaned::Done(data, res, flags) => {
                self.stats.orphan_completions += 1;
                data.complete(crate::sys::cqe_result(res), flags);
            }
        }
    }

    /// Offers the jobs waiting for room again, and hands the results pool threads reported to
    /// their slots (see the module docs). One atomic load when there are none.
    pub(crate) fn deliver(&mut self) {
        if !self.waiting.is_empty() {
            self.offer_waiting();
        }
        if !self.done.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let results = std::mem::take(&mut *self.done.lock());
        for (user_data, res) in results {
            match self.slots.complete(user_data, res, 0) {
                Delivery::Wake(waker) => waker.wake_by_ref(),
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
        // Jobs that never got room never run: their slots complete as cancelled.
        while let Some((user_data, job)) = self.waiting.pop_front() {
            drop(job);
            self.cancelled(user_data);
        }
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
