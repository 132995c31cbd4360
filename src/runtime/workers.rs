//! Thread-per-core: a group of workers, each a thread with its own executor and its own ring
//! (or epoll), sharing nothing on the hot path.
//!
//! What crosses workers goes through each executor's `Remote`: a woken task, or a job (a boxed
//! closure run on the target's thread, which spawns a local task). Both interrupt the target's
//! wait with one eventfd write per batch. Shutdown is a flag and a list of wakers shared by the
//! group; metrics are snapshots a worker takes of itself when asked.

use super::remote::{Job, Remote};
use super::{context, spawn, Builder, Runtime};
use crate::driver::DriverStats;
use crate::fd::SharedFd;
use crate::net::{TcpListener, TcpStream};
use crate::runtime::ExecutorStats;
use crate::sync::oneshot;
use crate::task::JoinError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// What the workers of one `run` share.
pub(crate) struct Group {
    pub(crate) remotes: Vec<Arc<Remote>>,
    /// Connections handed to each worker by `serve_balanced` and still open.
    active: Vec<AtomicUsize>,
    pub(crate) shutdown: Arc<ShutdownState>,
}

impl Group {
    pub(crate) fn single(remote: Arc<Remote>, shutdown: Arc<ShutdownState>) -> Group {
        Group {
            remotes: vec![remote],
            active: vec![AtomicUsize::new(0)],
            shutdown,
        }
    }

    fn new(remotes: Vec<Arc<Remote>>, shutdown: Arc<ShutdownState>) -> Group {
        let active = remotes.iter().map(|_| AtomicUsize::new(0)).collect();
        Group {
            remotes,
            active,
            shutdown,
        }
    }
}

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
    fn begin_run(self: &Arc<Self>, remotes: Vec<Arc<Remote>>) {
        self.set_remotes(remotes);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.forced.store(false, Ordering::Release);
        if self.is_requested() {
            self.arm_grace();
        }
    }

    /// A `run` ended: the next one starts with a fresh shutdown, and a grace timer still
    /// pending from this one will not touch it.
    fn reset(&self) {
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

/// Completes when the shutdown of this runtime's workers has started (a signal when the
/// runtime handles signals, a [`ShutdownHandle`], or [`request_shutdown`]). Servers stop
/// accepting when it completes, then finish their in-flight work within the grace period.
///
/// Panics if polled outside a runtime.
pub fn shutdown_requested() -> ShutdownRequested {
    ShutdownRequested { _p: () }
}

/// The future returned by [`shutdown_requested`].
pub struct ShutdownRequested {
    _p: (),
}

impl Future for ShutdownRequested {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = context::with_core(|core| core.group().shutdown.clone());
        if state.is_requested() {
            return Poll::Ready(());
        }
        let mut waiters = state.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Re-check under the lock: `request` takes the waiters after setting the flag.
        if state.is_requested() {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Starts the shutdown of the current runtime's workers (see [`shutdown_requested`]).
pub fn request_shutdown() {
    context::with_core(|core| core.group().shutdown.clone()).request();
}

/// This worker's index, from 0 (0 outside [`Runtime::run`]).
pub fn worker_id() -> usize {
    context::with_core(|core| core.worker_id())
}

/// The number of workers in the current runtime (1 outside [`Runtime::run`]).
pub fn worker_count() -> usize {
    context::with_core(|core| core.group().remotes.len())
}

/// Spawns `future` on worker `worker` and returns a handle to its output. The future is moved
/// to that worker's thread, so it must be `Send`; it then runs there like any local task. A
/// worker runs only while its own `run` future has not returned: keep it alive (e.g. until
/// [`shutdown_requested`]) if other workers send it work; otherwise the handle reports
/// `JoinError::Cancelled`.
///
/// Panics if `worker` is not a worker of the current runtime, or outside a runtime.
///
/// ```
/// let rt = corio::Runtime::builder().workers(2).pin_cores(false).build().unwrap();
/// let out = rt
///     .run(|id| async move {
///         if id == 0 {
///             let other = corio::spawn_on(1, async { corio::worker_id() }).await.unwrap();
///             corio::request_shutdown();
///             other
///         } else {
///             // Keep serving (here: jobs from worker 0) until the shutdown.
///             corio::shutdown_requested().await;
///             id
///         }
///     })
///     .unwrap();
/// assert_eq!(out[0].as_ref().ok(), Some(&1));
/// ```
pub fn spawn_on<F>(worker: usize, future: F) -> RemoteJoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let remote = context::with_core(|core| {
        let group = core.group();
        assert!(
            worker < group.remotes.len(),
            "spawn_on({worker}): this runtime has {} workers",
            group.remotes.len()
        );
        group.remotes[worker].clone()
    });
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        let handle = spawn(future);
        spawn(async move {
            let _ = tx.send(handle.await);
        });
    });
    // A worker that is gone drops the job, and with it `tx`: the handle reports Cancelled.
    let _ = remote.push_job(job);
    RemoteJoinHandle { rx }
}

/// The output of a task spawned with [`spawn_on`]; `JoinError::Cancelled` if the worker shut
/// down before it finished.
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(JoinError::Cancelled)))
    }
}

/// One worker's counters, with the same names on both drivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// The worker's index.
    pub worker: usize,
    /// Tasks, polls, loop turns, cross-thread wakes and cross-core messages.
    pub executor: ExecutorStats,
    /// Submissions, enters, completions per enter, epoll waits and events, in-flight ops,
    /// SQ-full and CQ-overflow events, cancellations.
    pub driver: DriverStats,
    /// Connections handed to this worker by `serve_balanced` and still open.
    pub balanced_connections: u64,
}

fn snapshot() -> WorkerMetrics {
    context::with_core(snapshot_of)
}

fn snapshot_of(core: &super::executor::Core) -> WorkerMetrics {
    let group = core.group();
    WorkerMetrics {
        worker: core.worker_id(),
        executor: core.stats(),
        driver: core.driver_stats(),
        balanced_connections: group
            .active
            .get(core.worker_id())
            .map_or(0, |a| a.load(Ordering::Relaxed) as u64),
    }
}

/// A snapshot of every worker's counters, taken by each worker on its own thread (so the hot
/// path keeps plain, unshared counters). A worker that has stopped reports zeros.
pub async fn metrics() -> Vec<WorkerMetrics> {
    let handles: Vec<_> = (0..worker_count()).map(|w| spawn_on(w, Snapshot)).collect();
    let mut out = Vec::with_capacity(handles.len());
    for (w, h) in handles.into_iter().enumerate() {
        out.push(h.await.unwrap_or(WorkerMetrics {
            worker: w,
            ..Default::default()
        }));
    }
    out
}

/// A future that takes the current worker's snapshot when polled.
struct Snapshot;

impl Future for Snapshot {
    type Output = WorkerMetrics;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<WorkerMetrics> {
        Poll::Ready(snapshot())
    }
}

/// Accepts on `listener` (on this worker) and hands each connection to the worker with the
/// fewest active connections, where `handler` serves it. SO_REUSEPORT hashing spreads
/// connections by count, blind to their weight; this spreads by what is still open. The
/// connection crosses workers through the target's cross-core queue; the wake-up is one
/// IORING_OP_MSG_RING per batch between io_uring workers, else one eventfd write. Returns when
/// the shutdown starts, or on an accept error.
pub async fn serve_balanced<H, Fut>(listener: TcpListener, handler: H) -> io::Result<()>
where
    H: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handler = Arc::new(handler);
    let group = context::with_core(|core| core.group());
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stop = std::pin::pin!(shutdown_requested());
            match select(accept, stop).await {
                Either::Left(res) => res?,
                Either::Right(()) => return Ok(()),
            }
        };
        let (stream, _) = accepted;
        let target = (0..group.remotes.len())
            .min_by_key(|&w| group.active[w].load(Ordering::Relaxed))
            .unwrap_or(0);
        group.active[target].fetch_add(1, Ordering::Relaxed);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(_) => {
                group.active[target].fetch_sub(1, Ordering::Relaxed);
                continue;
            }
        };
        let handler = handler.clone();
        let g = group.clone();
        let job: Job = Box::new(move || {
            let done = ActiveGuard {
                group: g,
                worker: target,
            };
            match TcpStream::from_std(std_stream) {
                Ok(stream) => {
                    let fut = handler(stream);
                    spawn(async move {
                        let _done = done;
                        fut.await
                    });
                }
                Err(_) => drop(done),
            }
        });
        if let Err(job) = group.remotes[target].push_job(job) {
            // The target is gone: its guard runs when the job is dropped.
            drop(job);
        }
    }
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The first of two futures to finish (the left one is polled first).
async fn select<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
) -> Either<A::Output, B::Output> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Decrements a worker's active-connection count when the connection's task ends.
struct ActiveGuard {
    group: Arc<Group>,
    worker: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.group.active[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Per-worker results of [`Runtime::run`].
pub type RunResults<T> = Vec<Result<T, JoinError>>;

pub(crate) fn cpu_list() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return vec![];
    }
    // SAFETY: CPU_ISSET reads the set we own.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

fn get_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: as in `cpu_list`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: applies a valid set to the calling thread only.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
}

fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE (it comes from `cpu_list`).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set);
}

/// SIGINT and SIGTERM, blocked in the calling thread (and so in the workers it spawns) and read
/// from a signalfd through worker 0's driver.
struct Signals {
    old_mask: libc::sigset_t,
    fd: std::os::fd::OwnedFd,
}

impl Signals {
    fn block() -> io::Result<Signals> {
        use std::os::fd::FromRawFd;
        // SAFETY: sigset_t is plain data, initialised by sigemptyset.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid sets; pthread_sigmask changes this thread's mask only.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        }
        // SAFETY: signalfd with a valid set; the fd is owned right below.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: restores the mask saved above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            return Err(e);
        }
        Ok(Signals {
            old_mask: old,
            // SAFETY: signalfd just returned this fd and nothing else owns it.
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block`, for this thread only.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
    }
}

/// Worker 0's task: waits for SIGINT or SIGTERM on the signalfd, then starts the shutdown.
async fn watch_signals(fd: std::os::fd::OwnedFd) {
    let Ok(fd) = SharedFd::new(fd) else { return };
    loop {
        let buf = Vec::with_capacity(std::mem::size_of::<libc::signalfd_siginfo>());
        let (res, _) = crate::op::read::read(&fd, buf, None).await;
        match res {
            Ok(_) => {
                request_shutdown();
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

impl Runtime {
    /// Runs `f(worker_id)` on every worker and returns each worker's output, in worker order.
    ///
    /// This thread is worker 0 (this runtime's executor); workers 1.. are threads started here,
    /// each with its own executor and driver, pinned to its own core when the builder asks for
    /// it (the default). Returns when every worker's future has finished — or, once a shutdown
    /// has started, at most the grace period later: the workers still running are then stopped
    /// and their tasks dropped (their in-flight operations are cancelled as usual), and their
    /// results are `JoinError::Cancelled`. A worker whose future panics gives
    /// `JoinError::Panic`.
    ///
    /// Fails if a worker's driver cannot be set up, or if signals are requested and the
    /// signalfd cannot be made.
    pub fn run<F, Fut>(&self, f: F) -> io::Result<RunResults<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let n = self.config.workers.max(1);
        let cpus = cpu_list();
        let pin = self.config.pin_cores && !cpus.is_empty();
        let signals = if self.config.handle_signals {
            Some(Signals::block()?)
        } else {
            None
        };
        // Everything that can fail is done before any worker starts.
        let signal_fd = match &signals {
            Some(s) => Some(s.fd.try_clone()?),
            None => None,
        };
        let f = Arc::new(f);
        let finals: Arc<Mutex<Vec<WorkerMetrics>>> = Arc::new(Mutex::new(
            (0..n)
                .map(|worker| WorkerMetrics {
                    worker,
                    ..Default::default()
                })
                .collect(),
        ));
        let (remote_tx, remote_rx) = std::sync::mpsc::channel();
        let mut group_txs = Vec::new();
        let mut threads = Vec::new();
        for id in 1..n {
            let (group_tx, group_rx) = std::sync::mpsc::channel::<Option<Arc<Group>>>();
            group_txs.push(group_tx);
            let builder: Builder = self.config.clone();
            let remote_tx = remote_tx.clone();
            let f = f.clone();
            let finals = finals.clone();
            let cpu = pin.then(|| cpus[id % cpus.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("corio-worker-{id}"))
                .spawn(move || -> Option<Result<Fut::Output, JoinError>> {
                    if let Some(cpu) = cpu {
                        pin_to(cpu);
                    }
                    let rt = match builder.build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = remote_tx.send((id, Err(e)));
                            return None;
                        }
                    };
                    let _ = remote_tx.send((id, Ok(rt.core.remote().clone())));
                    let group = group_rx.recv().ok().flatten()?;
                    rt.core.join_group(id, group.clone());
                    let out = rt.block_on_worker(&f, id, &group);
                    finals.lock().unwrap_or_else(|e| e.into_inner())[id] = snapshot_of(&rt.core);
                    Some(out)
                })?;
            threads.push(thread);
        }
        drop(remote_tx);
        let mut remotes: Vec<Option<Arc<Remote>>> = vec![None; n];
        remotes[0] = Some(self.core.remote().clone());
        let mut failure = None;
        for (id, res) in remote_rx.iter().take(n - 1) {
            match res {
                Ok(r) => remotes[id] = Some(r),
                Err(e) => failure = Some(e),
            }
        }
        if failure.is_none() && remotes.iter().any(Option::is_none) {
            failure = Some(io::Error::other("a worker thread exited during setup"));
        }
        if let Some(e) = failure {
            for tx in &group_txs {
                let _ = tx.send(None);
            }
            for t in threads {
                let _ = t.join();
            }
            return Err(e);
        }
        let remotes: Vec<Arc<Remote>> = remotes.into_iter().flatten().collect();
        self.shutdown.begin_run(remotes.clone());
        let group = Arc::new(Group::new(remotes, self.shutdown.clone()));
        for tx in &group_txs {
            let _ = tx.send(Some(group.clone()));
        }
        let old_affinity = pin.then(get_affinity).flatten();
        if pin {
            pin_to(cpus[0]);
        }
        let previous = self.core.join_group(0, group.clone());
        // What worker 0 spawns during the run (the signal watcher too) ends with it, as the
        // other workers' tasks end with their threads.
        let before_run = self.core.tasks();
        if let Some(fd) = signal_fd {
            self.block_on(async move {
                spawn(watch_signals(fd));
            });
        }
        let first = self.block_on_worker(&f, 0, &group);
        {
            let _enter = context::enter(&self.core);
            self.core.drop_tasks_except(&before_run);
        }
        drop(before_run);
        finals.lock().unwrap_or_else(|e| e.into_inner())[0] = snapshot_of(&self.core);
        let mut results = vec![first];
        for t in threads {
            results.push(match t.join() {
                Ok(Some(r)) => r,
                Ok(None) => Err(JoinError::Cancelled),
                Err(payload) => Err(JoinError::Panic(payload)),
            });
        }
        self.core.leave_group(previous);
        self.shutdown.reset();
        *self.last_run.lock().unwrap_or_else(|e| e.into_inner()) =
            std::mem::take(&mut *finals.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(set) = old_affinity {
            set_affinity(&set);
        }
        drop(signals);
        Ok(results)
    }

    /// Runs worker `id`'s future until it finishes, or until a forced shutdown.
    fn block_on_worker<F, Fut>(
        &self,
        f: &Arc<F>,
        id: usize,
        group: &Arc<Group>,
    ) -> Result<Fut::Output, JoinError>
    where
        F: Fn(usize) -> Fut,
        Fut: Future,
    {
        let forced = &group.shutdown.forced;
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.block_on_until(f(id), forced)
        }));
        match res {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(JoinError::Cancelled),
            Err(payload) => Err(JoinError::Panic(payload)),
        }
    }

    /// A handle that starts this runtime's graceful shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shutdown.clone())
    }

    /// A snapshot per worker: after [`run`](Self::run), each worker's counters as it ended
    /// (worker 0's are current); before any `run`, just this executor's. During `run`, use
    /// [`metrics`] from inside a worker.
    pub fn metrics(&self) -> Vec<WorkerMetrics> {
        let mut out = self
            .last_run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = snapshot_of(&self.core);
        match out.first_mut() {
            Some(first) => *first = now,
            None => out.push(now),
        }
        out
    }
}
