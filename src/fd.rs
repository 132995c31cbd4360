//! `SharedFd`: a file descriptor shared by a socket and its operations, closed when the last
//! of them lets go (Go's fdMutex reference rule).
//!
//! Invariants (docs/architecture.md, "Closing"):
//! - Every op holds a clone, so the fd number stays open, and cannot be reused by a new socket,
//!   while any operation on it may still complete — including an op whose future was dropped
//!   and whose resources now wait in the driver's slot.
//! - `close()` is Go's evict: it marks the fd closing, fails new operations, wakes parked tasks
//!   (epoll) or cancels in-flight ops (io_uring); the number is released by the last drop.
//! - The read side keeps what dropped reads and accepts delivered late (lossless
//!   cancellation): bytes, EOF or an error, and accepted connections. A new read or accept
//!   first waits for such orphans to complete, so bytes keep their order.

use crate::driver::epoll::Direction;
use crate::driver::Driver;
use crate::runtime::context;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// Bytes a dropped read received, with the sender for datagram reads.
pub(crate) struct Chunk {
    pub(crate) data: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) from: Option<SocketAddr>,
}

#[derive(Default)]
pub(crate) struct ReadSide {
    pub(crate) chunks: RefCell<VecDeque<Chunk>>,
    pub(crate) eof: Cell<bool>,
    pub(crate) error: RefCell<Option<io::Error>>,
    pub(crate) accepted: RefCell<VecDeque<OwnedFd>>,
    /// Dropped reads or accepts still in flight.
    orphans: Cell<u32>,
    waiters: RefCell<Vec<Waker>>,
}

pub(crate) struct FdInner {
    /// -1 once an explicit close took the number.
    fd: Cell<RawFd>,
    /// The executor whose driver knows this fd.
    core: u64,
    /// Made with `new` (a socket, pipe, signalfd...: registered with epoll), not `new_unpolled`.
    polled: bool,
    /// The poll descriptor token on the epoll driver; `None` on io_uring.
    token: Cell<Option<u64>>,
    closing: Cell<bool>,
    pub(crate) read: ReadSide,
    /// Read and write deadlines (Go's rd / wd), indexed by `Direction`.
    deadlines: [Cell<Option<Instant>>; 2],
    /// Operations waiting on this fd, woken when a deadline moves so they re-read it; each
    /// registers while pending and leaves when it completes or is dropped.
    deadline_watchers: RefCell<Vec<(u64, Waker)>>,
    next_watch_id: Cell<u64>,
}

/// A reference-counted fd; see the module docs.
#[derive(Clone)]
pub(crate) struct SharedFd(Rc<FdInner>);

impl SharedFd {
    /// Takes ownership of `fd` and registers it with the current driver (epoll: once,
    /// edge-triggered, both directions).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<SharedFd> {
        context::with_core(|core| {
            let token = match &mut *core.driver.borrow_mut() {
                Driver::Epoll(epoll) => Some(epoll.register(fd.as_raw_fd())?),
                Driver::Uring(_) => None,
            };
            Ok(SharedFd(Rc::new(FdInner {
                fd: Cell::new(fd.into_raw_fd()),
                core: core.id(),
                polled: true,
                token: Cell::new(token),
                closing: Cell::new(false),
                read: ReadSide::default(),
                deadlines: Default::default(),
                deadline_watchers: RefCell::default(),
                next_watch_id: Cell::new(0),
            })))
        })
    }

    /// Takes ownership of an fd that epoll cannot poll (a regular file): never registered; on
    /// the readiness driver its operations are plain blocking syscalls.
    pub(crate) fn new_unpolled(fd: OwnedFd) -> io::Result<SharedFd> {
        context::with_core(|core| {
            Ok(SharedFd(Rc::new(FdInner {
                fd: Cell::new(fd.into_raw_fd()),
                core: core.id(),
                polled: false,
                token: Cell::new(None),
                closing: Cell::new(false),
                read: ReadSide::default(),
                deadlines: Default::default(),
                deadline_watchers: RefCell::default(),
                next_watch_id: Cell::new(0),
            })))
        })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd.get()
    }

    pub(crate) fn token(&self) -> Option<u64> {
        self.0.token.get()
    }

    /// True for fds made with `new` (registered with epoll on the epoll driver).
    pub(crate) fn is_polled(&self) -> bool {
        self.0.polled
    }

    /// On the readiness driver, a polled fd can only wait on the executor it was registered
    /// with: its poll descriptor lives in that executor's table (a token looked up elsewhere
    /// would name another socket's descriptor), and a socket made under io_uring is blocking.
    pub(crate) fn check_executor(&self, core: u64) -> io::Result<()> {
        if !self.0.polled || self.0.core == core {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this socket belongs to another corio executor (its epoll registration lives \
             there); move sockets between executors with into_std and from_std",
        ))
    }

    pub(crate) fn read_side(&self) -> &ReadSide {
        &self.0.read
    }

    /// The deadline for operations in direction `dir`, if any.
    pub(crate) fn deadline(&self, dir: Direction) -> Option<Instant> {
        self.0.deadlines[dir as usize].get()
    }

    /// Go's SetReadDeadline / SetWriteDeadline: applies to operations already waiting as well
    /// as to later ones; `None` removes it. Waiting operations are woken to re-read it.
    pub(crate) fn set_deadline(&self, dir: Direction, deadline: Option<Instant>) {
        self.0.deadlines[dir as usize].set(deadline);
        let watchers = std::mem::take(&mut *self.0.deadline_watchers.borrow_mut());
        watchers.into_iter().for_each(|(_, w)| w.wake());
    }

    /// Registers (or refreshes) the waker of waiting operation `id`, so that moving a deadline
    /// reaches it. `id` is allocated on first use.
    pub(crate) fn watch_deadline(&self, id: &mut Option<u64>, waker: &Waker) {
        let id = *id.get_or_insert_with(|| {
            let next = self.0.next_watch_id.get();
            self.0.next_watch_id.set(next + 1);
            next
        });
        let mut watchers = self.0.deadline_watchers.borrow_mut();
        match watchers.iter_mut().find(|(w, _)| *w == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => watchers.push((id, waker.clone())),
        }
    }

    /// Operation `id` stopped waiting.
    pub(crate) fn unwatch_deadline(&self, id: u64) {
        self.0
            .deadline_watchers
            .borrow_mut()
            .retain(|(w, _)| *w != id);
    }

    /// Keeps the outcome of a dropped read for the next read (lossless cancellation) — unless
    /// `close` was called: nothing will read it, so it is dropped now.
    pub(crate) fn keep_read(&self, outcome: io::Result<Option<Chunk>>) {
        if !self.0.closing.get() {
            self.0.read.keep(outcome);
        }
    }

    /// Keeps a connection a dropped accept received, for the next accept — unless `close` was
    /// called: it is closed now rather than held until the listener is dropped.
    pub(crate) fn keep_accepted(&self, conn: OwnedFd) {
        if !self.0.closing.get() {
            self.0.read.accepted.borrow_mut().push_back(conn);
        }
    }

    /// Fails if `close` was called.
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.0.closing.get() {
            Err(closed())
        } else {
            Ok(())
        }
    }

    /// Go's fd.Close: mark closing, make parked or in-flight operations fail, release the fd
    /// number when the last operation lets go. Idempotent.
    pub(crate) fn close(&self) {
        if self.0.closing.replace(true) {
            return;
        }
        context::try_with_core(|core| {
            if core.id() != self.0.core {
                return;
            }
            match &mut *core.driver.borrow_mut() {
                Driver::Epoll(epoll) => {
                    if let Some(token) = self.0.token.get() {
                        epoll.evict(token);
                    }
                }
                Driver::Uring(ring) => ring.cancel_fd(self.0.fd.get()),
            }
        });
        // Connections a dropped accept left behind, and bytes a dropped read left, go now.
        self.0.read.accepted.borrow_mut().clear();
        self.0.read.chunks.borrow_mut().clear();
        self.0.read.wake_all();
    }

    /// If no operation holds the fd any more, takes the number out (deregistered, not closed)
    /// so the caller can close it and see the result. Otherwise `None`: the last operation to
    /// let go releases it (Go's fdMutex rule).
    pub(crate) fn take_if_last(&self) -> Option<RawFd> {
        if Rc::strong_count(&self.0) != 1 {
            return None;
        }
        self.0.deregister();
        Some(self.0.fd.replace(-1)).filter(|&fd| fd >= 0)
    }

    /// Waits until no dropped read or accept is still in flight on this fd.
    pub(crate) async fn wait_orphans(&self) {
        if self.0.read.orphans.get() == 0 {
            return;
        }
        poll_fn(|cx| {
            if self.0.read.orphans.get() == 0 || self.0.closing.get() {
                Poll::Ready(())
            } else {
                self.0.read.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl ReadSide {
    pub(crate) fn orphan_started(&self) {
        self.orphans.set(self.orphans.get() + 1);
    }

    pub(crate) fn orphan_finished(&self) {
        self.orphans.set(self.orphans.get().saturating_sub(1));
        if self.orphans.get() == 0 {
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Keeps the outcome of a dropped read: bytes, EOF (`Ok(None)`), or an error.
    pub(crate) fn keep(&self, outcome: io::Result<Option<Chunk>>) {
        match outcome {
            // An empty stream read is EOF (`Ok(None)`); an empty datagram is a datagram.
            Ok(Some(chunk)) if chunk.data.is_empty() && chunk.from.is_none() => {}
            Ok(Some(chunk)) => self.chunks.borrow_mut().push_back(chunk),
            Ok(None) => self.eof.set(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::EINTR)) => {}
            Err(e) => *self.error.borrow_mut() = Some(e),
        }
    }

    /// True if a dropped read left something for the next read.
    pub(crate) fn has_stash(&self) -> bool {
        !self.chunks.borrow().is_empty() || self.eof.get() || self.error.borrow().is_some()
    }
}

pub(crate) fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

impl FdInner {
    fn deregister(&self) {
        if let Some(token) = self.token.take() {
            context::try_with_core(|core| {
                if core.id() != self.core {
                    return;
                }
                if let Ok(mut driver) = core.driver.try_borrow_mut() {
                    if let Driver::Epoll(epoll) = &mut *driver {
                        epoll.deregister(token, self.fd.get());
                    }
                }
            });
        }
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        self.deregister();
        let fd = self.fd.get();
        if fd < 0 {
            return;
        }
        // Nothing can report an error from a drop; the fd is released even when close(2)
        // fails. Call `close()` on the socket for an explicit, awaited close.
        let _ = crate::sys::close(fd);
    }
}
