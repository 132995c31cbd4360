//! Poll descriptors (Go's pollDesc): the per-fd readiness state, and Go's try/park loop over it.
//!
//! Each direction has a [`Readiness`] in one of four states, as in Go's netpoll.go (nil /
//! pdReady / pdWait+G), plus tokio's "drained":
//! - empty: nothing known;
//! - ready: an edge arrived and no attempt has consumed it yet;
//! - drained: the last read came back short, so the queue is known empty;
//! - waiting: a task tried, got EAGAIN, and parked with its waker.
//!
//! The first parked task's waker stays with its direction after the wake (by reference), so
//! a task that parks on the same fd again — every read of a connection — clones nothing; a
//! different task's waker replaces it.
//!
//! An event makes the direction ready and wakes the waiters; an attempt that gets EAGAIN
//! consumes a ready state and tries again, or parks. Readiness that arrives before a task
//! parks is kept, never lost: with edge-triggered epoll there would be no second edge.

use crate::driver::op::{Direction, Operation};
use crate::driver::DriverStats;
use std::io;
use std::task::{Context, Poll, Waker};

/// Where one direction of a descriptor stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing known.
    #[default]
    Empty,
    /// Readiness arrived and has not been consumed.
    Ready,
    /// The last read came back short: the socket's receive queue was empty right after it,
    /// so the next read parks without trying (tokio's readiness clearing). Any later data makes
    /// a new edge. Never set once the peer has hung up or urgent data was seen.
    Drained,
    /// Tasks are parked here: usually one (`Readiness::waker`, no allocation); more when
    /// several tasks wait on the same fd in the same direction (e.g. accept loops sharing a
    /// listener), which Go's fdMutex forbids but corio allows — the others in
    /// `Readiness::more`. All are woken and retry; the losers park again.
    Waiting,
}

/// One direction of a descriptor: its state, and the wakers of the tasks parked on it.
#[derive(Debug, Default)]
struct Readiness {
    state: State,
    /// The first parked task's waker while `Waiting`. It stays after that task is woken (by
    /// reference), so that the same task parking here again does not clone its waker: it is
    /// replaced only by a waker that would not wake the same task, and dropped with the
    /// descriptor (when the fd is deregistered).
    waker: Option<Waker>,
    /// The other tasks parked at once (rare): woken by value, and gone, when the first is
    /// woken; empty unless `Waiting`.
    more: Vec<Waker>,
}

impl Readiness {
    /// An event arrived: remember it and wake the parked tasks, if any.
    fn set_ready(&mut self) {
        if std::mem::replace(&mut self.state, State::Ready) == State::Waiting {
            self.wake_parked();
        }
    }

    /// Wakes the parked tasks without readiness: they poll again and decide (the fd closing,
    /// a deadline moved).
    fn wake(&mut self) {
        if self.state == State::Waiting {
            self.state = State::Empty;
            self.wake_parked();
        }
    }

    fn wake_parked(&mut self) {
        if let Some(first) = &self.waker {
            first.wake_by_ref();
        }
        if !self.more.is_empty() {
            self.wake_more();
        }
    }

    #[cold]
    fn wake_more(&mut self) {
        std::mem::take(&mut self.more)
            .into_iter()
            .for_each(Waker::wake);
    }

    /// netpollblock after EAGAIN: consume readiness (`Ready`: try again) or park (`Pending`).
    #[inline(always)]
    fn park(&mut self, cx: &Context<'_>) -> Poll<()> {
        let w = cx.waker();
        match self.state {
            State::Ready => {
                self.state = State::Empty;
                Poll::Ready(())
            }
            State::Waiting => {
                let first = self.waker.as_ref().is_some_and(|f| f.will_wake(w));
                if !first && !self.more.iter().any(|m| m.will_wake(w)) {
                    self.more.push(w.clone());
                }
                Poll::Pending
            }
            State::Empty | State::Drained => {
                match &mut self.waker {
                    Some(kept) if kept.will_wake(w) => {}
                    kept => *kept = Some(w.clone()),
                }
                self.state = State::Waiting;
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
            read: Readiness::default(),
            write: Readiness::default(),
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
            if self.half(dir).state == State::Drained {
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
        if matches!(half.state, State::Empty | State::Ready) {
            half.state = State::Drained;
        }
    }

    /// Wakes every parked task, both directions, without readiness (Go's evict on close; a
    /// deadline moved). They poll again and find out why.
    pub(crate) fn wake_all(&mut self) {
        self.read.wake();
        self.write.wake();
    }
}
