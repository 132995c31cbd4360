//! One worker: the commands it gets (accept on these sockets; close that listener), the admin
//! and control servers on worker 0, and the drain.
//!
//! Drain (SIGTERM or SIGINT, or a successor that took the listeners over): every listener
//! stops accepting — closed after what is queued on it is served (accept.rs), or left to the
//! successor — live pairs carry on for up to the drain timeout, then the worker returns and
//! what is left is closed with its runtime. Worker 0 returns last — when every worker's pairs
//! are done, or at the timeout — so /metrics stays up until the process exits.

use crate::accept;
use crate::bind::{Acceptor, Bound};
use crate::config::{Accept, Settings};
use crate::latch::Latch;
use crate::limits::Gate;
use crate::listeners::{Entry, Stop};
use crate::metrics::ProcessState;
use corio::net::TcpListener;
use corio::sync::mpsc::{Receiver, UnboundedSender};
use std::future::{poll_fn, Future};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

/// What a worker is told to do.
pub enum Command {
    /// Accept on these sockets of the entry (this worker's share of them).
    Start(Arc<Entry>, Vec<Bound>),
    /// Worker 0: stop the entry and close its sockets (a reload removed it).
    Close(Arc<Entry>),
}

/// What all workers share.
pub struct Shared {
    /// The listeners accepting now, in config order.
    pub entries: Mutex<Vec<Arc<Entry>>>,
    /// The process-wide `max-conns`.
    pub gate: Arc<Gate>,
    pub workers: usize,
    pub accept: Accept,
    pub state: ProcessState,
    /// Live pairs per worker.
    pub local_live: Vec<AtomicUsize>,
    /// Accept loops running per worker (a worker returns only after its loops ended: they
    /// serve what an accept got as it was cancelled).
    pub local_loops: Vec<AtomicUsize>,
    /// The running config (what a reload compares with) and the file it came from.
    pub config: Mutex<Settings>,
    pub config_path: Option<PathBuf>,
    pub admin: Mutex<Option<std::net::TcpListener>>,
    /// A duplicate of the admin socket and its address, for a successor.
    pub admin_fd: Mutex<Option<(std::net::SocketAddr, std::os::fd::OwnedFd)>>,
    /// Set when a successor took the admin socket over: this process stops serving it.
    pub admin_stop: Arc<Latch>,
    /// Set by the admin loop once it has stopped accepting (after `admin_stop`).
    pub admin_stopped: Arc<Latch>,
    /// The bound `--control` socket, served by worker 0.
    pub control: Mutex<Option<crate::control::Control>>,
    /// The socket SIGHUPs arrive on, for worker 0 (hangup.rs).
    pub hangups: Mutex<Option<std::os::unix::net::UnixStream>>,
    /// A takeover to finish once every worker accepts (`--takeover`).
    pub takeover: Mutex<Option<crate::takeover::Pending>>,
    commands: Vec<UnboundedSender<Command>>,
    receivers: Mutex<Vec<Option<Receiver<Command>>>>,
    /// Workers that have started accepting on their first sockets.
    started: AtomicUsize,
}

impl Shared {
    pub fn new(
        settings: Settings,
        config_path: Option<PathBuf>,
        workers: usize,
        gate: Gate,
    ) -> Shared {
        let (commands, receivers) = (0..workers)
            .map(|_| {
                let (tx, rx) = corio::sync::mpsc::unbounded();
                (tx, Some(rx))
            })
            .unzip();
        Shared {
            entries: Mutex::new(Vec::new()),
            gate: Arc::new(gate),
            workers,
            accept: settings.accept,
            state: ProcessState::default(),
            local_live: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            local_loops: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            config: Mutex::new(settings),
            config_path,
            admin: Mutex::new(None),
            admin_fd: Mutex::new(None),
            admin_stop: Arc::new(Latch::default()),
            admin_stopped: Arc::new(Latch::default()),
            control: Mutex::new(None),
            hangups: Mutex::new(None),
            takeover: Mutex::new(None),
            commands,
            receivers: Mutex::new(receivers),
            started: AtomicUsize::new(0),
        }
    }

    /// Sends `cmd` to worker `w` (dropped if that worker has ended).
    pub fn send(&self, w: usize, cmd: Command) {
        let _ = self.commands[w].send(cmd);
    }

    /// Adds `entry` and gives each worker its share of `sockets`: one each with reuseport
    /// (any beyond the worker count go round the workers again), all to worker 0 for balanced.
    pub fn start_entry(&self, entry: Arc<Entry>, sockets: Vec<Bound>) {
        let mut shares: Vec<Vec<Bound>> = (0..self.workers).map(|_| Vec::new()).collect();
        for (i, s) in sockets.into_iter().enumerate() {
            let w = match self.accept {
                Accept::Reuseport => i % self.workers,
                Accept::Balanced => 0,
            };
            shares[w].push(s);
        }
        let n: usize = shares.iter().map(Vec::len).sum();
        entry.loops.fetch_add(n, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry.clone());
        for (w, share) in shares.into_iter().enumerate() {
            if !share.is_empty() {
                self.send(w, Command::Start(entry.clone(), share));
            }
        }
    }

    /// The entries accepting now.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Live clients on every listener, across workers.
    pub fn live(&self) -> usize {
        self.local_live
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Live clients below the process-wide max-conns.
    pub fn process_room(&self) -> bool {
        self.gate.max().is_none_or(|m| self.live() < m)
    }

    /// The worker with the fewest live pairs.
    pub fn least_loaded(&self) -> usize {
        (0..self.workers)
            .min_by_key(|&w| self.local_live[w].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub fn drain_timeout(&self) -> Duration {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain_timeout
    }
}

/// Worker `id`'s future.
pub async fn run(id: usize, shared: Arc<Shared>) {
    let Some(mut rx) = shared
        .receivers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(id)
        .and_then(Option::take)
    else {
        return;
    };
    // The first sockets were queued before the workers started.
    while let Ok(cmd) = rx.try_recv() {
        handle(cmd, id, &shared);
    }
    shared.started.fetch_add(1, Ordering::AcqRel);
    if id == 0 {
        start_worker_0(&shared).await;
    }
    loop {
        let next = select(pin!(rx.recv()), pin!(corio::shutdown_requested())).await;
        match next {
            Either::Left(Some(cmd)) => handle(cmd, id, &shared),
            Either::Left(None) | Either::Right(()) => break,
        }
    }
    if id == 0 {
        drain(&shared).await;
    } else {
        // Worker 0 decides when the drain is over; until then this worker's pairs carry on.
        let busy = |n: &[AtomicUsize]| n[id].load(Ordering::Acquire) > 0;
        while (busy(&shared.local_live) || busy(&shared.local_loops))
            && !shared.state.drain_over.load(Ordering::Acquire)
        {
            corio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn handle(cmd: Command, id: usize, shared: &Arc<Shared>) {
    match cmd {
        Command::Start(entry, sockets) => {
            for socket in sockets {
                match Acceptor::from_std(socket) {
                    Ok(l) => drop(corio::spawn(accept::accept_loop(
                        l,
                        entry.clone(),
                        shared.clone(),
                        id,
                    ))),
                    Err(e) => {
                        entry.loops.fetch_sub(1, Ordering::AcqRel);
                        tracing::error!("worker {id}: listener {}: {e}", entry.addr());
                    }
                }
            }
        }
        Command::Close(entry) => drop(corio::spawn(accept::close_entry(
            entry,
            shared.clone(),
            Stop::Close,
        ))),
    }
}

/// Worker 0, once its first sockets accept: the admin and control servers, the
/// "listening on" lines, and a takeover's last step.
async fn start_worker_0(shared: &Arc<Shared>) {
    let admin = shared
        .admin
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(admin) = admin {
        match TcpListener::from_std(admin) {
            Ok(a) => drop(corio::spawn(crate::admin::serve(a, shared.clone()))),
            Err(e) => tracing::error!("admin listener: {e}"),
        }
    }
    for e in shared.entries() {
        let addr = e.addr();
        tracing::info!("listening on {addr}");
        if e.shared_group {
            drop(corio::spawn(accept::watch_until_alone(e.clone())));
        }
    }
    let pending = shared
        .takeover
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(pending) = pending {
        // Every worker accepts on the sockets it got before the old process is told to drain.
        while shared.started.load(Ordering::Acquire) < shared.workers {
            corio::time::sleep(Duration::from_millis(1)).await;
        }
        crate::takeover::finish(pending, shared).await;
    }
    crate::control::start(shared);
    let hangups = shared
        .hangups
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(h) = hangups {
        drop(corio::spawn(crate::hangup::watch(h, shared.clone())));
    }
}

/// Worker 0's part of the drain: stop every listener, wait until no client is live on any
/// worker, or the drain timeout; then tell the other workers to stop (their runtimes close
/// what is left).
async fn drain(shared: &Arc<Shared>) {
    let timeout = shared.drain_timeout();
    let deadline = Instant::now() + timeout;
    shared.state.draining.store(true, Ordering::Relaxed);
    // They stay listed (in /status, /metrics) until the process exits.
    let mut closing = Vec::new();
    for e in shared.entries() {
        let how = match e.stop_kind() {
            Stop::HandedOver => Stop::HandedOver,
            _ => Stop::Close,
        };
        closing.push(corio::spawn(accept::close_entry(e, shared.clone(), how)));
    }
    tracing::info!(
        "draining: listeners stop accepting, {} live clients, up to {timeout:?}",
        shared.live()
    );
    for c in closing {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = corio::time::timeout(left, c).await;
    }
    while shared.live() > 0 && Instant::now() < deadline {
        corio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = shared.live();
    shared.state.drain_over.store(true, Ordering::Release);
    crate::control::remove(shared);
    tracing::info!("drained ({left} clients closed at the timeout)");
}

/// Either of two outcomes.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The first of two futures to finish (the left one is polled first).
pub async fn select<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
) -> Either<A::Output, B::Output> {
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}
