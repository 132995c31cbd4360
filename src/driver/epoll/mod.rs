//! The epoll driver: the readiness model, done the way Go's netpoller does it.
//!
//! Every socket is registered once, when it is opened or accepted, edge-triggered for both
//! directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET), with its poll descriptor's key and
//! generation in the event data (Go's pollDesc pointer). Operations try the syscall first; on
//! EAGAIN the task parks on the descriptor's slot for that direction (netpollblock → gopark).
//! `park` calls epoll_wait with the nearest timer as its timeout and turns each event into
//! readiness, waking exactly the tasks parked there (netpollready). See `pd.rs` for the slot
//! state machine.

mod pd;

pub(crate) use pd::Direction;
use pd::PollDesc;

use crate::driver::DriverStats;
use crate::sys::syscall;
use slab::Slab;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
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
    pub(crate) stats: DriverStats,
}

fn token(key: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | key as u64
}

fn split(token: u64) -> (usize, u32) {
    ((token & 0xffff_ffff) as usize, (token >> 32) as u32)
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

    fn epfd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.epfd.as_raw_fd()
    }

    /// Registers `fd` once, edge-triggered for both directions; returns its descriptor token.
    pub(crate) fn register(&mut self, fd: RawFd) -> io::Result<u64> {
        self.generation = self.generation.wrapping_add(1);
        let epfd = self.epfd();
        let entry = self.pds.vacant_entry();
        let token = token(entry.key(), self.generation);
        // EPOLLPRI: TCP urgent data, which cuts reads short (see `PollDesc::urgent`).
        let events =
            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET;
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: token,
        };
        syscall!(epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev))?;
        entry.insert(PollDesc::new(self.generation));
        Ok(token)
    }

    /// Forgets a descriptor: the fd is about to be closed (which also removes it from epoll).
    /// Any parked task is woken and will see the descriptor gone.
    pub(crate) fn deregister(&mut self, token: u64, fd: RawFd) {
        let (key, generation) = split(token);
        if self
            .pds
            .get(key)
            .is_some_and(|pd| pd.generation == generation)
        {
            let mut pd = self.pds.remove(key);
            pd.evict();
            // The fd is closed right after; if it was dup'ed elsewhere, DEL keeps stale events
            // from reaching a reused key (and they would be refused by generation anyway).
            let _ = syscall!(epoll_ctl(
                self.epfd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut()
            ));
        }
    }

    /// Marks the descriptor closing (Go's evict): parked tasks wake and every later attempt
    /// fails with "use of closed network connection". The fd itself stays open until its last
    /// user is gone, so its number cannot be reused under a waiter.
    pub(crate) fn evict(&mut self, token: u64) {
        if let Some(pd) = self.pd(token) {
            pd.evict();
        }
    }

    fn pd(&mut self, token: u64) -> Option<&mut PollDesc> {
        let (key, generation) = split(token);
        self.pds
            .get_mut(key)
            .filter(|pd| pd.generation == generation)
    }

    /// After a syscall said EAGAIN: `Ready(Ok)` if readiness arrived meanwhile (try again),
    /// `Pending` once the task is parked, `Ready(Err)` if the descriptor is closing.
    pub(crate) fn poll_ready(
        &mut self,
        token: u64,
        dir: Direction,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.stats.eagain += 1;
        match self.pd(token) {
            Some(pd) => pd.poll_ready(dir, cx),
            None => Poll::Ready(Err(pd::closed_error())),
        }
    }

    /// True if the next attempt in `dir` should park without a syscall (a short read left
    /// the socket empty and no edge has come since).
    pub(crate) fn is_drained(&mut self, token: u64, dir: Direction) -> bool {
        self.pd(token).is_some_and(|pd| pd.is_drained(dir))
    }

    /// Records that a read came back short (see `is_drained`).
    pub(crate) fn mark_drained(&mut self, token: u64, dir: Direction) {
        if let Some(pd) = self.pd(token) {
            pd.mark_drained(dir);
        }
    }

    /// Fails fast if the descriptor is closing (checked before every attempt, like Go's
    /// fdMutex rwlock).
    pub(crate) fn check_open(&mut self, token: u64) -> io::Result<()> {
        self.stats.io_syscalls += 1;
        match self.pd(token) {
            Some(pd) if !pd.is_closing() => Ok(()),
            _ => Err(pd::closed_error()),
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
        // SAFETY: the kernel writes at most `cap` events into the Vec's spare capacity.
        let n = match syscall!(epoll_wait(self.epfd(), self.events.as_mut_ptr(), cap, ms)) {
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
            let (key, generation) = split(ev.u64);
            match self
                .pds
                .get_mut(key)
                .filter(|pd| pd.generation == generation)
            {
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

    pub(crate) fn shutdown(&mut self) {
        for (_, pd) in self.pds.iter_mut() {
            pd.evict();
        }
    }

    /// Registered descriptors (for tests: back to baseline after a storm).
    pub(crate) fn registered(&self) -> usize {
        self.pds.len()
    }
}
