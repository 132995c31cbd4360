//! The runtime: one single-threaded executor and its driver, `block_on`, `spawn`, and what the
//! executors of one `run` share (their group, the shutdown, `spawn_on`, metrics).
//!
//! This layer knows the driver's face (`crate::driver::Driver`), never its parts; the
//! thread-per-core entry point `Runtime::run` lives above the I/O layers, in `crate::workers`.

mod builder;
pub(crate) mod context;
pub(crate) mod executor;
pub(crate) mod group;
pub(crate) mod metrics;
pub(crate) mod remote;
pub(crate) mod shutdown;
pub(crate) mod task;
pub(crate) mod timers;
pub(crate) mod worker;

#[cfg(test)]
mod tests;

pub use self::builder::Builder;
use self::executor::Core;
pub use self::executor::ExecutorStats;
pub use self::metrics::{metrics, WorkerMetrics};
use self::remote::MainWaker;
pub use self::shutdown::ShutdownHandle;
pub use self::worker::{
    request_shutdown, shutdown_requested, spawn_on, worker_count, worker_id, RemoteJoinHandle,
    ShutdownRequested,
};
use crate::driver::{DriverInfo, DriverStats};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use task::{JoinHandle, Runner, Task};

/// A single-threaded executor owning one io_uring (or one epoll instance).
///
/// Dropping the runtime drops every task, cancels every operation still in flight and waits
/// (bounded) for the kernel to let go of their buffers before freeing them.
pub struct Runtime {
    pub(crate) core: Rc<Core>,
    info: DriverInfo,
    pub(crate) config: Builder,
    pub(crate) shutdown: Arc<shutdown::ShutdownState>,
    /// Every worker's counters as the last `run` ended.
    pub(crate) last_run: std::sync::Mutex<Vec<WorkerMetrics>>,
}

impl Runtime {
    /// A runtime with default settings (`Builder::default().build()`).
    pub fn new() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// A builder to configure the runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Which driver this runtime got, why, and with which ring setup flags.
    pub fn driver_info(&self) -> &DriverInfo {
        &self.info
    }

    /// The driver's counters (submissions, enters, completions, epoll waits...).
    pub fn driver_stats(&self) -> DriverStats {
        self.core.driver_stats()
    }

    /// The executor's counters.
    pub fn stats(&self) -> ExecutorStats {
        self.core.stats()
    }

    /// The blocking pool's counters (threads, queue, jobs). The pool is shared by every worker
    /// of [`run`](Self::run), so these count theirs too.
    pub fn blocking_stats(&self) -> crate::BlockingStats {
        self.core.blocking_pool().stats()
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    ///
    /// Panics if called from within a runtime on the same thread, and if the driver itself
    /// fails (the ring or the epoll instance is broken, so no task could make progress): use
    /// [`try_block_on`](Self::try_block_on) to get that error instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.try_block_on(future)
            .unwrap_or_else(|e| panic!("corio: the I/O driver failed: {e}"))
    }

    /// [`block_on`](Self::block_on) that reports a failure of the driver itself as an error
    /// (transient errors — EINTR, a full CQ — are handled inside the driver and never reach
    /// here). The runtime is unusable after such an error.
    pub fn try_block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        let never = AtomicBool::new(false);
        self.block_on_until(future, &never)
            .map(|out| out.expect("block_on without a stop flag runs to completion"))
    }

    /// `block_on` that gives up (returns `Ok(None)`) once `stop` is set and the executor is
    /// notified.
    pub(crate) fn block_on_until<F: Future>(
        &self,
        future: F,
        stop: &AtomicBool,
    ) -> io::Result<Option<F::Output>> {
        let _enter = context::enter(&self.core);
        // On every way out (output, stop, error, panic): wake-ups this loop owes other
        // executors leave now.
        let _flush = FlushOnExit(&self.core);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            remote: self.core.remote().clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                self.core.reset_op_budget();
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return Ok(Some(out));
                }
            }
            if stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            self.core.run_tasks();
            self.core.drain_remote();
            // Checked again right before parking: a stop set while tasks ran may have been
            // announced by a notification that coalesced with one already spent.
            if stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            let busy = self.core.has_ready_tasks() || main.woken.load(Ordering::Acquire);
            self.core.park(busy)?;
        }
    }
}

/// Submits what a finished `block_on` left queued for other executors (see `Core::flush`).
struct FlushOnExit<'a>(&'a Core);

impl Drop for FlushOnExit<'_> {
    fn drop(&mut self) {
        self.0.flush();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _enter = context::enter_for_shutdown(&self.core);
        self.core.shutdown();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.info)
            .finish()
    }
}

/// Runs `future` on a new default runtime and returns its output.
///
/// Panics if the runtime cannot be built (use [`Runtime::builder`] to handle that error).
///
/// ```
/// let v = corio::block_on(async { 7 });
/// assert_eq!(v, 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("corio: cannot build a runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task on the current thread's executor. The future need not be `Send`.
///
/// Panics if called outside a runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with_core(|core| {
        let (runner, state) = Runner::new(future);
        let remote = core.remote().clone();
        let task = core.spawn_task(|key| Task::new(remote, key, Box::pin(runner)));
        JoinHandle::new(state, task)
    })
}

/// Counters of the current thread's runtime, for code that has no `&Runtime` at hand.
///
/// Panics if called outside a runtime.
pub fn current_driver_stats() -> DriverStats {
    context::with_core(|core| core.driver_stats())
}

/// The current executor's counters (see [`Runtime::stats`]).
///
/// Panics if called outside a runtime.
pub fn current_stats() -> ExecutorStats {
    context::with_core(|core| core.stats())
}
