//! Poll descriptors (Go's pollDesc): the per-socket readiness state.
//!
//! Each direction has a slot in one of three states, as in Go's netpoll.go (nil / pdReady /
//! pdWait+G):
//! - empty: nothing known;
//! - ready: an edge arrived and no attempt has consumed it yet;
//! - waiting: a task tried, got EAGAIN, and parked with its waker.
//!
//! An event makes the slot ready and wakes the waiter; an attempt that gets EAGAIN consumes a
//! ready slot and tries again, or parks. Readiness that arrives before a task parks is kept,
//! never lost: with edge-triggered epoll there would be no second edge.

use std::io;
use std::task::{Context, Poll, Waker};

/// Which half of a socket an operation waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

#[derive(Debug, Default)]
enum Readiness {
    /// Nothing known.
    #[default]
    Empty,
    /// Readiness arrived and has not been consumed.
    Ready,
    /// The last read came back short: the socket's receive queue was empty right after it,
    /// so the next read parks without trying (tokio's readiness clearing). Any later data makes
    /// a new edge. Never set once the peer has hung up (see `PollDesc::hup`).
    Drained,
    /// Tasks are parked here: usually one; more when several tasks wait on the same socket
    /// in the same direction (e.g. accept loops sharing a listener), which Go's fdMutex
    /// forbids but corio allows. All are woken and retry; the losers park again.
    Waiting(Vec<Waker>),
}

impl Readiness {
    /// An event arrived: remember it and wake the parked task, if any.
    fn set_ready(&mut self) {
        if let Readiness::Waiting(wakers) = std::mem::replace(self, Readiness::Ready) {
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

pub(crate) struct PollDesc {
    pub(crate) generation: u32,
    read: Readiness,
    write: Readiness,
    closing: bool,
    /// EPOLLRDHUP, EPOLLHUP or EPOLLERR was seen: no further edge may come, so reads must
    /// always try the syscall (which returns the rest of the data, then EOF or the error).
    hup: bool,
    /// EPOLLPRI was seen (TCP urgent data): a read stops short at the urgent mark with data
    /// queued behind it, so from now on a short read proves nothing (sticky: urgent data is
    /// rare, and a wrong `Drained` would park a read forever).
    urgent: bool,
}

pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

impl PollDesc {
    pub(crate) fn new(generation: u32) -> PollDesc {
        PollDesc {
            generation,
            read: Readiness::Empty,
            write: Readiness::Empty,
            closing: false,
            hup: false,
            urgent: false,
        }
    }

    fn slot(&mut self, dir: Direction) -> &mut Readiness {
        match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// netpollready: EPOLLIN/EPOLLRDHUP → read; EPOLLOUT → write; HUP/ERR → both, so parked
    /// tasks see EOF or the error.
    pub(crate) fn on_event(&mut self, events: u32) {
        let events = events as i32;
        let err = events & (libc::EPOLLHUP | libc::EPOLLERR) != 0;
        if err || events & libc::EPOLLRDHUP != 0 {
            self.hup = true;
        }
        if events & libc::EPOLLPRI != 0 {
            self.urgent = true;
        }
        if err || events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0 {
            self.read.set_ready();
        }
        if err || events & libc::EPOLLOUT != 0 {
            self.write.set_ready();
        }
    }

    /// netpollblock after EAGAIN: consume readiness (try again) or park.
    pub(crate) fn poll_ready(&mut self, dir: Direction, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if self.closing {
            return Poll::Ready(Err(closed_error()));
        }
        let slot = self.slot(dir);
        match slot {
            Readiness::Ready => {
                *slot = Readiness::Empty;
                Poll::Ready(Ok(()))
            }
            Readiness::Waiting(wakers) => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
            Readiness::Empty | Readiness::Drained => {
                *slot = Readiness::Waiting(vec![cx.waker().clone()]);
                Poll::Pending
            }
        }
    }

    /// True if the next attempt in `dir` is known to find nothing (see `Readiness::Drained`).
    pub(crate) fn is_drained(&self, dir: Direction) -> bool {
        let slot = match dir {
            Direction::Read => &self.read,
            Direction::Write => &self.write,
        };
        matches!(slot, Readiness::Drained)
    }

    /// A read came back short: park the next one without trying, unless the peer hung up or
    /// urgent data was seen.
    /// A `Ready` left in the slot is stale: events are only handled in the driver's park, on
    /// this thread, so the edge it records came before the read that just emptied the
    /// socket; data arriving later makes a new edge. Parked tasks stay parked.
    pub(crate) fn mark_drained(&mut self, dir: Direction) {
        if self.hup || self.closing || self.urgent {
            return;
        }
        let slot = self.slot(dir);
        if matches!(slot, Readiness::Empty | Readiness::Ready) {
            *slot = Readiness::Drained;
        }
    }

    /// Go's evict on close: mark closing and wake both directions.
    pub(crate) fn evict(&mut self) {
        self.closing = true;
        self.read.set_ready();
        self.write.set_ready();
    }
}
