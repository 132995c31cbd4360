//! Accepting: one loop per listening socket, the hand-off of each client to the worker that
//! serves it, and how a listener stops without losing a client.
//!
//! A loop takes a permit (limits.rs) for each client it accepts before it accepts the next,
//! so at the limit it holds one client and accepts no more: the clients after it wait in the
//! kernel's backlog. (A permit taken before the accept would sit with a socket the kernel
//! sends no client to, while another socket of the group has one waiting.) When its entry is told to stop, the loop does not drop its
//! accept: it cancels it (a deadline that has passed) and awaits it to the end, because on
//! io_uring an accept the kernel completed just before the cancel still carries a connection,
//! which is then served like any other. A listener that closes (drain, or removed by a
//! reload) also accepts what is already queued on its socket before its descriptor goes; one
//! handed over to a successor leaves its queue to the successor.
//!
//! On epoll, the workers' descriptors are deregistered before they are closed (the library's
//! close does this): an epoll registration belongs to the open file description, which a
//! successor shares, so a closed but still registered descriptor would keep taking its events.

use crate::bind::{self, Acceptor};
use crate::config::Accept;
use crate::conn::{Conn, StdConn};
use crate::limits::{self, Permit};
use crate::listeners::{Entry, Stop};
use crate::log;
use crate::pair::{self, Listener, Live};
use crate::steer;
use crate::worker::{select, Either, Shared};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a listener that steers new connections away keeps accepting, so handshakes that
/// began on its sockets complete there (a SYN-ACK round trip, with room to spare).
pub const STEER_SETTLE: Duration = Duration::from_secs(1);
/// How often the newest member of a shared group looks for the older members to be gone.
const ALONE_CHECK: Duration = Duration::from_secs(1);

/// Accepts on one socket of `entry` until the entry stops.
pub async fn accept_loop(
    listener: Acceptor,
    entry: Arc<Entry>,
    shared: Arc<Shared>,
    worker: usize,
) {
    shared.local_loops[worker].fetch_add(1, Ordering::AcqRel);
    while entry.stop_kind() == Stop::Running {
        let mut accept = pin!(listener.accept());
        let res = match select(accept.as_mut(), pin!(entry.stopped())).await {
            Either::Left(res) => res,
            Either::Right(_) => {
                // Cancel it and let it end: a connection it already holds is served.
                listener.set_deadline(Some(Instant::now()));
                let res = accept.await;
                if res.is_ok() {
                    shared
                        .state
                        .accepts_after_cancel
                        .fetch_add(1, Ordering::Relaxed);
                    log::debug(format_args!(
                        "listener {}: an accept completed as it was cancelled; serving it",
                        entry.addr()
                    ));
                }
                res
            }
        };
        match res {
            Ok((stream, peer)) => {
                // At the limit this loop waits here, one client in hand, and accepts no more:
                // the next clients wait in the kernel's backlog.
                if let Some(permit) = permit(&entry, &shared).await {
                    dispatch(stream, peer, permit, &entry, &shared, worker);
                }
            }
            Err(_) if entry.stop_kind() != Stop::Running => break,
            Err(e) => {
                log::error(format_args!("listener {}: accept: {e}", entry.addr()));
                corio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    if entry.stop_kind() == Stop::Close {
        serve_queued(listener.as_raw_fd(), &entry, &shared, worker).await;
    }
    // Deregistered, then closed; the socket itself lives on in the entry's duplicate (closed
    // in order by `close_entry`) or in the successor.
    let _ = listener.close().await;
    drop(listener);
    entry.loops.fetch_sub(1, Ordering::AcqRel);
    shared.local_loops[worker].fetch_sub(1, Ordering::AcqRel);
}

/// A permit for a client in hand: at once if there is room, else once a pair ends. Once the
/// entry stops, the wait is bounded by the drain timeout (`None`: the client is closed).
async fn permit(entry: &Arc<Entry>, shared: &Arc<Shared>) -> Option<Permit> {
    if let Some(p) = limits::try_acquire(&entry.gate, &shared.gate) {
        return Some(p);
    }
    let mut acquire = pin!(limits::acquire(&entry.gate, &shared.gate));
    if let Either::Left(p) = select(acquire.as_mut(), pin!(entry.stopped())).await {
        return Some(p);
    }
    corio::time::timeout(shared.drain_timeout(), acquire)
        .await
        .ok()
}

/// Accepts and serves what waits in `fd`'s queue now, each under a permit (waiting for one at
/// most until the drain deadline).
async fn serve_queued(fd: i32, entry: &Arc<Entry>, shared: &Arc<Shared>, worker: usize) {
    let deadline = Instant::now() + shared.drain_timeout();
    let listen = entry.addr();
    // A Unix socket has no queue length to read (TCP_INFO): take until the queue is empty.
    let mut left = match listen {
        crate::addr::Listen::Tcp(_) => steer::queued(fd),
        crate::addr::Listen::Unix(_) => usize::MAX,
    };
    while left > 0 {
        left -= 1;
        match bind::accept_now(&listen, fd) {
            Ok(Some((conn, peer))) => {
                let permit = match limits::try_acquire(&entry.gate, &shared.gate) {
                    Some(p) => p,
                    None => {
                        let wait = deadline.saturating_duration_since(Instant::now());
                        let acquire = limits::acquire(&entry.gate, &shared.gate);
                        match corio::time::timeout(wait, acquire).await {
                            Ok(p) => p,
                            Err(_) => return,
                        }
                    }
                };
                match conn.adopt() {
                    Ok(stream) => dispatch(stream, peer, permit, entry, shared, worker),
                    Err(e) => log::error(format_args!("listener {}: {e}", entry.addr())),
                }
            }
            Ok(None) => return,
            Err(e) => {
                log::error(format_args!("listener {}: accept: {e}", entry.addr()));
                return;
            }
        }
    }
}

/// Hands a client to the worker that serves it: this one (reuseport), or the least loaded
/// (balanced).
pub fn dispatch(
    stream: Conn,
    peer: Option<SocketAddr>,
    permit: Permit,
    entry: &Entry,
    shared: &Arc<Shared>,
    worker: usize,
) {
    let listener = entry.current();
    let target = match shared.accept {
        Accept::Reuseport => worker,
        Accept::Balanced => shared.least_loaded(),
    };
    if target == worker {
        return spawn_pair(stream, peer, permit, listener, shared.clone(), worker);
    }
    let std = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            log::error(format_args!("listener {}: hand-off: {e}", entry.addr()));
            return;
        }
    };
    // Counted on its worker from now on (so the next client goes elsewhere), and uncounted
    // if the worker is gone and the hand-off is dropped.
    shared.local_live[target].fetch_add(1, Ordering::Relaxed);
    let moving = LocalLive(shared.clone(), target);
    drop(corio::spawn_on(target, async move {
        let shared = moving.0.clone();
        drop(moving);
        match StdConn::adopt(std) {
            Ok(s) => spawn_pair(s, peer, permit, listener, shared, target),
            Err(e) => log::error(format_args!("worker {target}: adopting a client: {e}")),
        }
    }));
}

/// Serves one client on this worker: counted live on its listener and on the worker until
/// its pair ends; then its permit goes back.
fn spawn_pair(
    stream: Conn,
    peer: Option<SocketAddr>,
    permit: Permit,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    worker: usize,
) {
    shared.local_live[worker].fetch_add(1, Ordering::Relaxed);
    let local = LocalLive(shared, worker);
    listener.metrics.workers[worker].accepted.add(1);
    listener.metrics.active.fetch_add(1, Ordering::AcqRel);
    // The task is `serve`'s own future, not one wrapped in another (which would keep a second
    // copy of its arguments for as long as the pair lives).
    let hold = (local, permit);
    drop(corio::spawn(pair::serve(
        stream,
        peer,
        Live(listener),
        worker,
        hold,
    )));
}

/// One live pair on a worker (for the drain, and the balanced hand-off), counted by whoever
/// made it and uncounted when dropped.
struct LocalLive(Arc<Shared>, usize);

impl Drop for LocalLive {
    fn drop(&mut self) {
        self.0.local_live[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Stops `entry`. Handed over: our duplicates go, the successor has the sockets. Closed: if
/// newer processes listen on the address, steer new connections to them and keep accepting
/// for `STEER_SETTLE`; then stop the accept loops (each serves what its socket has queued) and
/// close the sockets one by one, highest group index first, each after a last look at its
/// queue (steer.rs says why this order).
pub async fn close_entry(entry: Arc<Entry>, shared: Arc<Shared>, how: Stop) {
    let addr = entry.addr();
    if how == Stop::HandedOver || entry.stop_kind() == Stop::HandedOver {
        entry.stop(Stop::HandedOver);
        drop(entry.take_sockets());
        return;
    }
    let socks = entry.take_sockets();
    let k = socks.len();
    let total = match &addr {
        crate::addr::Listen::Tcp(a) => steer::group_size(*a).unwrap_or(k),
        crate::addr::Listen::Unix(_) => k,
    };
    let newer = total.saturating_sub(k);
    if newer > 0 && entry.stop_kind() == Stop::Running {
        match steer::steer_to(socks[0].as_raw_fd(), k as u32, newer as u32) {
            Ok(()) => {
                tracing::info!("listener {addr}: {newer} newer sockets share the address; steering new connections to them");
                corio::time::sleep(STEER_SETTLE).await;
            }
            Err(e) => {
                tracing::warn!("listener {addr}: cannot steer connections away ({e}); closing")
            }
        }
    }
    entry.stop(Stop::Close);
    while entry.loops.load(Ordering::Acquire) > 0 {
        corio::time::sleep(Duration::from_millis(2)).await;
    }
    close_in_order(&entry, &shared, socks, newer).await;
    bind::remove_unix_socket(&addr);
}

/// Closes our sockets of a group from the highest index down (steer.rs).
async fn close_in_order(
    entry: &Arc<Entry>,
    shared: &Arc<Shared>,
    mut socks: Vec<OwnedFd>,
    newer: usize,
) {
    while let Some(sock) = socks.pop() {
        // `socks.len()` of ours stay below this one's index once it is gone.
        let below = socks.len() as u32;
        let fd = sock.as_raw_fd();
        let steered = match newer {
            0 => Ok(()),
            1 => steer::steer_to(fd, below + 1, 1),
            m => steer::steer_to(fd, below + 1, m as u32 - 1),
        };
        if let Err(e) = steered {
            tracing::warn!("listener {}: steering: {e}", entry.addr());
        }
        serve_queued(fd, entry, shared, corio::worker_id()).await;
        drop(sock);
        if let (1, Some(next)) = (newer, socks.last()) {
            // The one newer socket moved into the hole: point at it again.
            let _ = steer::steer_to(next.as_raw_fd(), below, 1);
        }
    }
}

/// The newest member of a group that older processes also listen on: once they are gone,
/// remove the program the last of them left, so the kernel's hash spreads connections over
/// all of our sockets again.
pub async fn watch_until_alone(entry: Arc<Entry>) {
    loop {
        corio::time::sleep(ALONE_CHECK).await;
        if entry.stop_kind() != Stop::Running {
            return;
        }
        let ours = entry.with_sockets(|s| s.len());
        let crate::addr::Listen::Tcp(addr) = entry.addr() else {
            return;
        };
        let total = steer::group_size(addr).unwrap_or(ours);
        if total <= ours {
            let res = entry.with_sockets(|s| s.first().map(|f| steer::unsteer(f.as_raw_fd())));
            if let Some(Err(e)) = res {
                tracing::warn!(
                    "listener {}: removing the steering program: {e}",
                    entry.addr()
                );
            }
            return;
        }
    }
}
