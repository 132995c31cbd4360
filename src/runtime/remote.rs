//! The executor's face to other threads: a locked queue of woken tasks and one of jobs, and the
//! driver's notifier that interrupts the executor's wait (an eventfd write, or from another
//! io_uring executor an IORING_OP_MSG_RING to this executor's ring: see `notify` and
//! docs/architecture.md).
//!
//! Wakes are coalesced: `notified` is set by the first waker after the loop last drained the
//! queue, and only that waker interrupts the wait (Go's netpollBreak does the same with
//! `netpollWakeSig`). The loop clears `notified` before draining, so a task pushed after the
//! drain always finds the flag clear and interrupts again.

use super::context;
use super::task::Task;
use crate::driver::Notifier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Work sent from another thread to run on this executor (spawn_on, handed-over connections):
/// called on the executor's thread, where it typically spawns a local task.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Remote {
    queue: Mutex<Vec<Arc<Task>>>,
    jobs: Mutex<Vec<Job>>,
    /// Jobs received (cross-core messages).
    pub(crate) jobs_received: AtomicU64,
    notified: AtomicBool,
    closed: AtomicBool,
    /// The driver's wake target: its eventfd, and its ring fd where MSG_RING is on.
    notifier: Arc<Notifier>,
}

impl Remote {
    pub(crate) fn new(notifier: Arc<Notifier>) -> Remote {
        Remote {
            queue: Mutex::new(Vec::new()),
            jobs: Mutex::new(Vec::new()),
            jobs_received: AtomicU64::new(0),
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            notifier,
        }
    }

    /// The driver's wake target (its counters feed `ExecutorStats`).
    pub(crate) fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// Queues a woken task: on the owner thread straight onto the run queue (no syscall), from
    /// any other thread through the locked queue and one eventfd write per batch.
    #[inline(always)]
    pub(crate) fn schedule(task: Arc<Task>) {
        context::with_core_or(
            task,
            |core, task| match core.owns(&task) {
                true => core.push_local(task),
                false => Remote::schedule_remote(task),
            },
            Remote::schedule_remote,
        );
    }

    /// `schedule` from a thread other than the owner's.
    #[inline(never)]
    fn schedule_remote(task: Arc<Task>) {
        let remote = task.remote().clone();
        {
            // `closed` is checked under the queue's lock, which `close` also takes: a task
            // pushed here is either drained by the executor or dropped by `close`, never left
            // behind (a Task and its Remote point at each other).
            let mut queue = remote.lock();
            if remote.closed.load(Ordering::Acquire) {
                return;
            }
            queue.push(task);
        }
        remote.notify();
    }

    /// Interrupts the owner's wait, unless a notification is already pending. From a thread
    /// running an io_uring executor, and to an io_uring owner, the wake-up is an
    /// IORING_OP_MSG_RING that leaves with the sender's next submission (batched with its other
    /// SQEs, no syscall of its own); otherwise one eventfd write.
    pub(crate) fn notify(self: &Arc<Self>) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.notifier.ring_fd().is_some() && !self.closed.load(Ordering::Acquire) {
            let sent =
                context::try_with_core(|core| core.msg_ring(&self.notifier)).unwrap_or(false);
            if sent {
                return;
            }
        }
        self.notifier.write_eventfd();
    }

    /// Interrupts the owner's wait with one eventfd write, whatever is pending (the forced
    /// stop: see `ShutdownState::force`).
    pub(crate) fn write_eventfd(&self) {
        self.notifier.write_eventfd();
    }

    /// Queues a job for the owner thread and interrupts its wait (coalesced like wakes).
    /// Returns the job if the executor is gone.
    pub(crate) fn push_job(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        #[cfg(test)]
        before_jobs_lock();
        {
            // `closed` is checked under the jobs lock, which `close` takes after setting it:
            // a job pushed here is either run by the executor or dropped by `close`.
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            if self.closed.load(Ordering::Acquire) {
                return Err(job);
            }
            jobs.push(job);
        }
        self.jobs_received.fetch_add(1, Ordering::Relaxed);
        self.notify();
        Ok(())
    }

    /// Takes the jobs sent from other threads. Owner thread only.
    pub(crate) fn take_jobs(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the tasks woken from other threads. Owner thread only.
    /// Returns false (and takes nothing) if no other thread woke a task or sent a job since the
    /// last drain: the common case costs one atomic load, no lock.
    pub(crate) fn drain(&self, into: &mut std::collections::VecDeque<Arc<Task>>) -> bool {
        if !self.notified.load(Ordering::Acquire) {
            return false;
        }
        // A swap, so that what a coalesced notifier published before its `notify` (a stop
        // flag, a job) is visible after this drain.
        self.notified.swap(false, Ordering::AcqRel);
        into.extend(self.lock().drain(..));
        true
    }

    pub(crate) fn close(&self) {
        let tasks = {
            let mut queue = self.lock();
            self.closed.store(true, Ordering::Release);
            std::mem::take(&mut *queue)
        };
        let jobs = {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *jobs)
        };
        // Dropped outside the locks: a job's drop may run arbitrary code.
        drop(tasks);
        drop(jobs);
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

#[cfg(test)]
thread_local! {
    /// Test hook: runs in `push_job` just before it takes the jobs lock.
    static BEFORE_JOBS_LOCK: std::cell::RefCell<Option<Box<dyn Fn()>>> =
        const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
fn before_jobs_lock() {
    BEFORE_JOBS_LOCK.with(|h| {
        if let Some(f) = &*h.borrow() {
            f()
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Arc<Remote> {
        Arc::new(Remote::new(Arc::new(Notifier::new(true).unwrap())))
    }

    /// Defect 8 of issue 9: a job pushed while `close` runs is either refused or dropped by
    /// `close` — never left in the queue of a closed executor, where nothing would run or drop
    /// it (and a `RemoteJoinHandle` waiting on it would hang). The hook makes `close` run
    /// entirely while the push is on its way to the lock.
    #[test]
    fn a_job_racing_close_is_refused_or_dropped() {
        let r = remote();
        let closer = r.clone();
        let pusher = std::thread::spawn(move || {
            let target = closer.clone();
            BEFORE_JOBS_LOCK.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    let c = closer.clone();
                    std::thread::spawn(move || c.close()).join().unwrap();
                }))
            });
            target.push_job(Box::new(|| {})).is_ok()
        });
        let pushed = pusher.join().unwrap();
        assert!(r.closed.load(Ordering::Acquire));
        assert_eq!(r.take_jobs().len(), 0, "a job stranded in a closed remote");
        assert!(
            !pushed,
            "a push that lost the race to close must be refused"
        );
    }
}
