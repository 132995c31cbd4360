//! A task's view of its worker: its place in the group, work sent to other workers
//! ([`spawn_on`]), and the group's shutdown ([`shutdown_requested`], [`request_shutdown`]).

use super::context;
use super::remote::Job;
use super::spawn;
use crate::sync::oneshot;
use crate::task::JoinError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// This worker's index, from 0 (0 outside [`Runtime::run`](crate::Runtime::run)).
pub fn worker_id() -> usize {
    context::with_core(|core| core.worker_id())
}

/// The number of workers in the current runtime (1 outside [`Runtime::run`](crate::Runtime::run)).
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
        context::with_core(|core| core.group().shutdown.clone()).poll_requested(cx)
    }
}

/// Starts the shutdown of the current runtime's workers (see [`shutdown_requested`]).
pub fn request_shutdown() {
    context::with_core(|core| core.group().shutdown.clone()).request();
}
