//! The listeners a running proxy has, each an [`Entry`] that outlives config generations: a
//! reload that keeps a listen address keeps its entry (its sockets, counters and live count)
//! and swaps the settings new clients get; a reload that drops it stops the entry; a successor
//! takes its sockets over.
//!
//! An entry holds a duplicate of each of its listening sockets, in the order they were bound:
//! they are what a successor receives, and what closes the sockets in a safe order when the
//! entry stops (steer.rs). The workers' own descriptors can then be closed at any time without
//! closing a socket.

use crate::addr::Listen;
use crate::bind::Bound;
use crate::config::{Accept, ListenerSettings};
use crate::latch::Latch;
use crate::limits::Gate;
use crate::metrics::ListenerMetrics;
use crate::pair::Listener;
use crate::takeover::ReceivedListener;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How an entry stops accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Still accepting.
    Running,
    /// Its sockets close: accept what is queued first (a drain, or a reload that removed it).
    Close,
    /// A successor holds its sockets: stop accepting, close only our descriptors.
    HandedOver,
}

/// One listen address and everything that survives a reload of it.
pub struct Entry {
    /// The address as configured: what a reload or a successor matches on.
    pub listen: Listen,
    pub metrics: Arc<ListenerMetrics>,
    /// The settings and upstreams new clients get (swapped by a reload).
    current: Mutex<Arc<Listener>>,
    /// Its live clients' permits (`max-conns` of the listener).
    pub gate: Arc<Gate>,
    sockets: Mutex<Vec<OwnedFd>>,
    /// How it stops (`Stop` as a number), written before `stopping` is set.
    stop: AtomicU8,
    stopping: Latch,
    /// Accept loops still running on its sockets.
    pub loops: AtomicUsize,
    /// Other processes listened on the address when it was bound (an overlap start).
    pub shared_group: bool,
}

impl Entry {
    /// An entry for `settings`, bound at `addr`, with duplicates of its `sockets`. Its
    /// listener resolves host names (blocking): an error names the one that failed.
    pub fn new(
        settings: &ListenerSettings,
        addr: Listen,
        workers: usize,
        sockets: Vec<OwnedFd>,
        shared_group: bool,
    ) -> Result<Entry, String> {
        let metrics = Arc::new(ListenerMetrics::new(addr, workers));
        Ok(Entry {
            listen: settings.listen.clone(),
            current: Mutex::new(Arc::new(Listener::new(settings.clone(), metrics.clone())?)),
            metrics,
            gate: Arc::new(Gate::new(settings.max_conns)),
            sockets: Mutex::new(sockets),
            stop: AtomicU8::new(0),
            stopping: Latch::default(),
            loops: AtomicUsize::new(0),
            shared_group,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> Listen {
        self.metrics.addr.clone()
    }

    /// What a new client gets.
    pub fn current(&self) -> Arc<Listener> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What `settings` would give new clients, or `None` when nothing changed. Upstream
    /// groups (their servers, health and passive state) are kept when nothing about them
    /// changed (`Listener::next`); new ones resolve their host names here (blocking), and a
    /// name that fails is an error that changes nothing.
    pub fn prepare(&self, settings: &ListenerSettings) -> Result<Option<Arc<Listener>>, String> {
        let cur = self.current();
        if cur.settings == *settings {
            return Ok(None);
        }
        cur.next(settings).map(|l| Some(Arc::new(l)))
    }

    /// Applies a prepared listener to new clients; live pairs keep what they started with.
    pub fn apply(&self, next: Arc<Listener>) {
        self.gate.set_max(next.settings.max_conns);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// Raw numbers of its sockets (for a successor), in bind order; empty once stopped.
    pub fn with_sockets<R>(&self, f: impl FnOnce(&[OwnedFd]) -> R) -> R {
        f(&self.sockets.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes its socket duplicates out (to close them in order, or drop them).
    pub fn take_sockets(&self) -> Vec<OwnedFd> {
        std::mem::take(&mut *self.sockets.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn stop_kind(&self) -> Stop {
        match self.stop.load(Ordering::Acquire) {
            0 => Stop::Running,
            1 => Stop::Close,
            _ => Stop::HandedOver,
        }
    }

    /// Tells its accept loops to stop; the first call decides how. False if it was stopping.
    pub fn stop(&self, how: Stop) -> bool {
        let code = match how {
            Stop::Running => return false,
            Stop::Close => 1,
            Stop::HandedOver => 2,
        };
        if self
            .stop
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.stopping.set();
        true
    }

    /// Resolves once the entry is told to stop.
    pub async fn stopped(&self) -> Stop {
        self.stopping.stopped().await;
        self.stop_kind()
    }

    /// Accepting now: running, and its live clients below its limit, with `process_room`
    /// (the process's below the process-wide one). Permits an accept loop holds while it
    /// waits for a client are not clients: they are the next ones' places.
    pub fn accepting(&self, process_room: bool) -> bool {
        let live = self.metrics.active.load(Ordering::Relaxed);
        self.stop_kind() == Stop::Running
            && self.loops.load(Ordering::Relaxed) > 0
            && self.gate.max().is_none_or(|m| live < m)
            && process_room
    }
}

/// Opens a listener for `settings`: on the sockets a predecessor handed over (`received`),
/// adding fresh ones to reach one per worker where the group allows it, or on fresh sockets.
/// Returns its entry and the sockets for the workers. An error names the address.
pub fn open(
    settings: &ListenerSettings,
    workers: usize,
    accept: Accept,
    received: Option<ReceivedListener>,
) -> Result<(Arc<Entry>, Vec<Bound>), String> {
    let listen = match &settings.listen {
        Listen::Tcp(a) => *a,
        Listen::Unix(_) => return open_unix(settings, workers, accept, received),
    };
    let err = |e: std::io::Error| format!("listen {listen}: {e}");
    let want = match accept {
        Accept::Reuseport => workers,
        Accept::Balanced => 1,
    };
    let (addr, socks, shared_group) = match received {
        Some(r) => {
            let mut socks: Vec<std::net::TcpListener> = r
                .sockets
                .into_iter()
                .filter_map(|b| match b {
                    Bound::Tcp(l) => Some(l),
                    Bound::Unix(_) => None,
                })
                .collect();
            let addr = match r.addr {
                Listen::Tcp(a) => a,
                Listen::Unix(_) => return Err(format!("listen {listen}: handed over as Unix")),
            };
            let reuseport = socks
                .first()
                .is_some_and(|s| socket2::SockRef::from(s).reuse_port().unwrap_or(false));
            if accept == Accept::Reuseport && reuseport && socks.len() < want {
                let (_, more) =
                    crate::bind::listen(addr, want - socks.len(), accept).map_err(err)?;
                socks.extend(more);
            }
            (addr, socks, false)
        }
        None => {
            let before = match listen.port() {
                0 => 0,
                _ => crate::steer::group_size(listen).unwrap_or(0),
            };
            let (addr, socks) = crate::bind::listen(listen, workers, accept).map_err(err)?;
            (addr, socks, before > 0 && accept == Accept::Reuseport)
        }
    };
    let socks: Vec<Bound> = socks.into_iter().map(Bound::Tcp).collect();
    let dups = socks
        .iter()
        .map(Bound::dup)
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let entry = Entry::new(settings, Listen::Tcp(addr), workers, dups, shared_group)
        .map_err(|e| format!("listener {addr}: {e}"))?;
    Ok((Arc::new(entry), socks))
}

/// A `unix:` listener: its one socket (handed over, or bound with `unix-mode`), which every
/// worker accepts on (one worker with `--accept balanced`). The entry keeps one duplicate.
fn open_unix(
    settings: &ListenerSettings,
    workers: usize,
    accept: Accept,
    received: Option<ReceivedListener>,
) -> Result<(Arc<Entry>, Vec<Bound>), String> {
    let listen = &settings.listen;
    let err = |e: std::io::Error| format!("listen {listen}: {e}");
    let one = match received.and_then(|r| r.sockets.into_iter().next()) {
        Some(b) => {
            // Handed over: its file is ours to remove at exit now.
            crate::bind::own_unix_socket(listen);
            b
        }
        None => {
            let (_, mut socks) =
                crate::bind::bind(listen, 1, accept, settings.traffic.unix_mode).map_err(err)?;
            socks
                .pop()
                .ok_or_else(|| format!("listen {listen}: no socket"))?
        }
    };
    let n = match accept {
        Accept::Reuseport => workers,
        Accept::Balanced => 1,
    };
    let mut socks = Vec::with_capacity(n);
    for _ in 1..n {
        socks.push(one.try_clone().map_err(err)?);
    }
    let dup = one.dup().map_err(err)?;
    socks.push(one);
    let entry = Entry::new(settings, listen.clone(), workers, vec![dup], false)
        .map_err(|e| format!("listener {listen}: {e}"))?;
    Ok((Arc::new(entry), socks))
}
