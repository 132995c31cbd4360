//! The executor of one thread: run queue, task registry, timers and the I/O driver.
//!
//! One turn of the loop: poll the main future if woken; run up to `BUDGET` queued tasks; take
//! tasks woken from other threads; hand everything prepared to the kernel and reap completions
//! in one driver park (not waiting if work is queued, else waiting until the nearest timer);
//! fire due timers. The budget bounds how long an always-ready task can keep completions from
//! being reaped.

use super::group::Group;
use super::remote::Remote;
use super::shutdown::ShutdownState;
use super::task::{RunOutcome, Task};
use super::timers::Timers;
use crate::blocking::Pool;
use crate::driver::{Driver, DriverStats, Notifier, Token};
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tasks polled per turn before the loop reaps completions again.
const BUDGET: usize = 128;

/// Operations one poll of a task may start before it must yield (tokio's coop budget): an op
/// whose result is there at once (data already queued on epoll, a stash) never returns
/// `Pending`, so without it a task reading a full socket would keep its thread.
const OP_BUDGET: u32 = 128;

static NEXT_CORE_ID: AtomicU64 = AtomicU64::new(1);

/// Executor counters, read with [`crate::Runtime::stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorStats {
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Turns of the loop (driver parks).
    pub ticks: u64,
    /// Tasks received from other threads.
    pub remote_wakes: u64,
    /// eventfd writes other threads made to interrupt the driver's wait: at most one per
    /// batch of cross-thread wakes (coalesced), none for wakes from the executor's own thread.
    pub remote_wake_writes: u64,
    /// Jobs received from other workers or threads (`spawn_on`, handed-over connections).
    pub cross_core_messages: u64,
    /// Wake-ups other io_uring executors posted to this ring with IORING_OP_MSG_RING instead
    /// of an eventfd write.
    pub msg_ring_wakes: u64,
    /// Tasks alive on this executor (running, queued or parked).
    pub tasks_alive: u64,
}

pub(crate) struct Core {
    id: u64,
    /// This executor's index in its group, and the group (a group of one outside `run`).
    worker: Cell<usize>,
    group: RefCell<Arc<Group>>,
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Timers>,
    run_queue: RefCell<VecDeque<Arc<Task>>>,
    registry: RefCell<Slab<Arc<Task>>>,
    remote: Arc<Remote>,
    /// The blocking pool, shared by the executors of one `Runtime`.
    pool: Arc<Pool>,
    stats: Cell<ExecutorStats>,
    /// Polled fds whose last handle went while the driver was in use (`release_fd`): taken out
    /// of the driver and closed once its turn is over.
    releases: RefCell<Vec<(Token, RawFd)>>,
    /// Operations the task being polled may still start (see `OP_BUDGET`).
    op_budget: Cell<u32>,
    /// `ExecutorStats::tasks_polled`, apart: bumped on every poll.
    tasks_polled: Cell<u64>,
}

impl Core {
    pub(crate) fn new(
        driver: Driver,
        remote: Arc<Remote>,
        shutdown: Arc<ShutdownState>,
        pool: Arc<Pool>,
    ) -> Core {
        Core {
            id: NEXT_CORE_ID.fetch_add(1, Ordering::Relaxed),
            worker: Cell::new(0),
            group: RefCell::new(Arc::new(Group::single(remote.clone(), shutdown))),
            driver: RefCell::new(driver),
            timers: RefCell::new(Timers::default()),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            registry: RefCell::new(Slab::new()),
            remote,
            pool,
            stats: Cell::new(ExecutorStats::default()),
            releases: RefCell::new(Vec::new()),
            op_budget: Cell::new(OP_BUDGET),
            tasks_polled: Cell::new(0),
        }
    }

    /// The blocking pool this executor shares with the other executors of its `Runtime`.
    pub(crate) fn blocking_pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Unique per executor: ops remember it so they never talk to another executor's driver.
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Takes a polled fd out of the driver (its poll descriptor) and closes it: now, or — while
    /// the driver is in use further up this thread's stack (a completion it delivers dropped the
    /// fd's last handle) — once the driver's turn is over (`finish_releases`), the number kept
    /// open until then so that no new socket can get it while the driver still names it.
    pub(crate) fn release_fd(&self, token: Token, fd: RawFd) {
        match self.driver.try_borrow_mut() {
            Ok(mut driver) => driver.deregister(token, fd),
            Err(_) => return self.releases.borrow_mut().push((token, fd)),
        }
        close_released(fd);
    }

    /// The releases `release_fd` put off, now that the driver is free.
    fn finish_releases(&self) {
        if self.releases.borrow().is_empty() {
            return;
        }
        let releases = std::mem::take(&mut *self.releases.borrow_mut());
        {
            let mut driver = self.driver.borrow_mut();
            for &(token, fd) in &releases {
                driver.deregister(token, fd);
            }
        }
        for (_, fd) in releases {
            close_released(fd);
        }
    }

    /// Sends a wake-up to another executor's ring from this one's, now, if this driver can (an
    /// io_uring with MSG_RING, not busy in a borrow right now).
    pub(crate) fn msg_ring(&self, target: &Arc<Notifier>) -> bool {
        self.driver
            .try_borrow_mut()
            .is_ok_and(|mut driver| driver.msg_ring(target))
    }

    /// Pushes out a MSG_RING wake-up still queued in this executor's SQ; called when a
    /// `block_on` returns, since no later loop turn may come to submit it.
    pub(crate) fn flush(&self) {
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            driver.flush();
        }
    }

    pub(crate) fn worker_id(&self) -> usize {
        self.worker.get()
    }

    pub(crate) fn group(&self) -> Arc<Group> {
        self.group.borrow().clone()
    }

    /// Becomes worker `id` of `group`; returns the previous group, for `leave_group`.
    pub(crate) fn join_group(&self, id: usize, group: Arc<Group>) -> (usize, Arc<Group>) {
        let previous = self.group.replace(group);
        (self.worker.replace(id), previous)
    }

    pub(crate) fn leave_group(&self, (id, group): (usize, Arc<Group>)) {
        self.worker.set(id);
        *self.group.borrow_mut() = group;
    }

    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    pub(crate) fn stats(&self) -> ExecutorStats {
        ExecutorStats {
            remote_wake_writes: self.remote.notifier().wake_writes(),
            cross_core_messages: self.remote.jobs_received.load(Ordering::Relaxed),
            msg_ring_wakes: self.remote.notifier().msg_ring_wakes(),
            tasks_alive: self.registry.borrow().len() as u64,
            tasks_polled: self.tasks_polled.get(),
            ..self.stats.get()
        }
    }

    pub(crate) fn driver_stats(&self) -> DriverStats {
        self.driver.borrow().stats()
    }

    fn bump(&self, f: impl FnOnce(&mut ExecutorStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Registers a new task and queues it for its first poll.
    pub(crate) fn spawn_task(&self, make: impl FnOnce(usize) -> Arc<Task>) -> Arc<Task> {
        let task = {
            let mut registry = self.registry.borrow_mut();
            let entry = registry.vacant_entry();
            let task = make(entry.key());
            entry.insert(task.clone());
            task
        };
        self.run_queue.borrow_mut().push_back(task.clone());
        self.bump(|s| s.tasks_spawned += 1);
        task
    }

    /// True if `task` belongs to this executor.
    #[inline]
    pub(crate) fn owns(&self, task: &Task) -> bool {
        Arc::ptr_eq(task.remote(), &self.remote)
    }

    /// Pushes a task this executor owns on its run queue.
    #[inline]
    pub(crate) fn push_local(&self, task: Arc<Task>) {
        self.run_queue.borrow_mut().push_back(task);
    }

    /// Runs up to `BUDGET` queued tasks.
    pub(crate) fn run_tasks(&self) {
        for _ in 0..BUDGET {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                return;
            };
            self.tasks_polled.set(self.tasks_polled.get() + 1);
            self.reset_op_budget();
            match task.run() {
                RunOutcome::Done => self.unregister(&task),
                RunOutcome::Pending | RunOutcome::Stale => {}
            }
        }
    }

    /// Removes a task whose future was just dropped (finished or aborted) from the registry.
    /// Only that task: the key is checked to still hold it, so no other task can be removed
    /// by a wake of one that is gone.
    fn unregister(&self, task: &Arc<Task>) {
        let removed = {
            let mut registry = self.registry.borrow_mut();
            match registry.get(task.key()) {
                Some(t) if Arc::ptr_eq(t, task) => Some(registry.remove(task.key())),
                _ => None,
            }
        };
        // Dropped outside the borrow (a task's last reference may go here).
        drop(removed);
    }

    /// A new task poll (or main-future poll) gets a full operation budget.
    #[inline]
    pub(crate) fn reset_op_budget(&self) {
        self.op_budget.set(OP_BUDGET);
    }

    /// Takes one operation from the budget of the poll running now; false when it is spent
    /// (the op yields: it wakes its task and returns `Pending` without starting).
    #[inline]
    pub(crate) fn take_op_budget(&self) -> bool {
        let left = self.op_budget.get();
        if left == 0 {
            return false;
        }
        self.op_budget.set(left - 1);
        true
    }

    /// True if a task is queued, so the driver must not block.
    #[inline]
    pub(crate) fn has_ready_tasks(&self) -> bool {
        !self.run_queue.borrow().is_empty()
    }

    /// Moves tasks woken from other threads onto the run queue, and runs the jobs other threads
    /// sent (each typically spawns a task).
    pub(crate) fn drain_remote(&self) {
        let mut q = self.run_queue.borrow_mut();
        let before = q.len();
        if !self.remote.drain(&mut q) {
            return;
        }
        let n = (q.len() - before) as u64;
        drop(q);
        if n > 0 {
            self.bump(|s| s.remote_wakes += n);
        }
        for job in self.remote.take_jobs() {
            job();
        }
    }

    /// One driver park: submit, wait (at most until the nearest timer, not at all if
    /// `no_wait`), reap and wake; then fire due timers. Transient errors are absorbed inside
    /// the driver; an error here means the ring or epoll instance itself is broken, and no task
    /// could make progress: the loop reports it.
    pub(crate) fn park(&self, no_wait: bool) -> std::io::Result<()> {
        let timeout = if no_wait {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        self.bump(|s| s.ticks += 1);
        let parked = self.driver.borrow_mut().park(timeout);
        self.finish_releases();
        parked?;
        let mut timers = self.timers.borrow_mut();
        // The clock is read only if a timer is set.
        if timers.next_deadline().is_some() {
            timers.fire(Instant::now());
        }
        Ok(())
    }

    /// The tasks alive now (held, so that no later task can take one's address).
    pub(crate) fn tasks(&self) -> Vec<Arc<Task>> {
        self.registry
            .borrow()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Drops the future of every task not in `keep` (spawned since `keep` was taken), on this
    /// thread, like shutdown does: their in-flight ops are cancelled and their resources wait
    /// in the driver for their CQEs. Called with this core current.
    pub(crate) fn drop_tasks_except(&self, keep: &[Arc<Task>]) {
        let keep: std::collections::HashSet<*const Task> = keep.iter().map(Arc::as_ptr).collect();
        loop {
            // Dropping a future can spawn; repeat until no new task is left.
            let doomed: Vec<Arc<Task>> = {
                let mut registry = self.registry.borrow_mut();
                let keys: Vec<usize> = registry
                    .iter()
                    .filter(|(_, t)| !keep.contains(&Arc::as_ptr(t)))
                    .map(|(k, _)| k)
                    .collect();
                keys.into_iter().map(|k| registry.remove(k)).collect()
            };
            if doomed.is_empty() {
                return;
            }
            for task in &doomed {
                quietly(|| task.drop_future());
            }
        }
    }

    /// Drops every task's future (on this thread), then lets the driver cancel and drain what is
    /// still in flight. Called by `Runtime::drop` with this core current.
    ///
    /// A destructor that panics (a task's future, a queued job) does not stop the shutdown: the
    /// panic is caught (the panic hook has already reported it) and the other tasks are still
    /// dropped here, on their thread, and the driver's shutdown still runs — the driver owns
    /// buffers the kernel may still write, and only its cancel-and-wait may release them.
    pub(crate) fn shutdown(&self) {
        quietly(|| self.remote.close());
        loop {
            // Dropping a future can spawn or wake; repeat until the registry stays empty.
            let tasks: Vec<Arc<Task>> = self.registry.borrow_mut().drain().collect();
            if tasks.is_empty() {
                break;
            }
            crate::trace::event!(
                debug,
                "runtime shutdown: dropping {} unfinished tasks",
                tasks.len()
            );
            for task in &tasks {
                quietly(|| task.drop_future());
            }
        }
        quietly(|| self.run_queue.borrow_mut().clear());
        quietly(|| self.timers.borrow_mut().clear());
        self.finish_releases();
        self.driver.borrow_mut().shutdown();
        // What the driver's shutdown completed may have released fds.
        self.finish_releases();
    }
}

/// Closes a released fd. No error to report: its last handle was dropped (see
/// `FdInner::release`).
fn close_released(fd: RawFd) {
    if fd >= 0 {
        let _ = crate::sys::close(fd);
    }
}

/// Runs `f`, catching a panic (and a panic while dropping its payload).
fn quietly(f: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)))
        {
            std::mem::forget(again);
        }
    }
}
