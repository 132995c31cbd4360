//! Per-worker counters, snapshotted by each worker on its own thread.

use super::context;
use super::executor::{Core, ExecutorStats};
use super::worker::{spawn_on, worker_count};
use crate::driver::DriverStats;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// One worker's counters, with the same names on both drivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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

pub(crate) fn snapshot_of(core: &Core) -> WorkerMetrics {
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

impl super::Runtime {
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
