//! The epoll driver: the readiness model, done the way Go's netpoller does it.
//!
//! Every pollable fd is registered once, when it is opened, accepted or adopted,
//! edge-triggered for both directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET),
//! with its poll descriptor's token in the event data (Go's pollDesc pointer). Operations try
//! the syscall first; on EAGAIN the task parks on the descriptor for that direction
//! (netpollblock → gopark). `park` calls epoll_wait with the nearest timer as its timeout and
//! turns each event into readiness, waking exactly the tasks parked there (netpollready). See
//! `pd.rs` for the state machine and the loop.

mod pd;

use crate::driver::op::{OpFile, OpState, Operation};
use crate::driver::token::{next_generation, Token};
use crate::driver::{DriverStats, OpResult};
use crate::sys::syscall;
use pd::PollDesc;
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::task::{Context, Poll};
use std::time::Duration;

/// Event data of the wake eventfd.
const WAKE_TOKEN: u64 = u64::MAX;
const EVENTS_PER_WAIT: usize = 1024;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    wake_fd: RawFd,
    pds: Slab<PollDesc>,
    generation: u32,
    events: Vec<libc::epoll_event>,
    stats: DriverStats,
}

impl Epoll {
    pub(crate) fn new(wake_fd: RawFd) -> io::Result<Epoll> {
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKE_TOKEN,
        };
        syscall!(epoll_ctl(fd, libc::EPOLL_CTL_ADD, wake_fd, &mut ev))?;
        Ok(Epoll {
            epfd,
            wake_fd,
            pds: Slab::new(),
            generation: 0,
            events: Vec::with_capacity(EVENTS_PER_WAIT),
            stats: DriverStats::default(),
        })
    }

    pub(crate) fn stats(&self) -> DriverStats {
        DriverStats {
            registered_fds: self.pds.len() as u64,
            ..self.stats
        }
    }

    /// Registers `fd` once, edge-triggered for both directions; returns its descriptor token.
    pub(crate) fn register(&mut self, fd: RawFd) -> io::Result<Token> {
        self.generation = next_generation(self.generation);
        let entry = self.pds.vacant_entry();
        let token = Token::new(entry.key(), self.generation);
        // EPOLLPRI: TCP urgent data, which cuts reads short (see `PollDesc::urgent`).
        let events =
            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET;
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: token.raw(),
        };
        syscall!(epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut ev
        ))?;
        entry.insert(PollDesc::new(self.generation));
        Ok(token)
    }

    /// Forgets a descriptor: the fd is about to be closed (or handed elsewhere). Parked tasks
    /// are woken and find the descriptor gone.
    pub(crate) fn deregister(&mut self, token: Token, fd: RawFd) {
        if self.pd(token).is_none() {
            return;
        }
        let mut pd = self.pds.remove(token.key());
        pd.wake_all();
        // The fd is closed right after; if it was dup'ed elsewhere, DEL keeps stale events
        // from reaching a reused key (they would be refused by generation anyway).
        let _ = syscall!(epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            fd,
            std::ptr::null_mut()
        ));
    }

    /// Wakes every task parked on the descriptor (an explicit close: Go's evict; or a
    /// deadline that moved). They poll again and see why.
    pub(crate) fn wake_all(&mut self, token: Token) {
        if let Some(pd) = self.pd(token) {
            pd.wake_all();
        }
    }

    /// The descriptor `token` names, if it is still registered (the generation matches).
    fn pd(&mut self, token: Token) -> Option<&mut PollDesc> {
        self.pds
            .get_mut(token.key())
            .filter(|pd| pd.generation == token.generation())
    }

    /// Tries `op` (Go's loop, in `PollDesc::attempt`), with one descriptor lookup per poll.
    #[inline(always)]
    pub(crate) fn poll_op<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let parked_before = *state == OpState::Trying;
        if *state == OpState::Unstarted {
            self.stats.ops_submitted += 1;
            *state = OpState::Trying;
        }
        let Some(dir) = op.direction() else {
            return Poll::Ready((self.attempt_once(op), 0));
        };
        let Some(token) = target.and_then(|t| t.token) else {
            // Not registered here: nothing would ever wake a parked attempt, so an EAGAIN is
            // reported as it is.
            return Poll::Ready((self.attempt_once(op), 0));
        };
        let Epoll { pds, stats, .. } = self;
        match pds
            .get_mut(token.key())
            .filter(|pd| pd.generation == token.generation())
        {
            // A readiness wait that parked: the edge that woke it completes it, no syscall.
            // (Before it has parked, a `Ready` may be stale — an edge from before the last
            // read — so its first poll tries the probe.)
            Some(pd) if parked_before && op.readiness_only() => {
                pd.await_edge(dir, cx).map(|()| (Ok(0), 0))
            }
            Some(pd) => pd.attempt(dir, op, cx, stats).map(|r| (r, 0)),
            // Deregistered: the fd was closed or handed away.
            None => Poll::Ready((Err(crate::sys::closed_error()), 0)),
        }
    }

    /// One attempt of an op that never waits (EINTR retried).
    fn attempt_once<O: Operation>(&mut self, op: &mut O) -> io::Result<u32> {
        loop {
            self.stats.io_syscalls += 1;
            match op.attempt() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return res,
            }
        }
    }

    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // epoll_wait counts milliseconds: round up, so a timer is never reported early.
        let ms = match timeout {
            None => -1,
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        self.stats.epoll_waits += 1;
        self.events.clear();
        let cap = self.events.capacity() as i32;
        let epfd = self.epfd.as_raw_fd();
        // SAFETY: the kernel writes at most `cap` events into the Vec's spare capacity.
        let n = match syscall!(epoll_wait(epfd, self.events.as_mut_ptr(), cap, ms)) {
            Ok(n) => n as usize,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: epoll_wait initialized the first `n` entries.
        unsafe { self.events.set_len(n) };
        self.stats.epoll_events += n as u64;
        for i in 0..n {
            let ev = self.events[i];
            if ev.u64 == WAKE_TOKEN {
                self.drain_wake_fd();
                continue;
            }
            match self.pd(Token::from_raw(ev.u64)) {
                Some(pd) => pd.on_event(ev.events),
                None => self.stats.stale_events += 1,
            }
        }
        Ok(())
    }

    fn drain_wake_fd(&self) {
        let mut buf = 0u64;
        // The eventfd is non-blocking: one read resets the counter; EAGAIN means it already was.
        // SAFETY: reads 8 bytes into a live local u64.
        unsafe { libc::read(self.wake_fd, (&mut buf as *mut u64).cast(), 8) };
    }

    /// Nothing is in the kernel between polls; parked tasks were dropped by the executor.
    pub(crate) fn shutdown(&mut self) {
        for (_, pd) in self.pds.iter_mut() {
            pd.wake_all();
        }
    }
}
