//! Limits that queue (HAProxy's maxconn): a listener at its limit stops accepting, so new
//! clients wait in the kernel's backlog and are served once a pair ends, instead of being
//! accepted and closed.
//!
//! A [`Gate`] counts permits: one per listener (`max-conns` of the listener) and one for the
//! process (top-level `max-conns`, by default what the fd limit allows). An accept loop takes
//! a [`Permit`] from both for each client before it serves it or accepts another, and the
//! permit goes with the connection until its pair ends, so the live count never exceeds either
//! limit. A loop that finds no room parks its waker in the gate; the pair that ends (on any
//! worker) wakes it. Each waiting loop holds one accepted client (one descriptor, counted in
//! the reserve); the clients after it wait in the kernel's backlog.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Descriptors kept aside from the pairs: listeners, the admin and control sockets, the access
/// log, health checks, each worker's ring or epoll instance and wake-up fd.
const RESERVE_BASE: u64 = 64;
/// Per worker: the ring or epoll fd, its eventfd, the signalfd, the blocking pool's.
const RESERVE_PER_WORKER: u64 = 8;
/// Per worker with splice: the idle pipes its pool keeps (two fds each).
const RESERVE_PIPES_PER_WORKER: u64 = 2 * 64;

/// A count of permits with a maximum; see the module docs.
pub struct Gate {
    live: AtomicUsize,
    /// `usize::MAX`: unlimited.
    max: AtomicUsize,
    waiters: Mutex<Vec<Waker>>,
    /// `waiters.len()`, read without the lock when a permit is given back.
    waiting: AtomicUsize,
    /// Times an accept loop found no room and parked.
    pub paused: AtomicU64,
}

impl Gate {
    pub fn new(max: Option<usize>) -> Gate {
        Gate {
            live: AtomicUsize::new(0),
            max: AtomicUsize::new(max.unwrap_or(usize::MAX)),
            waiters: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            paused: AtomicU64::new(0),
        }
    }

    /// The limit; `None`: unlimited.
    pub fn max(&self) -> Option<usize> {
        let m = self.max.load(Ordering::Relaxed);
        (m != usize::MAX).then_some(m)
    }

    /// Changes the limit (a reload). Live permits above a lowered limit stay; no new one is
    /// given until the count is below it.
    pub fn set_max(&self, max: Option<usize>) {
        self.max.store(max.unwrap_or(usize::MAX), Ordering::SeqCst);
        self.wake_all();
    }

    /// Permits held.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// True if a permit is free now.
    #[cfg(test)]
    fn has_room(&self) -> bool {
        self.live.load(Ordering::SeqCst) < self.max.load(Ordering::SeqCst)
    }

    fn try_take(&self) -> bool {
        let max = self.max.load(Ordering::SeqCst);
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        // SeqCst pairs with `park`: either the parked loop sees the room, or this sees it.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.wake_all();
        }
    }

    fn park(&self, waker: &Waker) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if !w.iter().any(|x| x.will_wake(waker)) {
            w.push(waker.clone());
        }
        self.waiting.store(w.len(), Ordering::SeqCst);
    }

    fn wake_all(&self) {
        let woken = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            self.waiting.store(0, Ordering::SeqCst);
            std::mem::take(&mut *w)
        };
        woken.into_iter().for_each(Waker::wake);
    }
}

/// One live client's place under its listener's limit and the process's; given back when
/// dropped (the pair ended), which wakes accept loops waiting for room.
pub struct Permit {
    listener: Arc<Gate>,
    process: Arc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.listener.give_back();
        self.process.give_back();
    }
}

/// A permit from both gates, if both have room now.
pub fn try_acquire(listener: &Arc<Gate>, process: &Arc<Gate>) -> Option<Permit> {
    if !listener.try_take() {
        return None;
    }
    if !process.try_take() {
        listener.give_back();
        return None;
    }
    Some(Permit {
        listener: listener.clone(),
        process: process.clone(),
    })
}

/// Waits for a permit from both gates (counting a pause on `listener` when it has to wait).
pub async fn acquire(listener: &Arc<Gate>, process: &Arc<Gate>) -> Permit {
    let mut counted = false;
    poll_fn(|cx| {
        if let Some(p) = try_acquire(listener, process) {
            return Poll::Ready(p);
        }
        listener.park(cx.waker());
        process.park(cx.waker());
        // Room may have come between the try and the park: the give-back saw no waiter.
        if let Some(p) = try_acquire(listener, process) {
            return Poll::Ready(p);
        }
        if !counted {
            counted = true;
            listener.paused.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Pending
    })
    .await
}

/// The soft RLIMIT_NOFILE (after `bind::raise_nofile`).
pub fn nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `lim`, a plain struct that lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

/// The default process-wide `max-conns`: what the fd limit allows. Each pair holds two
/// sockets (and with splice up to two pipes, four fds, while bytes are in flight), less a
/// reserve for everything else; at least 1.
pub fn fd_default(nofile: u64, workers: usize, listeners: usize, splice: bool) -> usize {
    let workers = workers as u64;
    let mut reserve = RESERVE_BASE + workers * RESERVE_PER_WORKER + listeners as u64 * workers;
    let per_pair = if splice {
        reserve += workers * RESERVE_PIPES_PER_WORKER;
        6
    } else {
        2
    };
    (nofile.saturating_sub(reserve) / per_pair).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_never_exceed_either_limit() {
        let l = Arc::new(Gate::new(Some(2)));
        let p = Arc::new(Gate::new(Some(3)));
        let a = try_acquire(&l, &p).unwrap();
        let b = try_acquire(&l, &p).unwrap();
        assert!(try_acquire(&l, &p).is_none(), "listener at its limit");
        assert_eq!((l.live(), p.live()), (2, 2));
        let other = Arc::new(Gate::new(None));
        let c = try_acquire(&other, &p).unwrap();
        assert!(try_acquire(&other, &p).is_none(), "process at its limit");
        assert_eq!(
            other.live(),
            1,
            "a refused process permit gives the listener's back"
        );
        drop(a);
        assert!(l.has_room());
        let d = try_acquire(&l, &p).unwrap();
        drop((b, c, d));
        assert_eq!((l.live(), p.live(), other.live()), (0, 0, 0));
        l.set_max(None);
        assert_eq!(l.max(), None);
    }

    #[test]
    fn fd_default_leaves_a_reserve() {
        // ulimit -n 256, 2 workers, one listener: (256 - 64 - 16 - 2) / 2.
        assert_eq!(fd_default(256, 2, 1, false), 87);
        assert!(fd_default(256, 2, 1, true) >= 1);
        assert_eq!(fd_default(10, 1, 1, false), 1);
        // The benchmark's idle case: 9,900 pairs under a limit of 20,000.
        assert!(fd_default(20_000, 1, 1, false) >= 9_900);
    }
}
