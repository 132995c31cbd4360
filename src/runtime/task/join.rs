//! `JoinHandle`: the output of a spawned task, or why there is none.

use super::Task;
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Why a task produced no output.
#[non_exhaustive]
pub enum JoinError {
    /// The task was aborted, or the runtime shut down before it finished.
    Cancelled,
    /// The task panicked; the payload is kept.
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }
    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic(_))
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinError::Panic(_) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panic(_) => f.write_str("task panicked"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Where a task's output waits for its `JoinHandle`.
pub(crate) struct JoinState<T> {
    output: RefCell<Option<Result<T, JoinError>>>,
    waker: RefCell<Option<Waker>>,
    done: std::cell::Cell<bool>,
}

impl<T> JoinState<T> {
    fn complete(&self, out: Result<T, JoinError>) {
        if self.done.replace(true) {
            return;
        }
        *self.output.borrow_mut() = Some(out);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The future the executor runs for a spawned task: the user's future, its output routed to the
/// join state, a panic caught and reported, and `Cancelled` reported if dropped unfinished.
pub(crate) struct Runner<F: Future> {
    fut: F,
    state: Rc<JoinState<F::Output>>,
}

impl<F: Future> Runner<F> {
    pub(crate) fn new(fut: F) -> (Self, Rc<JoinState<F::Output>>) {
        let state = Rc::new(JoinState {
            output: RefCell::new(None),
            waker: RefCell::new(None),
            done: std::cell::Cell::new(false),
        });
        (
            Runner {
                fut,
                state: state.clone(),
            },
            state,
        )
    }
}

impl<F: Future> Future for Runner<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `this.fut` stays in place for as long as `self` is pinned.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.state.complete(Ok(v));
                Poll::Ready(())
            }
            Err(payload) => {
                this.state.complete(Err(JoinError::Panic(payload)));
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Runner<F> {
    fn drop(&mut self) {
        self.state.complete(Err(JoinError::Cancelled));
    }
}

/// An owned permission to await a spawned task's output, or to abort it.
///
/// Dropping the handle detaches the task; it keeps running.
///
/// ```
/// corio::block_on(async {
///     let h = corio::spawn(async { 40 + 2 });
///     assert_eq!(h.await.unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
    task: Arc<Task>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(state: Rc<JoinState<T>>, task: Arc<Task>) -> Self {
        JoinHandle { state, task }
    }

    /// Cancels the task: its future is dropped (cancelling its in-flight operations) the next
    /// time the executor gets to it, and awaiting the handle yields `JoinError::Cancelled`
    /// unless the task had already finished.
    pub fn abort(&self) {
        if !self.state.done.get() {
            self.task.abort();
        }
    }

    /// True once the task has finished, been aborted, or panicked.
    pub fn is_finished(&self) -> bool {
        self.state.done.get()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(out) = self.state.output.borrow_mut().take() {
            return Poll::Ready(out);
        }
        if self.state.done.get() {
            // The output was taken by an earlier poll; polling again is a caller bug.
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        *self.state.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
