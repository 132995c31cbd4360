//! The executor's face to other threads: a locked queue of woken tasks and an eventfd that
//! interrupts the driver's wait.
//!
//! Wakes are coalesced: `notified` is set by the first waker after the loop last drained the
//! queue, and only that waker writes the eventfd (Go's netpollBreak does the same with
//! `netpollWakeSig`). The loop clears `notified` before draining, so a task pushed after the
//! drain always finds the flag clear and writes.

use super::context;
use crate::task::Task;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct Remote {
    queue: Mutex<Vec<Arc<Task>>>,
    notified: AtomicBool,
    closed: AtomicBool,
    eventfd: OwnedFd,
    /// eventfd writes performed (what coalescing saves shows here).
    pub(crate) wake_writes: AtomicU64,
}

impl Remote {
    pub(crate) fn new(eventfd: OwnedFd) -> Remote {
        Remote {
            queue: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            eventfd,
            wake_writes: AtomicU64::new(0),
        }
    }

    pub(crate) fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    /// Queues a woken task: on the owner thread straight onto the run queue (no syscall), from
    /// any other thread through the locked queue and one eventfd write per batch.
    pub(crate) fn schedule(task: Arc<Task>) {
        let mut task = Some(task);
        context::try_with_core(|core| {
            if let Some(t) = task.take() {
                task = core.push_local_if_owner(t);
            }
        });
        let Some(task) = task else { return };
        let remote = task.remote().clone();
        if remote.closed.load(Ordering::Acquire) {
            return;
        }
        remote.lock().push(task);
        remote.notify();
    }

    /// Interrupts the owner's wait, unless a notification is already pending.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.wake_writes.fetch_add(1, Ordering::Relaxed);
            let one: u64 = 1;
            // EAGAIN means the counter is saturated: the owner is woken anyway, nothing is lost.
            // SAFETY: writes 8 bytes from a live local u64 to our own eventfd.
            unsafe { libc::write(self.eventfd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Takes the tasks woken from other threads. Owner thread only.
    pub(crate) fn drain(&self, into: &mut std::collections::VecDeque<Arc<Task>>) {
        if !self.notified.load(Ordering::Acquire) {
            return;
        }
        self.notified.store(false, Ordering::Release);
        into.extend(self.lock().drain(..));
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Task>>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The waker of the future passed to `block_on`: a flag, and the remote to interrupt the wait
/// when the wake comes from another thread.
pub(crate) struct MainWaker {
    pub(crate) woken: AtomicBool,
    pub(crate) remote: Arc<Remote>,
}

impl std::task::Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        let local = context::try_with_core(|core| Arc::ptr_eq(core.remote(), &self.remote));
        if local != Some(true) {
            self.remote.notify();
        }
    }
}
