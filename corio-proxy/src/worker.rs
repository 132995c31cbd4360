//! One worker: its accept loops (one per listener), the admin server on worker 0, and the
//! drain when SIGTERM or SIGINT arrives.
//!
//! Drain: every accept loop closes its listener at once (new connects are refused, not left in
//! a backlog), live pairs carry on for up to the drain timeout, then the worker returns and
//! what is left is closed with its runtime. Worker 0 returns last — when every worker's pairs
//! are done, or at the timeout — so /metrics stays up until the process exits.

use crate::bind::{Acceptor, Bound};
use crate::config::Accept;
use crate::conn::Conn;
use crate::log;
use crate::metrics::ProcessState;
use crate::pair::{self, Listener, Live};
use corio::net::TcpStream;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

/// What all workers share.
pub struct Shared {
    pub listeners: Vec<Arc<Listener>>,
    /// Per listener, the socket each worker adopts (taken once).
    pub sockets: Vec<Mutex<Vec<Option<Bound>>>>,
    pub admin: Mutex<Option<std::net::TcpListener>>,
    pub drain_timeout: Duration,
    pub accept: Accept,
    pub state: ProcessState,
}

impl Shared {
    /// Live clients on every listener, across workers.
    fn live(&self) -> usize {
        self.listeners
            .iter()
            .map(|l| l.metrics.active.load(Ordering::Relaxed))
            .sum()
    }
}

thread_local! {
    /// Pairs served by this worker.
    static LOCAL_LIVE: Cell<usize> = const { Cell::new(0) };
}

struct LocalLive;

impl LocalLive {
    fn new() -> LocalLive {
        LOCAL_LIVE.with(|n| n.set(n.get() + 1));
        LocalLive
    }
}

impl Drop for LocalLive {
    fn drop(&mut self) {
        LOCAL_LIVE.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Worker `id`'s future.
pub async fn run(id: usize, shared: Arc<Shared>) {
    for (i, l) in shared.listeners.iter().enumerate() {
        let socket = shared.sockets[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
            .and_then(Option::take);
        let Some(socket) = socket else { continue };
        let listener = match Acceptor::from_std(socket) {
            Ok(l) => l,
            Err(e) => {
                log::error(format_args!(
                    "worker {id}: listener {}: {e}",
                    l.metrics.addr
                ));
                continue;
            }
        };
        match (shared.accept, listener) {
            (Accept::Balanced, Acceptor::Tcp(listener)) => {
                drop(corio::spawn(balanced(listener, l.clone())))
            }
            // A Unix listener is one socket every worker accepts on, in either mode.
            (_, listener) => drop(corio::spawn(accept_loop(listener, l.clone(), id))),
        }
    }
    if id == 0 {
        let admin = shared
            .admin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(admin) = admin {
            match corio::net::TcpListener::from_std(admin) {
                Ok(a) => drop(corio::spawn(crate::admin::serve(a, shared.clone()))),
                Err(e) => log::error(format_args!("admin listener: {e}")),
            }
        }
        for l in &shared.listeners {
            eprintln!("corio-proxy: listening on {}", l.metrics.addr);
        }
    }
    corio::shutdown_requested().await;
    if id == 0 {
        drain(&shared).await;
    } else {
        // Worker 0 decides when the drain is over; until then this worker's pairs carry on.
        while LOCAL_LIVE.with(Cell::get) > 0 && !shared.state.drain_over.load(Ordering::Acquire) {
            corio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Worker 0's part of the drain: wait until no client is live on any worker, or the drain
/// timeout; then tell the other workers to stop (their runtimes close what is left).
async fn drain(shared: &Shared) {
    let deadline = Instant::now() + shared.drain_timeout;
    shared.state.draining.store(true, Ordering::Relaxed);
    eprintln!(
        "corio-proxy: draining: listeners closed, {} live clients, up to {:?}",
        shared.live(),
        shared.drain_timeout
    );
    while shared.live() > 0 && Instant::now() < deadline {
        corio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = shared.live();
    shared.state.drain_over.store(true, Ordering::Release);
    eprintln!("corio-proxy: drained ({left} clients closed at the timeout)");
}

/// Accepts on this worker's SO_REUSEPORT listener until the drain starts, then closes it.
async fn accept_loop(listener: Acceptor, l: Arc<Listener>, worker: usize) {
    let mut stop = pin!(corio::shutdown_requested());
    loop {
        let next = {
            let mut accept = pin!(listener.accept());
            poll_fn(|cx| {
                if let Poll::Ready(r) = accept.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                stop.as_mut().poll(cx).map(|()| None)
            })
            .await
        };
        match next {
            None => break,
            Some(Ok((stream, peer))) => {
                if let Some(live) = admit(&l, worker) {
                    spawn_pair(stream, peer, live, worker);
                }
            }
            Some(Err(e)) => {
                log::error(format_args!("listener {}: accept: {e}", l.metrics.addr));
                corio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let _ = listener.close().await;
}

/// Accepts on worker 0 and hands each client to the least-loaded worker.
async fn balanced(listener: corio::net::TcpListener, l: Arc<Listener>) {
    let addr = l.metrics.addr.clone();
    let handler = move |stream: TcpStream| {
        let l = l.clone();
        async move {
            let worker = corio::worker_id();
            if let Some(live) = admit(&l, worker) {
                let _local = LocalLive::new();
                let peer = stream.peer_addr().ok();
                pair::serve(Conn::Tcp(stream), peer, live, worker).await;
            }
        }
    };
    if let Err(e) = corio::serve_balanced(listener, handler).await {
        log::error(format_args!("listener {addr}: accept: {e}"));
    }
}

/// Counts a new client; `None` (and the client is closed by the caller dropping it) when the
/// listener is at max-conns.
fn admit(l: &Arc<Listener>, worker: usize) -> Option<Live> {
    let counters = &l.metrics.workers[worker];
    counters.accepted.add(1);
    let before = l.metrics.active.fetch_add(1, Ordering::AcqRel);
    let live = Live(l.clone());
    if l.settings.max_conns.is_some_and(|max| before >= max) {
        counters.rejected.add(1);
        log::error(format_args!(
            "listener {}: at max-conns ({before} live); closing a new client",
            l.metrics.addr
        ));
        return None;
    }
    Some(live)
}

fn spawn_pair(stream: Conn, peer: Option<SocketAddr>, live: Live, worker: usize) {
    let local = LocalLive::new();
    drop(corio::spawn(async move {
        let _local = local;
        pair::serve(stream, peer, live, worker).await;
    }));
}
