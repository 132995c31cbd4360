//! `spawn_blocking`: a closure on the runtime's blocking pool, its result back on the task that
//! awaits the handle.
//!
//! The pool thread stores the result and wakes the waiting task's waker. That waker is the
//! task's own (`Wake for Task`), so the wake takes the runtime's ordinary cross-thread path:
//! `Remote::schedule` from a thread that is not the executor's pushes the task onto the
//! executor's remote queue and interrupts its wait with one coalesced eventfd write.

use super::JoinError;
use crate::runtime::context;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Where a blocking job's result waits for its handle.
enum Slot<T> {
    /// Not finished; the waker of the task awaiting the handle, once it has polled.
    Running(Option<Waker>),
    /// Finished; the result waits to be taken.
    Done(Result<T, JoinError>),
    /// The result was taken.
    Taken,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while the lock is held (the job runs outside it).
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the result and wakes the task awaiting it, if any (outside the lock).
    fn finish(&self, out: Result<T, JoinError>) {
        let waker = match std::mem::replace(&mut *self.lock(), Slot::Done(out)) {
            Slot::Running(waker) => waker,
            Slot::Done(_) | Slot::Taken => unreachable!("a blocking job finished twice"),
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Runs `f` on the current runtime's blocking pool, a bounded set of threads shared by the
/// runtime's workers ([`Builder::blocking_threads`](crate::Builder::blocking_threads)), and
/// returns a handle that yields its result. Use it for work that would block the executor's
/// thread: a blocking library call, a long computation, a DNS lookup.
///
/// - A panic in `f` is caught and returned as [`JoinError::Panic`].
/// - Dropping the handle detaches the job: it still runs, and its result is dropped.
/// - The pool starts threads as jobs arrive and retires idle ones. When every thread is busy,
///   jobs wait in a queue; when that queue is full too (or no thread can be started), `f` runs
///   right here, on the calling thread, before `spawn_blocking` returns — backpressure rather
///   than a lost job.
///
/// Panics if called outside a runtime.
///
/// ```
/// corio::block_on(async {
///     let sum = corio::spawn_blocking(|| (1..=10u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 55);
/// });
/// ```
pub fn spawn_blocking<F, T>(f: F) -> BlockingJoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = context::with_core(|core| core.blocking_pool().clone());
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Running(None)),
    });
    let job_shared = shared.clone();
    let job = Box::new(move || {
        let out = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::Panic);
        job_shared.finish(out);
    });
    if let Err(job) = pool.execute(job) {
        // The queue is full or no thread can start: run it here (see the docs above).
        job();
    }
    BlockingJoinHandle { shared }
}

/// The handle of a [`spawn_blocking`] job: a future of its result. Unlike
/// [`JoinHandle`](crate::JoinHandle) it is `Send` (when `T` is), so it can be awaited on any
/// executor. Dropping it detaches the job.
pub struct BlockingJoinHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> BlockingJoinHandle<T> {
    /// True once the job has returned or panicked.
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.lock(), Slot::Running(_))
    }
}

impl<T> Future for BlockingJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Done(out) => Poll::Ready(out),
            Slot::Running(waker) => {
                let waker = match waker {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                *slot = Slot::Running(Some(waker));
                Poll::Pending
            }
            // Polled again after it returned its result: a caller bug, answered like
            // JoinHandle does.
            Slot::Taken => Poll::Ready(Err(JoinError::Cancelled)),
        }
    }
}

impl<T> fmt::Debug for BlockingJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
