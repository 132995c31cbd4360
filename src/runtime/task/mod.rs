//! Tasks as the executor sees them: a spawned future in an `Arc<Task>` with its scheduling
//! flags, the waker over it (`waker.rs`), and the wrapper that routes its output to its
//! `JoinHandle` (`join.rs`). The task ⇄ executor knot lives in this folder and its parent:
//! a waker schedules its task through its executor's `Remote`. The public face (`spawn`,
//! `JoinHandle`, `spawn_blocking`) is `crate::task` and `crate::runtime`.
//!
//! Invariants (the executor relies on them; docs/architecture.md, "Tasks", points here):
//! - A task's future is only polled and only dropped on its executor's thread. The executor
//!   keeps every live task in its registry until it has dropped the future (on completion, on
//!   abort, or at runtime shutdown), so the last `Arc<Task>` a waker drops on another thread
//!   never owns a future.
//! - `scheduled` is set by whoever enqueues the task and cleared just before the task is
//!   polled, so a task sits in at most one queue at a time and a wake during a poll re-queues it.

mod join;
mod waker;

pub(crate) use join::Runner;
pub use join::{JoinError, JoinHandle};

use super::remote::Remote;
use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A spawned future and its scheduling state.
pub(crate) struct Task {
    /// The owning executor's cross-thread face: where wakes from other threads go.
    remote: Arc<Remote>,
    /// Key of this task in its executor's registry.
    key: usize,
    /// Set while the task is in a run queue (or about to be).
    scheduled: AtomicBool,
    /// Set by `JoinHandle::abort`; the executor drops the future instead of polling it.
    aborted: AtomicBool,
    /// The future; `None` once completed or dropped. Owner thread only (see module docs).
    future: UnsafeCell<Option<BoxFuture>>,
}

// SAFETY: the only non-thread-safe field is `future`, which is touched only on the owner
// thread, and which the owner drops before the registry lets go of the task (module invariant),
// so moving or dropping an `Arc<Task>` on another thread never touches or drops a future.
unsafe impl Send for Task {}
// SAFETY: as above; shared access from other threads only reads atomics and `remote`.
unsafe impl Sync for Task {}

/// What polling a task did.
#[must_use]
pub(crate) enum RunOutcome {
    /// The task is not finished.
    Pending,
    /// The future finished or was dropped (aborted) in this run: the task leaves the registry.
    Done,
    /// The future was already gone: a stale wake of a finished task. The task left the
    /// registry when it finished, and its key may now belong to another task: remove nothing.
    Stale,
}

impl Task {
    pub(crate) fn new(remote: Arc<Remote>, key: usize, future: BoxFuture) -> Arc<Task> {
        Arc::new(Task {
            remote,
            key,
            scheduled: AtomicBool::new(true),
            aborted: AtomicBool::new(false),
            future: UnsafeCell::new(Some(future)),
        })
    }

    pub(crate) fn key(&self) -> usize {
        self.key
    }

    /// Polls the task once, or drops its future if it was aborted. Owner thread only.
    #[inline]
    pub(crate) fn run(self: &Arc<Self>) -> RunOutcome {
        self.scheduled.store(false, Ordering::Release);
        // SAFETY: called by the executor on the owner thread, never re-entrantly for the same
        // task (a task cannot poll itself), so this is the only reference to the future.
        let slot = unsafe { &mut *self.future.get() };
        let Some(fut) = slot.as_mut() else {
            return RunOutcome::Stale;
        };
        if self.aborted.load(Ordering::Acquire) {
            *slot = None;
            return RunOutcome::Done;
        }
        let waker = waker::waker_ref(self);
        let mut cx = Context::from_waker(&waker);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(()) => {
                *slot = None;
                RunOutcome::Done
            }
            Poll::Pending => RunOutcome::Pending,
        }
    }

    /// Drops the future without polling it. Owner thread only (runtime shutdown).
    pub(crate) fn drop_future(&self) {
        // SAFETY: called on the owner thread while no poll of this task is running.
        let fut = unsafe { (*self.future.get()).take() };
        drop(fut);
    }

    pub(crate) fn abort(self: &Arc<Self>) {
        self.aborted.store(true, Ordering::Release);
        Task::wake_by_ref(self);
    }
}

impl Task {
    /// Queues the task for a poll, unless it is queued already (see `scheduled`).
    #[inline]
    pub(crate) fn wake(self: Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            Remote::schedule(self);
        }
    }

    #[inline]
    pub(crate) fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            Remote::schedule(self.clone());
        }
    }
}

impl Task {
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }
}
