//! The runtime: one single-threaded executor and its driver, `block_on`, `spawn`, and the
//! builder that chooses the driver.

pub(crate) mod context;
pub(crate) mod executor;
pub(crate) mod remote;

pub(crate) mod workers;

#[cfg(test)]
mod tests;

use self::executor::Core;
pub use self::executor::ExecutorStats;
use self::remote::MainWaker;
pub use self::workers::{
    metrics, request_shutdown, serve_balanced, shutdown_requested, spawn_on, worker_count,
    worker_id, RemoteJoinHandle, RunResults, ShutdownHandle, ShutdownRequested, WorkerMetrics,
};
use crate::driver::{self, DriverChoice, DriverInfo, DriverStats};
use crate::task::{JoinHandle, Runner, Task};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use corio::{DriverChoice, Runtime};
/// let rt = Runtime::builder().driver(DriverChoice::Auto).ring_entries(256).build().unwrap();
/// println!("running on {:?}", rt.driver_info().kind);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) driver: Option<DriverChoice>,
    pub(crate) ring_entries: u32,
    pub(crate) workers: usize,
    pub(crate) pin_cores: bool,
    pub(crate) handle_signals: bool,
    pub(crate) grace: Duration,
}

/// The kernel's IORING_MAX_ENTRIES.
const MAX_RING_ENTRIES: u32 = 32768;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            driver: None,
            ring_entries: 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cores: true,
            handle_signals: false,
            grace: Duration::from_secs(5),
        }
    }
}

impl Builder {
    /// Chooses the driver. Without this call, `CORIO_DRIVER=auto|uring|epoll` decides, and
    /// `auto` when it is unset.
    pub fn driver(&mut self, driver: DriverChoice) -> &mut Self {
        self.driver = Some(driver);
        self
    }

    /// Submission queue size of the io_uring (the completion queue is twice as big), from 1
    /// to 32768 (the kernel's limit; it rounds up to a power of two). `build` rejects other
    /// values with `InvalidInput`. Default 1024.
    pub fn ring_entries(&mut self, entries: u32) -> &mut Self {
        self.ring_entries = entries;
        self
    }

    /// Number of workers [`Runtime::run`] starts, each a thread with its own executor and
    /// driver (this thread is worker 0). Default: the number of CPUs this process may use.
    /// `block_on` always runs on this thread alone.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// Pin worker `i` to the `i`-th CPU this process may use (cycling if there are more
    /// workers than CPUs) during [`Runtime::run`]. Default: true.
    pub fn pin_cores(&mut self, pin: bool) -> &mut Self {
        self.pin_cores = pin;
        self
    }

    /// Deliver SIGINT and SIGTERM to the runtime during [`Runtime::run`]: they are blocked in
    /// the workers and read from a signalfd through worker 0's driver (no signal handler), and
    /// start the graceful shutdown (see [`shutdown_requested`](crate::shutdown_requested)).
    /// Default: off (the process keeps its own signal dispositions).
    pub fn handle_signals(&mut self, on: bool) -> &mut Self {
        self.handle_signals = on;
        self
    }

    /// How long workers may keep running after the shutdown starts before they are stopped
    /// and their remaining tasks dropped. Default: 5 s.
    pub fn grace_period(&mut self, grace: Duration) -> &mut Self {
        self.grace = grace;
        self
    }

    /// Builds the runtime. Fails if the requested driver cannot be set up; see [`DriverChoice`] for
    /// when `Auto` falls back to epoll and when it reports an error instead.
    pub fn build(&self) -> io::Result<Runtime> {
        if !(1..=MAX_RING_ENTRIES).contains(&self.ring_entries) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ring_entries({}): expected 1..={MAX_RING_ENTRIES}",
                    self.ring_entries
                ),
            ));
        }
        let (backend, remote, info) = driver::open(self)?;
        let shutdown = workers::ShutdownState::new(self.grace);
        Ok(Runtime {
            core: Rc::new(Core::new(backend, remote, shutdown.clone())),
            info,
            config: self.clone(),
            shutdown,
            last_run: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// A single-threaded executor owning one io_uring (or one epoll instance).
///
/// Dropping the runtime drops every task, cancels every operation still in flight and waits
/// (bounded) for the kernel to let go of their buffers before freeing them.
pub struct Runtime {
    core: Rc<Core>,
    info: DriverInfo,
    config: Builder,
    shutdown: Arc<workers::ShutdownState>,
    /// Every worker's counters as the last `run` ended.
    last_run: std::sync::Mutex<Vec<WorkerMetrics>>,
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

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    ///
    /// Panics if called from within a runtime on the same thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let never = AtomicBool::new(false);
        self.block_on_until(future, &never)
            .expect("block_on without a stop flag runs to completion")
    }

    /// `block_on` that gives up (returns `None`) once `stop` is set and the executor is
    /// notified.
    pub(crate) fn block_on_until<F: Future>(
        &self,
        future: F,
        stop: &AtomicBool,
    ) -> Option<F::Output> {
        let _enter = context::enter(&self.core);
        // On every way out (output, stop, panic): wake-ups this loop owes other executors
        // leave now.
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
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return Some(out);
                }
                self.core.submit_wakes_if_busy();
            }
            if stop.load(Ordering::Acquire) {
                return None;
            }
            self.core.run_tasks();
            self.core.drain_remote();
            // Checked again right before parking: a stop set while tasks ran may have been
            // announced by a notification that coalesced with one already spent.
            if stop.load(Ordering::Acquire) {
                return None;
            }
            let busy = self.core.has_ready_tasks() || main.woken.load(Ordering::Acquire);
            self.core.park(busy);
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
