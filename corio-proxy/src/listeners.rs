//! The listeners a running proxy has, each an [`Entry`] that outlives config generations: a
//! reload that keeps a listen address keeps its entry (its sockets, counters and live count)
//! and swaps the settings new clients get; a reload that drops it stops the entry; a successor
//! takes its sockets over.
//!
//! An entry holds a duplicate of each of its listening sockets, in the order they were bound:
//! they are what a successor receives, and what closes the sockets in a safe order when the
//! entry stops (steer.rs). The workers' own descriptors can then be closed at any time without
//! closing a socket.

use crate::config::{Accept, ListenerSettings};
use crate::latch::Latch;
use crate::limits::Gate;
use crate::metrics::ListenerMetrics;
use crate::pair::Listener;
use crate::takeover::ReceivedListener;
use crate::upstream::Upstreams;
use std::net::SocketAddr;
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
    pub listen: SocketAddr,
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
    /// An entry for `settings`, bound at `addr`, with duplicates of its `sockets`.
    pub fn new(
        settings: &ListenerSettings,
        addr: SocketAddr,
        workers: usize,
        sockets: Vec<OwnedFd>,
        shared_group: bool,
    ) -> Entry {
        let metrics = Arc::new(ListenerMetrics::new(addr, workers));
        Entry {
            listen: settings.listen,
            current: Mutex::new(Arc::new(Listener {
                settings: settings.clone(),
                metrics: metrics.clone(),
                upstreams: Arc::new(Upstreams::new(settings)),
            })),
            metrics,
            gate: Arc::new(Gate::new(settings.max_conns)),
            sockets: Mutex::new(sockets),
            stop: AtomicU8::new(0),
            stopping: Latch::default(),
            loops: AtomicUsize::new(0),
            shared_group,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.metrics.addr
    }

    /// What a new client gets.
    pub fn current(&self) -> Arc<Listener> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `settings` to new clients; live pairs keep what they started with. Upstreams
    /// (and their passive health) are kept when nothing about them changed. True if anything
    /// changed.
    pub fn update(&self, settings: &ListenerSettings) -> bool {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.settings == *settings {
            return false;
        }
        let old = &cur.settings;
        let same_upstreams = old.upstreams == settings.upstreams
            && old.balance == settings.balance
            && old.connect_timeout == settings.connect_timeout
            && old.max_fails == settings.max_fails
            && old.fail_timeout == settings.fail_timeout;
        let upstreams = if same_upstreams {
            cur.upstreams.clone()
        } else {
            Arc::new(Upstreams::new(settings))
        };
        self.gate.set_max(settings.max_conns);
        *cur = Arc::new(Listener {
            settings: settings.clone(),
            metrics: self.metrics.clone(),
            upstreams,
        });
        true
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
) -> Result<(Arc<Entry>, Vec<std::net::TcpListener>), String> {
    let listen = settings.listen;
    let err = |e: std::io::Error| format!("listen {listen}: {e}");
    let want = match accept {
        Accept::Reuseport => workers,
        Accept::Balanced => 1,
    };
    let (addr, socks, shared_group) = match received {
        Some(r) => {
            let mut socks = r.sockets;
            let reuseport = socks
                .first()
                .is_some_and(|s| socket2::SockRef::from(s).reuse_port().unwrap_or(false));
            if accept == Accept::Reuseport && reuseport && socks.len() < want {
                let (_, more) =
                    crate::bind::listen(r.addr, want - socks.len(), accept).map_err(err)?;
                socks.extend(more);
            }
            (r.addr, socks, false)
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
    let dups = socks
        .iter()
        .map(|s| s.try_clone().map(OwnedFd::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let entry = Arc::new(Entry::new(settings, addr, workers, dups, shared_group));
    Ok((entry, socks))
}
