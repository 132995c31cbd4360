//! [`JoinSet`]: a set of spawned tasks, awaited in the order they finish.
//!
//! Each task's handle is polled with a waker of its own that puts the task's key on the set's
//! ready list, so `join_next` polls only the tasks that finished (or were just added), not the
//! whole set. Dropping the set aborts every task still in it.

use super::{JoinError, JoinHandle};
use slab::Slab;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Spawned tasks, joined as they finish; see the [module docs](self).
///
/// ```
/// use corio::task::JoinSet;
///
/// corio::block_on(async {
///     let mut set = JoinSet::new();
///     for i in 0..3u64 {
///         set.spawn(async move {
///             corio::time::sleep(std::time::Duration::from_millis(3 - i)).await;
///             i
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(res) = set.join_next().await {
///         order.push(res.unwrap());
///     }
///     order.sort();
///     assert_eq!(order, [0, 1, 2]);
/// });
/// ```
pub struct JoinSet<T> {
    tasks: Slab<(JoinHandle<T>, Waker)>,
    ready: Arc<Ready>,
}

/// Keys of tasks to poll, and the waker of the `join_next` waiting for one.
#[derive(Default)]
struct Ready {
    keys: Mutex<Vec<usize>>,
    waiter: Mutex<Option<Waker>>,
}

/// The waker a task's handle is polled with: marks the task ready, wakes the set's waiter.
struct EntryWaker {
    key: usize,
    ready: Arc<Ready>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        crate::sync::lock(&self.ready.keys).push(self.key);
        let waiter = crate::sync::lock(&self.ready.waiter).take();
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet {
            tasks: Slab::new(),
            ready: Arc::default(),
        }
    }

    /// Spawns `future` on the current executor (like [`corio::spawn`](crate::spawn)) into the
    /// set. Panics outside a runtime.
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        let handle = crate::spawn(future);
        let entry = self.tasks.vacant_entry();
        let key = entry.key();
        let waker = Waker::from(Arc::new(EntryWaker {
            key,
            ready: self.ready.clone(),
        }));
        entry.insert((handle, waker));
        // Polled once by the next join_next, which registers its waker.
        crate::sync::lock(&self.ready.keys).push(key);
    }

    /// How many tasks are in the set (running, or finished and not yet joined).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for the next task to finish and returns its output; `None` when the set is
    /// empty. Cancel-safe: a dropped call loses no output.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The output of a task that has finished, if any, without waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let waker = Waker::noop();
        match self.poll_join_next(&mut Context::from_waker(waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }

    /// The poll form of [`join_next`](Self::join_next).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        // Register first, so a wake between the drain below and our return is not lost.
        *crate::sync::lock(&self.ready.waiter) = Some(cx.waker().clone());
        loop {
            let keys = std::mem::take(&mut *crate::sync::lock(&self.ready.keys));
            if keys.is_empty() {
                return Poll::Pending;
            }
            let mut found = None;
            for (i, key) in keys.iter().enumerate() {
                // A key may be stale (its task joined, the key reused): polling the task now
                // there is harmless.
                let Some((handle, waker)) = self.tasks.get_mut(*key) else {
                    continue;
                };
                let mut tcx = Context::from_waker(waker);
                if let Poll::Ready(out) = Pin::new(handle).poll(&mut tcx) {
                    self.tasks.remove(*key);
                    found = Some((i, out));
                    break;
                }
            }
            if let Some((i, out)) = found {
                // The keys after it were not looked at: keep them for the next call.
                crate::sync::lock(&self.ready.keys).extend_from_slice(&keys[i + 1..]);
                return Poll::Ready(Some(out));
            }
        }
    }

    /// Aborts every task in the set; their outputs (`JoinError::Cancelled` unless they had
    /// finished) stay to be joined.
    pub fn abort_all(&mut self) {
        for (_, (handle, _)) in &self.tasks {
            handle.abort();
        }
    }

    /// Aborts every task and waits until all have ended; the set is then empty.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task without aborting it (they run on, detached).
    pub fn detach_all(&mut self) {
        self.tasks.clear();
        crate::sync::lock(&self.ready.keys).clear();
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        for (_, (handle, _)) in &self.tasks {
            handle.abort();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.tasks.len())
            .finish()
    }
}
