//! Poll descriptors (Go's pollDesc): the per-fd readiness state, and Go's try/park loop over it.
//!
//! Each direction has a [`Readiness`] in one of four states, as in Go's netpoll.go (nil /
//! pdReady / pdWait+G), plus tokio's "drained":
//! - empty: nothing known;
//! - ready: an edge arrived and no attempt has consumed it yet;
//! - drained: the last read came back short, so the queue is known empty;
//! - waiting: a task tried, got EAGAIN, and parked with its waker.
//!
//! An event makes the direction ready and wakes the waiters; an attempt that gets EAGAIN
//! consumes a ready state and tries again, or parks. Readiness that arrives before a task
//! parks is kept, never lost: with edge-triggered epoll there would be no second edge.

use crate::driver::op::{Direction, Operation};
use crate::driver::DriverStats;
use std::io;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
enum Readiness {
    /// Nothing known.
    #[default]
    Empty,
    /// Readiness arrived and has not been consumed.
    Ready,
    /// The last read came back short: the socket's receive queue was empty right after it,
    /// so the next read parks without trying (tokio's readiness clearing). Any later data makes
    /// a new edge. Never set once the peer has hung up or urgent data was seen.
    Drained,
    /// Tasks are parked here: usually one (no allocation); more when several tasks wait on
    /// the same fd in the same direction (e.g. accept loops sharing a listener), which Go's
    /// fdMutex forbids but corio allows — the others in the `Vec`. All are woken and retry; the
    /// losers park again.
    Waiting(Waker, Vec<Waker>),
}

impl Readiness {
    /// An event arrived: remember it and wake the parked tasks, if any.
    fn set_ready(&mut self) {
        if let Readiness::Waiting(first, more) = std::mem::replace(self, Readiness::Ready) {
            first.wake();
            more.into_iter().for_each(Waker::wake);
        }
    }

    /// Wakes the parked tasks without readiness: they poll again and decide (the fd closing,
    /// a deadline moved).
    fn wake(&mut self) {
        if let Readiness::Waiting(first, more) = std::mem::take(self) {
            first.wake();
            more.into_iter().for_each(Waker::wake);
        }
    }

    /// netpollblock after EAGAIN: consume readiness (`Ready`: try again) or park (`Pending`).
    #[inline(always)]
    fn park(&mut self, cx: &Context<'_>) -> Poll<()> {
        match self {
            Readiness::Ready => {
                *self = Readiness::Empty;
                Poll::Ready(())
            }
            Readiness::Waiting(first, more) => {
                let w = cx.waker();
                if !first.will_wake(w) && !more.iter().any(|m| m.will_wake(w)) {
                    more.push(w.clone());
                }
                Poll::Pending
            }
            Readiness::Empty | Readiness::Drained => {
                // Nothing to drop in the state replaced (no drop glue on the hot path).
                let empty =
                    std::mem::replace(self, Readiness::Waiting(cx.waker().clone(), Vec::new()));
                std::mem::forget(empty);
                Poll::Pending
            }
        }
    }
}

pub(crate) struct PollDesc {
    pub(crate) generation: u32,
    read: Readiness,
    write: Readiness,
    /// EPOLLRDHUP, EPOLLHUP or EPOLLERR was seen: no further edge may come, so reads must
    /// always try the syscall (which returns the rest of the data, then EOF or the error).
    hup: bool,
    /// EPOLLPRI was seen (TCP urgent data): a read stops short at the urgent mark with data
    /// queued behind it, so from now on a short read proves nothing (sticky: urgent data is
    /// rare, and a wrong `Drained` would park a read forever).
    urgent: bool,
}

impl PollDesc {
    pub(crate) fn new(generation: u32) -> PollDesc {
        PollDesc {
            generation,
            read: Readiness::Empty,
            write: Readiness::Empty,
            hup: false,
            urgent: false,
        }
    }

    #[inline(always)]
    fn half(&mut self, dir: Direction) -> &mut Readiness {
        match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }

    /// netpollready: EPOLLIN/EPOLLRDHUP/EPOLLPRI → read; EPOLLOUT → write; HUP/ERR → both, so
    /// parked tasks see EOF or the error.
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

    /// Go's loop for one attempt of `op` in direction `dir`: try the syscall; on EAGAIN
    /// consume readiness and try again, or park. A read known drained parks without trying.
    /// Each counter is bumped where its event happens.
    #[inline(always)]
    pub(crate) fn attempt<O: Operation>(
        &mut self,
        dir: Direction,
        op: &mut O,
        cx: &Context<'_>,
        stats: &mut DriverStats,
    ) -> Poll<io::Result<u32>> {
        loop {
            if matches!(self.half(dir), Readiness::Drained) {
                // A short read emptied the socket and no edge has come since: park without the
                // syscall that would only say EAGAIN.
                if self.half(dir).park(cx).is_pending() {
                    stats.eagain += 1;
                    return Poll::Pending;
                }
            }
            stats.io_syscalls += 1;
            match op.attempt() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if crate::sys::would_block(&e) => {
                    if self.half(dir).park(cx).is_pending() {
                        stats.eagain += 1;
                        return Poll::Pending;
                    }
                }
                Ok(n) => {
                    if op.drains(n) {
                        self.mark_drained(dir);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// A readiness wait that has parked before: done if an edge came since (consumed), else
    /// parked again. A wake without readiness (a deadline moved) leaves nothing consumed.
    pub(crate) fn await_edge(&mut self, dir: Direction, cx: &Context<'_>) -> Poll<()> {
        self.half(dir).park(cx)
    }

    /// A read came back short: park the next one without trying, unless the peer hung up or
    /// urgent data was seen. A `Ready` left in the slot is stale: events are only handled in
    /// the driver's park, on this thread, so the edge it records came before the read that just
    /// emptied the socket; data arriving later makes a new edge. Parked tasks stay parked.
    #[inline(always)]
    fn mark_drained(&mut self, dir: Direction) {
        if self.hup || self.urgent {
            return;
        }
        let half = self.half(dir);
        if matches!(half, Readiness::Empty | Readiness::Ready) {
            *half = Readiness::Drained;
        }
    }

    /// Wakes every parked task, both directions, without readiness (Go's evict on close; a
    /// deadline moved). They poll again and find out why.
    pub(crate) fn wake_all(&mut self) {
        self.read.wake();
        self.write.wake();
    }
}
