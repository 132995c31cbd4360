//! `SharedFd`: a file descriptor shared by a socket or file and its operations, closed when the
//! last of them lets go (Go's fdMutex reference rule).
//!
//! Invariants (docs/architecture.md, "Closing"):
//! - Every op holds a clone, so the fd number stays open, and cannot be reused by a new socket,
//!   while any operation on it may still complete — including an op whose future was dropped
//!   and whose resources now wait in the driver's slot.
//! - `close()` is Go's evict: it marks the fd closing (the one closing state: new operations
//!   fail, see `check_open`), and has the driver cancel (io_uring) or wake (epoll) the ops on
//!   it; the number is released by the last drop.
//! - What dropped reads and accepts delivered late is kept on the read side (`stash.rs`); the
//!   deadlines live in `deadline.rs`.
//! - A socket in the ring's registered-file table (`Builder::registered_fds`) holds its slot
//!   here (`fixed.rs`), with or without an fd: one accepted directly into the table has none
//!   until something asks for one (`real_fd`). The slot follows the fd's rules: released by the
//!   last operation to let go.

mod deadline;
mod fixed;
mod stash;

pub(crate) use deadline::Moved;
pub(crate) use fixed::Taken;
pub(crate) use stash::{Accepted, Chunk, Orphans, ReadSide};

use crate::driver::{Direction, FileRef, FixedFile, Token};
use crate::runtime::context;
use deadline::Deadlines;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::Waker;
use std::time::Instant;

pub(crate) struct FdInner {
    /// -1 once an explicit close took the number, and for a socket that only has a slot in the
    /// ring's registered files (until `real_fd` installs one).
    fd: Cell<RawFd>,
    /// The socket's slot in the ring's registered files, if it has one: its ops name the slot.
    fixed: RefCell<Option<FixedFile>>,
    /// The executor whose driver knows this fd.
    core: u64,
    /// Made with `new` (a socket, pipe, signalfd...: registered for readiness), not
    /// `new_unpolled` (a regular file).
    polled: bool,
    /// The registration with the epoll driver; `None` on io_uring.
    token: Cell<Option<Token>>,
    closing: Cell<bool>,
    /// The socket or file that made this fd still exists (see `SharedFd::owner`).
    owner_alive: Cell<bool>,
    read: ReadSide,
    /// Dropped writes still in flight: a new write waits for them, so bytes keep their order.
    write_orphans: Orphans,
    deadlines: Deadlines,
}

/// A reference-counted fd; see the module docs.
pub(crate) struct SharedFd {
    inner: Rc<FdInner>,
    /// The handle of the socket or file itself (made by `new`); clones are the operations'.
    /// After `close()`, the last operation to let go releases the number even while the
    /// socket value lives on (Go's decref after Close), so a peer sees the close promptly.
    owner: bool,
}

impl Clone for SharedFd {
    fn clone(&self) -> SharedFd {
        SharedFd {
            inner: self.inner.clone(),
            owner: false,
        }
    }
}

impl Drop for SharedFd {
    fn drop(&mut self) {
        let inner = &self.inner;
        if self.owner {
            inner.owner_alive.set(false);
        } else if inner.closing.get() && inner.owner_alive.get() && Rc::strong_count(inner) == 2 {
            // The last operation lets go of a closed fd; only the socket value is left.
            inner.release();
        }
    }
}

impl SharedFd {
    /// Takes ownership of `fd` and registers it with the current driver (epoll: once,
    /// edge-triggered, both directions).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<SharedFd> {
        let (core, token) =
            context::with_driver(|id, d| d.register(fd.as_raw_fd()).map(|t| (id, t)))?;
        Ok(SharedFd::wrap(fd, core, true, token))
    }

    /// Takes ownership of an fd that epoll cannot poll (a regular file): never registered; on
    /// the readiness driver its operations run on the blocking pool.
    pub(crate) fn new_unpolled(fd: OwnedFd) -> io::Result<SharedFd> {
        let core = context::with_core(|core| core.id());
        Ok(SharedFd::wrap(fd, core, false, None))
    }

    fn wrap(fd: OwnedFd, core: u64, polled: bool, token: Option<Token>) -> SharedFd {
        SharedFd::from_parts(fd.into_raw_fd(), None, core, polled, token)
    }

    fn from_parts(
        fd: RawFd,
        fixed: Option<FixedFile>,
        core: u64,
        polled: bool,
        token: Option<Token>,
    ) -> SharedFd {
        let inner = Rc::new(FdInner {
            fd: Cell::new(fd),
            fixed: RefCell::new(fixed),
            core,
            polled,
            token: Cell::new(token),
            closing: Cell::new(false),
            owner_alive: Cell::new(true),
            read: ReadSide::default(),
            write_orphans: Orphans::default(),
            deadlines: Deadlines::default(),
        });
        SharedFd { inner, owner: true }
    }

    /// The fd number: -1 once closed, and for a socket that only has a registered slot (see
    /// `real_fd`).
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.get()
    }

    /// What its ops name: the registered slot if it has one, else the fd.
    pub(crate) fn file_ref(&self) -> FileRef {
        match self.fixed_index() {
            Some(index) => FileRef::Fixed(index),
            None => FileRef::Fd(self.raw()),
        }
    }

    /// The number for an SQE's fd field: the slot if it has one (the driver then sets
    /// IOSQE_FIXED_FILE, since `file_ref` says so), else the fd.
    pub(crate) fn sqe_fd(&self) -> RawFd {
        match self.fixed_index() {
            Some(index) => index as RawFd,
            None => self.raw(),
        }
    }

    /// The registered slot, if any.
    pub(crate) fn fixed_index(&self) -> Option<u32> {
        self.inner.fixed.borrow().as_ref().map(FixedFile::index)
    }

    pub(crate) fn token(&self) -> Option<Token> {
        self.inner.token.get()
    }

    pub(crate) fn read_side(&self) -> &ReadSide {
        &self.inner.read
    }

    /// The dropped operations of direction `dir` still in flight on this fd.
    pub(crate) fn orphans(&self, dir: Direction) -> &Orphans {
        match dir {
            Direction::Read => self.inner.read.orphans(),
            Direction::Write => &self.inner.write_orphans,
        }
    }

    /// True for fds made with `new` (registered for readiness on the epoll driver).
    pub(crate) fn is_polled(&self) -> bool {
        self.inner.polled
    }

    /// On the readiness driver, a polled fd can only wait on the executor it was registered
    /// with: its poll descriptor lives in that executor's table (a token looked up elsewhere
    /// would name another socket's descriptor), and a socket made under io_uring is blocking.
    /// A registered slot, likewise, names a file only in its own ring's table.
    pub(crate) fn check_executor(&self, core: u64) -> io::Result<()> {
        if !self.inner.polled || self.inner.core == core {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this socket belongs to another corio executor (its epoll registration or its slot \
             in the ring's registered files lives there); move sockets between executors with \
             into_std and from_std",
        ))
    }

    /// Fails if `close` was called (Go's fdMutex: a closed fd fails new operations fast).
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.inner.closing.get() {
            Err(crate::sys::closed_error())
        } else {
            Ok(())
        }
    }

    /// The deadline for operations in direction `dir`, if any.
    pub(crate) fn deadline(&self, dir: Direction) -> Option<Instant> {
        self.inner.deadlines.get(dir)
    }

    /// Go's SetReadDeadline / SetWriteDeadline: applies to operations already waiting as well
    /// as to later ones; `None` removes it. Waiting operations are woken to re-read it.
    pub(crate) fn set_deadline(&self, dir: Direction, deadline: Option<Instant>) {
        if let Moved::WakeAll = self.inner.deadlines.set(dir, deadline) {
            let (fd, fixed, token) = (self.raw(), self.fixed_index(), self.token());
            self.with_own_driver(|d| d.wake_fd(fd, fixed, token));
        }
    }

    /// Registers waiting op `id` to be woken when a deadline moves, once any deadline has
    /// been set on this fd (see `deadline.rs`); true if it registered.
    pub(crate) fn watch_deadline(&self, id: &mut Option<u64>, waker: &Waker) -> bool {
        if !self.inner.deadlines.watched() {
            return false;
        }
        self.inner.deadlines.watch(id, waker);
        true
    }

    pub(crate) fn unwatch_deadline(&self, id: u64) {
        self.inner.deadlines.unwatch(id);
    }

    /// Keeps the outcome of a dropped read for the next read (lossless cancellation) — unless
    /// `close` was called: nothing will read it, so it is dropped now.
    pub(crate) fn keep_read(&self, outcome: io::Result<Option<Chunk>>) {
        if !self.inner.closing.get() {
            self.inner.read.keep(outcome);
        }
    }

    /// Keeps a connection a dropped accept received, for the next accept — unless `close` was
    /// called: it is closed now rather than held until the listener is dropped.
    pub(crate) fn keep_accepted(&self, conn: Accepted) {
        if !self.inner.closing.get() {
            self.inner.read.keep_accepted(conn);
        }
    }

    /// Go's fd.Close: mark closing, make parked or in-flight operations end, release the fd
    /// number when the last operation lets go. Idempotent.
    pub(crate) fn close(&self) {
        if self.inner.closing.replace(true) {
            return;
        }
        let (fd, fixed, token) = (self.raw(), self.fixed_index(), self.token());
        self.with_own_driver(|d| d.close_fd(fd, fixed, token));
        // Connections a dropped accept left behind, and bytes a dropped read left, go now.
        self.inner.read.clear();
        self.inner.read.wake_all();
        self.inner.write_orphans.wake_all();
    }

    /// If no operation holds the fd any more, takes the number and the registered slot out
    /// (deregistered, not closed) so the caller can close them and see the result, or hand
    /// them away. Otherwise `None`: the last operation to let go releases them (Go's fdMutex
    /// rule).
    pub(crate) fn take_if_last(&self) -> Option<Taken> {
        if Rc::strong_count(&self.inner) != 1 {
            return None;
        }
        self.inner.deregister();
        let taken = Taken {
            fd: self.inner.fd.replace(-1),
            fixed: self.inner.fixed.borrow_mut().take(),
        };
        (taken.fd >= 0 || taken.fixed.is_some()).then_some(taken)
    }

    /// Runs `f` on the driver that knows this fd, if it is this thread's and free.
    pub(crate) fn with_own_driver(&self, f: impl FnOnce(&mut crate::driver::Driver)) {
        let core = self.inner.core;
        context::try_with_driver(|id, d| {
            if id == core {
                f(d)
            }
        });
    }
}

impl FdInner {
    /// Gives the number back now: deregistered and closed, the registered slot released (its
    /// close goes out with the ring's next park); later operations fail as closed.
    fn release(&self) {
        self.deregister();
        drop(self.fixed.borrow_mut().take());
        let fd = self.fd.replace(-1);
        if fd >= 0 {
            // No error to report from a drop; see `Drop for FdInner`.
            let _ = crate::sys::close(fd);
        }
    }

    fn deregister(&self) {
        if let Some(token) = self.token.take() {
            let (fd, core) = (self.fd.get(), self.core);
            context::try_with_driver(|id, d| {
                if id == core {
                    d.deregister(token, fd);
                }
            });
        }
    }
}

impl Drop for FdInner {
    /// Nothing can report an error from a drop; the fd is released even when close(2) fails.
    /// Call `close()` on the socket for an explicit, awaited close.
    fn drop(&mut self) {
        self.release();
    }
}
