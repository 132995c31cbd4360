//! Graceful shutdown: requested once (a signal, a [`ShutdownHandle`], or [`request_shutdown`]),
//! then, after the grace period, forced. See docs/architecture.md, "Workers".

use super::remote::Remote;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The group's shutdown: requested once (a signal, a handle, or `request_shutdown`), then, after
/// the grace period, forced.
pub(crate) struct ShutdownState {
    /// Bumped by every `run`, so a grace timer from an earlier run cannot stop a later one.
    epoch: std::sync::atomic::AtomicU64,
    requested: AtomicBool,
    pub(crate) forced: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
    grace: Duration,
    /// The executors to interrupt when the grace period ends (the current group's).
    remotes: Mutex<Vec<Arc<Remote>>>,
}

impl ShutdownState {
    pub(crate) fn new(grace: Duration) -> Arc<ShutdownState> {
        Arc::new(ShutdownState {
            epoch: std::sync::atomic::AtomicU64::new(0),
            requested: AtomicBool::new(false),
            forced: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
            grace,
            remotes: Mutex::new(Vec::new()),
        })
    }

    /// Starts the shutdown: wakes every `shutdown_requested()` future, and arms the grace timer
    /// (a plain thread: it must fire even if every executor is busy or blocked).
    pub(crate) fn request(self: &Arc<Self>) {
        if self.requested.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        waiters.into_iter().for_each(Waker::wake);
        self.arm_grace();
    }

    /// Forces the stop once the grace period has passed, unless a new `run` began meanwhile.
    fn arm_grace(self: &Arc<Self>) {
        let state = self.clone();
        let epoch = self.epoch.load(Ordering::Acquire);
        let _ = std::thread::Builder::new()
            .name("corio-grace".into())
            .spawn(move || {
                std::thread::sleep(state.grace);
                if state.epoch.load(Ordering::Acquire) == epoch {
                    state.force();
                }
            });
    }

    /// A `run` starts: a forced shutdown interrupts these executors.
    pub(crate) fn set_remotes(&self, remotes: Vec<Arc<Remote>>) {
        *self.remotes.lock().unwrap_or_else(|e| e.into_inner()) = remotes;
    }

    /// A `run` starts on `remotes`. A grace timer from before it cannot force it; a shutdown
    /// requested while no run was going on applies to this one, with a whole grace period.
    pub(crate) fn begin_run(self: &Arc<Self>, remotes: Vec<Arc<Remote>>) {
        self.set_remotes(remotes);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.forced.store(false, Ordering::Release);
        if self.is_requested() {
            self.arm_grace();
        }
    }

    /// A `run` ended: the next one starts with a fresh shutdown, and a grace timer still
    /// pending from this one will not touch it.
    pub(crate) fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.requested.store(false, Ordering::Release);
        self.forced.store(false, Ordering::Release);
        self.remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The grace period is over: every worker stops at its next turn. Each is interrupted with
    /// its own eventfd write, not the coalesced `notify`: a notification already pending may
    /// have spent its write on a park that has returned.
    pub(crate) fn force(&self) {
        crate::trace::event!(warn, "grace period over: forcing the workers to stop");
        self.forced.store(true, Ordering::Release);
        for r in self
            .remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            r.write_eventfd();
        }
    }

    /// `Ready` once the shutdown has been requested; otherwise the waker is kept for then.
    pub(crate) fn poll_requested(&self, cx: &Context<'_>) -> Poll<()> {
        if self.is_requested() {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Re-check under the lock: `request` takes the waiters after setting the flag.
        if self.is_requested() {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

/// A handle that starts the graceful shutdown of a runtime's workers from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    state: Arc<ShutdownState>,
}

impl ShutdownHandle {
    pub(crate) fn new(state: Arc<ShutdownState>) -> ShutdownHandle {
        ShutdownHandle { state }
    }

    /// Starts the shutdown, as SIGINT or SIGTERM would: `shutdown_requested()` completes on
    /// every worker, and after the grace period the workers still running are stopped.
    pub fn shutdown(&self) {
        self.state.request();
    }
}

impl super::Runtime {
    /// A handle that starts this runtime's graceful shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shutdown.clone())
    }
}
