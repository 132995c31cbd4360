//! `Runtime::run`: one executor per worker thread, this thread being worker 0.

use super::affinity::{cpu_list, get_affinity, pin_to, set_affinity};
use super::signals::{watch_signals, Signals};
use crate::runtime::context;
use crate::runtime::group::Group;
use crate::runtime::metrics::{snapshot_of, WorkerMetrics};
use crate::runtime::remote::Remote;
use crate::runtime::{spawn, Builder, Runtime};
use crate::task::JoinError;
use std::future::Future;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Per-worker results of [`Runtime::run`].
pub type RunResults<T> = Vec<Result<T, JoinError>>;

/// How one worker ended: its result, or the error of its driver (the ring or epoll instance
/// broke, so it could not go on).
type Outcome<T> = io::Result<Result<T, JoinError>>;

/// Every worker's counters as it ended.
type Finals = Arc<Mutex<Vec<WorkerMetrics>>>;

/// The threads of workers 1.., started and set up, waiting for their group.
struct Started<T> {
    threads: Vec<JoinHandle<Option<Outcome<T>>>>,
    group_txs: Vec<Sender<Option<Arc<Group>>>>,
    remotes: Vec<Arc<Remote>>,
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
    /// `JoinError::Panic`. Tasks worker 0 spawned during the run end with it.
    ///
    /// Fails if a worker's driver cannot be set up, if signals are requested and the signalfd
    /// cannot be made, or if a worker's driver fails while running (the other workers are then
    /// stopped as at the end of a grace period).
    pub fn run<F, Fut>(&self, f: F) -> io::Result<RunResults<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let n = self.config.workers.max(1);
        let cpus = cpu_list();
        let pin = self.config.pin_cores && !cpus.is_empty();
        let signals = self
            .config
            .handle_signals
            .then(Signals::block)
            .transpose()?;
        // Everything that can fail is done before any worker starts.
        let signal_fd = signals.as_ref().map(|s| s.fd.try_clone()).transpose()?;
        let f = Arc::new(f);
        let finals: Finals = Arc::new(Mutex::new(
            (0..n)
                .map(|worker| WorkerMetrics {
                    worker,
                    ..Default::default()
                })
                .collect(),
        ));
        let started = self.start_workers(n, pin.then_some(&cpus[..]), &f, &finals)?;
        self.shutdown.begin_run(started.remotes.clone());
        let group = Arc::new(Group::new(started.remotes, self.shutdown.clone()));
        for tx in &started.group_txs {
            let _ = tx.send(Some(group.clone()));
        }
        let old_affinity = pin.then(get_affinity).flatten();
        if pin {
            pin_to(cpus[0]);
        }
        let first = self.run_worker_0(&f, &group, signal_fd);
        finals.lock().unwrap_or_else(|e| e.into_inner())[0] = snapshot_of(&self.core);
        if first.is_err() {
            self.shutdown.force();
        }
        let outcomes = join(first, started.threads);
        self.shutdown.reset();
        *self.last_run.lock().unwrap_or_else(|e| e.into_inner()) =
            std::mem::take(&mut *finals.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(set) = old_affinity {
            set_affinity(&set);
        }
        drop(signals);
        outcomes.into_iter().collect()
    }

    /// Starts workers 1.. and waits until each has built its runtime; on any failure, stops
    /// the ones that started and returns the error.
    fn start_workers<F, Fut>(
        &self,
        n: usize,
        cpus: Option<&[usize]>,
        f: &Arc<F>,
        finals: &Finals,
    ) -> io::Result<Started<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (remote_tx, remote_rx) = channel();
        let mut started = Started {
            threads: Vec::new(),
            group_txs: Vec::new(),
            remotes: vec![self.core.remote().clone()],
        };
        for id in 1..n {
            let (group_tx, group_rx) = channel();
            started.group_txs.push(group_tx);
            let mut builder = self.config.clone();
            // One blocking pool per Runtime: the workers share this one's.
            builder.shared_pool = Some(self.core.blocking_pool().clone());
            let (builder, remote_tx, f, finals) =
                (builder, remote_tx.clone(), f.clone(), finals.clone());
            let cpu = cpus.map(|c| c[id % c.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("corio-worker-{id}"))
                .spawn(move || worker(id, builder, cpu, &f, &finals, remote_tx, group_rx))?;
            started.threads.push(thread);
        }
        drop(remote_tx);
        let mut remotes: Vec<Option<Arc<Remote>>> = vec![None; n - 1];
        let mut failure = None;
        for (id, res) in remote_rx.iter().take(n - 1) {
            match res {
                Ok(r) => remotes[id - 1] = Some(r),
                Err(e) => failure = Some(e),
            }
        }
        if failure.is_none() && remotes.iter().any(Option::is_none) {
            failure = Some(io::Error::other("a worker thread exited during setup"));
        }
        if let Some(e) = failure {
            started.group_txs.iter().for_each(|tx| drop(tx.send(None)));
            started.threads.into_iter().for_each(|t| drop(t.join()));
            return Err(e);
        }
        started.remotes.extend(remotes.into_iter().flatten());
        Ok(started)
    }

    /// Worker 0 on this thread: the signal watcher (if asked for), the worker's future, and
    /// then the end of every task spawned here during the run.
    fn run_worker_0<F, Fut>(
        &self,
        f: &Arc<F>,
        group: &Arc<Group>,
        signal_fd: Option<std::os::fd::OwnedFd>,
    ) -> Outcome<Fut::Output>
    where
        F: Fn(usize) -> Fut,
        Fut: Future,
    {
        let previous = self.core.join_group(0, group.clone());
        // What worker 0 spawns during the run (the signal watcher too) ends with it, as the
        // other workers' tasks end with their threads.
        let before_run = self.core.tasks();
        let watcher = match signal_fd {
            Some(fd) => self.try_block_on(async move {
                spawn(watch_signals(fd));
            }),
            None => Ok(()),
        };
        let out = watcher.and_then(|()| self.block_on_worker(f, 0, group));
        {
            let _enter = context::enter(&self.core);
            self.core.drop_tasks_except(&before_run);
        }
        self.core.leave_group(previous);
        out
    }

    /// Runs worker `id`'s future until it finishes, or until a forced shutdown.
    fn block_on_worker<F, Fut>(
        &self,
        f: &Arc<F>,
        id: usize,
        group: &Arc<Group>,
    ) -> Outcome<Fut::Output>
    where
        F: Fn(usize) -> Fut,
        Fut: Future,
    {
        let forced = &group.shutdown.forced;
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.block_on_until(f(id), forced)
        }));
        match res {
            Ok(Ok(Some(out))) => Ok(Ok(out)),
            Ok(Ok(None)) => Ok(Err(JoinError::Cancelled)),
            Ok(Err(e)) => Err(e),
            Err(payload) => Ok(Err(JoinError::Panic(payload))),
        }
    }
}

/// The body of worker thread `id`: its own runtime (reported to worker 0), its group, its
/// future, its final counters. `None` if the run was called off during setup.
fn worker<F, Fut>(
    id: usize,
    builder: Builder,
    cpu: Option<usize>,
    f: &Arc<F>,
    finals: &Finals,
    remote_tx: Sender<(usize, io::Result<Arc<Remote>>)>,
    group_rx: Receiver<Option<Arc<Group>>>,
) -> Option<Outcome<Fut::Output>>
where
    F: Fn(usize) -> Fut,
    Fut: Future,
{
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
    let out = rt.block_on_worker(f, id, &group);
    if out.is_err() {
        group.shutdown.force();
    }
    finals.lock().unwrap_or_else(|e| e.into_inner())[id] = snapshot_of(&rt.core);
    Some(out)
}

/// Worker 0's outcome and every other worker's, in order; a driver failure anywhere is the
/// run's error.
fn join<T>(first: Outcome<T>, threads: Vec<JoinHandle<Option<Outcome<T>>>>) -> Vec<Outcome<T>> {
    let mut outcomes = vec![first];
    for t in threads {
        outcomes.push(match t.join() {
            Ok(Some(r)) => r,
            Ok(None) => Ok(Err(JoinError::Cancelled)),
            Err(payload) => Ok(Err(JoinError::Panic(payload))),
        });
    }
    outcomes
}
