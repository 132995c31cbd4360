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
//! - A socket in the ring's registered-file table (`Builder::registered_fds`) holds its slot
//!   here (`fixed.rs`), with or without an fd: one accepted directly into the table has none
//!   until something asks for one (`real_fd`). The slot follows the fd's rules: released by the
//!   last operation to let go.
//! - What dropped reads and accepts delivered late is kept on the read side (`stash.rs`); the
//!   deadlines live in `deadline.rs`.

mod deadline;
mod fixed;
mod stash;

pub(crate) use deadline::Moved;
pub(crate) use fixed::Taken;
pub(crate) use stash::{Accepted, Chunk, ReadSide};

use crate::driver::{Direction, FileRef, FixedFile, OpFile, Token};
use crate::runtime::context;
use deadline::Deadlines;
use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// What every operation reads: small, so that with many connections live a read touches one
/// cache line of its fd. What only dropped operations and deadlines need waits in `Cold`,
/// allocated the first time one is used.
pub(crate) struct FdInner {
    /// The one state word an operation asks before it tries (`SharedFd::quiet`): the `state`
    /// bits below. Everything that makes an op take the slow road sets a `SLOW` bit.
    state: Cell<u32>,
    /// What an SQE names for this file: the registered slot if it has one, else the fd (-1
    /// once released). Kept in step with `fd` and `fixed`; the one place ops read it.
    file: Cell<FileRef>,
    /// -1 once the number was released (explicit close, or the last op after a close), and for
    /// a socket that only has a slot in the ring's registered files (until `real_fd` installs
    /// one).
    fd: Cell<RawFd>,
    /// Dropped reads (or accepts) and dropped writes still in flight, by `Direction`.
    orphans: [Cell<u32>; 2],
    /// The registration with the epoll driver; `None` on io_uring.
    token: Cell<Option<Token>>,
    /// The executor whose driver knows this fd.
    core: u64,
    /// The socket's slot in the ring's registered files, if it has one: its ops name the slot.
    fixed: RefCell<Option<FixedFile>>,
    cold: OnceCell<Box<Cold>>,
}

/// The bits of `FdInner::state`.
mod state {
    /// `close()` was called: new operations fail (Go's fdMutex).
    pub(super) const CLOSING: u32 = 1;
    /// Something is kept in the stash (`Cold::read`): bytes, EOF, an error, connections.
    pub(super) const KEPT: u32 = 1 << 1;
    /// A deadline has been set at least once (`Cold::deadlines`): ops must check and watch.
    pub(super) const DEADLINES: u32 = 1 << 2;
    /// Dropped ops of a direction are in flight (`orphans`), by `Direction`: `ORPHANS << dir`.
    pub(super) const ORPHANS: u32 = 1 << 3;
    /// The socket or file that made this fd still exists (see `SharedFd::owner`).
    pub(super) const OWNER_ALIVE: u32 = 1 << 5;
    /// Made with `new` (registered for readiness), not `new_unpolled` (a regular file).
    pub(super) const POLLED: u32 = 1 << 6;
    /// It has a slot in the ring's registered files.
    pub(super) const FIXED: u32 = 1 << 7;
    /// An op that sees any of these takes the slow road (`Op<T>`'s prologue).
    pub(super) const SLOW: u32 = CLOSING | KEPT | DEADLINES | ORPHANS | (ORPHANS << 1);
    /// An fd with any of these belongs to its executor (see `check_executor`).
    pub(super) const BOUND: u32 = POLLED | FIXED;
}

/// The rarely used parts of an fd.
#[derive(Default)]
struct Cold {
    read: ReadSide,
    /// Ops waiting for dropped ones of a direction to finish, by `Direction`.
    orphan_waiters: [std::cell::RefCell<Vec<Waker>>; 2],
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
    #[inline]
    fn drop(&mut self) {
        let inner = &self.inner;
        if self.owner {
            inner.clear(state::OWNER_ALIVE);
        } else if inner.has(state::CLOSING | state::OWNER_ALIVE) && Rc::strong_count(inner) == 2 {
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
        let mut bits = state::OWNER_ALIVE;
        if polled {
            bits |= state::POLLED;
        }
        if fixed.is_some() {
            bits |= state::FIXED;
        }
        let inner = Rc::new(FdInner {
            state: Cell::new(bits),
            file: Cell::new(FdInner::file_of(fd, fixed.as_ref())),
            fd: Cell::new(fd),
            orphans: Default::default(),
            token: Cell::new(token),
            core,
            fixed: RefCell::new(fixed),
            cold: OnceCell::new(),
        });
        SharedFd { inner, owner: true }
    }

    /// The fd number: -1 once closed, and for a socket that only has a registered slot (see
    /// `real_fd`).
    #[inline]
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.get()
    }

    /// What an SQE names for this file: the registered slot if it has one, else the fd. The
    /// one place a `SharedFd` becomes what an SQE names; the SQE builders take the `FileRef`
    /// (`FileRef::sqe`, `FileRef::splice`), which sets the flag that goes with each kind, so
    /// no op puts `raw()` (or a slot index) in an SQE itself (docs/architecture.md, "What an
    /// SQE names").
    #[inline]
    pub(crate) fn file_ref(&self) -> FileRef {
        self.inner.file.get()
    }

    /// The registered slot, if any.
    #[inline]
    pub(crate) fn fixed_index(&self) -> Option<u32> {
        match self.inner.file.get() {
            FileRef::Fixed(index) => Some(index),
            FileRef::Fd(_) => None,
        }
    }

    /// The one question an operation asks its fd before an attempt, answered from one load of
    /// the state word: `Some` with what the driver needs (what an SQE names, the poll
    /// descriptor's token) if nothing stands in its way — the fd is open, nothing dropped is
    /// kept or in flight, no deadline was ever set, and (at the start, `starting`) the fd is
    /// not bound to another executor. `None` sends the op down its slow road (`Op<T>`'s
    /// prologue), which asks each question in turn and then takes `target`.
    #[inline]
    pub(crate) fn quiet(&self, core: u64, starting: bool) -> Option<OpFile> {
        let s = self.inner.state.get();
        let foreign = starting && s & state::BOUND != 0 && self.inner.core != core;
        (s & state::SLOW == 0 && !foreign).then(|| self.target())
    }

    /// What the driver needs of this fd for an op: what an SQE names (the one place a
    /// `SharedFd` becomes that) and the poll descriptor's token.
    #[inline]
    pub(crate) fn target(&self) -> OpFile {
        OpFile {
            file: self.inner.file.get(),
            token: self.inner.token.get(),
        }
    }

    #[inline]
    pub(crate) fn token(&self) -> Option<Token> {
        self.inner.token.get()
    }

    fn cold(&self) -> &Cold {
        self.inner.cold.get_or_init(Box::default)
    }

    /// A dropped op of direction `dir` is in flight (it holds its resources until its CQE).
    pub(crate) fn orphan_started(&self, dir: Direction) {
        let n = &self.inner.orphans[dir as usize];
        n.set(n.get() + 1);
        self.inner.set(state::ORPHANS << dir as u32);
    }

    /// A dropped op of direction `dir` finished: the ops waiting for it may go.
    pub(crate) fn orphan_finished(&self, dir: Direction) {
        let n = &self.inner.orphans[dir as usize];
        n.set(n.get().saturating_sub(1));
        if n.get() == 0 {
            self.inner.clear(state::ORPHANS << dir as u32);
            self.wake_orphan_waiters(dir);
        }
    }

    /// `Ready` once no dropped op of direction `dir` is in flight on this fd.
    #[inline]
    pub(crate) fn poll_orphans(&self, dir: Direction, cx: &Context<'_>) -> Poll<()> {
        if self.inner.orphans[dir as usize].get() == 0 {
            return Poll::Ready(());
        }
        self.cold().orphan_waiters[dir as usize]
            .borrow_mut()
            .push(cx.waker().clone());
        Poll::Pending
    }

    fn wake_orphan_waiters(&self, dir: Direction) {
        if let Some(cold) = self.inner.cold.get() {
            let waiters = std::mem::take(&mut *cold.orphan_waiters[dir as usize].borrow_mut());
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// What dropped reads kept, written into `buf`'s spare capacity as a read would be.
    #[inline]
    pub(crate) fn take_stream<B: crate::buf::IoBufMut>(
        &self,
        buf: &mut B,
    ) -> Option<io::Result<u32>> {
        if !self.inner.has(state::KEPT) {
            return None;
        }
        self.take_kept(|side| side.take_stream(buf))
    }

    /// One datagram dropped receives kept, with its sender.
    pub(crate) fn take_datagram<B: crate::buf::IoBufMut>(
        &self,
        buf: &mut B,
    ) -> Option<io::Result<(u32, Option<std::net::SocketAddr>)>> {
        if !self.inner.has(state::KEPT) {
            return None;
        }
        self.take_kept(|side| side.take_datagram(buf))
    }

    /// A connection a dropped accept kept.
    pub(crate) fn take_accepted(&self) -> Option<Accepted> {
        if !self.inner.has(state::KEPT) {
            return None;
        }
        self.take_kept(ReadSide::take_accepted)
    }

    /// True if dropped reads kept something for the next read.
    pub(crate) fn has_stash(&self) -> bool {
        self.inner.has(state::KEPT) && self.cold().read.has_stash()
    }

    /// Takes from the stash; back to the fast path once it is empty.
    fn take_kept<R>(&self, take: impl FnOnce(&ReadSide) -> Option<R>) -> Option<R> {
        let side = &self.cold().read;
        let out = take(side);
        if side.is_empty() {
            self.inner.clear(state::KEPT);
        }
        out
    }

    /// True for fds made with `new` (registered for readiness on the epoll driver).
    pub(crate) fn is_polled(&self) -> bool {
        self.inner.has(state::POLLED)
    }

    /// On the readiness driver, a polled fd can only wait on the executor it was registered
    /// with: its poll descriptor lives in that executor's table (a token looked up elsewhere
    /// would name another socket's descriptor), and a socket made under io_uring is blocking.
    /// A registered slot, likewise, names a file only in its own ring's table.
    #[inline]
    pub(crate) fn check_executor(&self, core: u64) -> io::Result<()> {
        if !self.inner.has(state::POLLED) || self.inner.core == core {
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
    #[inline]
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.inner.has(state::CLOSING) {
            Err(crate::sys::closed_error())
        } else {
            Ok(())
        }
    }

    /// The deadline for operations in direction `dir`, if any.
    #[inline]
    pub(crate) fn deadline(&self, dir: Direction) -> Option<Instant> {
        if !self.inner.has(state::DEADLINES) {
            return None;
        }
        self.cold().deadlines.get(dir)
    }

    /// Go's SetReadDeadline / SetWriteDeadline: applies to operations already waiting as well
    /// as to later ones; `None` removes it. Waiting operations are woken to re-read it.
    pub(crate) fn set_deadline(&self, dir: Direction, deadline: Option<Instant>) {
        self.inner.set(state::DEADLINES);
        if let Moved::WakeAll = self.cold().deadlines.set(dir, deadline) {
            let (fd, fixed, token) = (self.raw(), self.fixed_index(), self.token());
            self.with_own_driver(|d| d.wake_fd(fd, fixed, token));
        }
    }

    /// True once any deadline has been set on this fd: waiting ops must then watch.
    #[inline]
    pub(crate) fn deadlines_watched(&self) -> bool {
        self.inner.has(state::DEADLINES)
    }

    /// Registers waiting op `id` to be woken when a deadline moves, once any deadline has
    /// been set on this fd (see `deadline.rs`); true if it registered.
    pub(crate) fn watch_deadline(&self, id: &mut Option<u64>, waker: &Waker) -> bool {
        if !self.inner.has(state::DEADLINES) {
            return false;
        }
        self.cold().deadlines.watch(id, waker);
        true
    }

    pub(crate) fn unwatch_deadline(&self, id: u64) {
        if let Some(cold) = self.inner.cold.get() {
            cold.deadlines.unwatch(id);
        }
    }

    /// Keeps the outcome of a dropped read for the next read (lossless cancellation) — unless
    /// `close` was called: nothing will read it, so it is dropped now.
    pub(crate) fn keep_read(&self, outcome: io::Result<Option<Chunk>>) {
        if !self.inner.has(state::CLOSING) {
            self.cold().read.keep(outcome);
            self.inner.set(state::KEPT);
        }
    }

    /// Keeps a connection a dropped accept received, for the next accept — unless `close` was
    /// called: it is closed now rather than held until the listener is dropped.
    pub(crate) fn keep_accepted(&self, conn: Accepted) {
        if !self.inner.has(state::CLOSING) {
            self.cold().read.keep_accepted(conn);
            self.inner.set(state::KEPT);
        }
    }

    /// Go's fd.Close: mark closing, make parked or in-flight operations end, release the fd
    /// number when the last operation lets go. Idempotent.
    pub(crate) fn close(&self) {
        if self.inner.has(state::CLOSING) {
            return;
        }
        self.inner.set(state::CLOSING);
        let (fd, fixed, token) = (self.raw(), self.fixed_index(), self.token());
        self.with_own_driver(|d| d.close_fd(fd, fixed, token));
        // Connections a dropped accept left behind, and bytes a dropped read left, go now;
        // ops waiting for dropped ones wake to find the fd closing.
        if let Some(cold) = self.inner.cold.get() {
            cold.read.clear();
        }
        self.inner.clear(state::KEPT);
        self.wake_orphan_waiters(Direction::Read);
        self.wake_orphan_waiters(Direction::Write);
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
            fixed: self.inner.take_fixed(),
        };
        self.inner.file.set(FileRef::Fd(-1));
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
    #[inline]
    fn has(&self, bits: u32) -> bool {
        self.state.get() & bits == bits
    }

    #[inline]
    fn set(&self, bits: u32) {
        self.state.set(self.state.get() | bits);
    }

    #[inline]
    fn clear(&self, bits: u32) {
        self.state.set(self.state.get() & !bits);
    }

    /// What an SQE names for a file with `fd` and `fixed`.
    fn file_of(fd: RawFd, fixed: Option<&FixedFile>) -> FileRef {
        match fixed {
            Some(file) => FileRef::Fixed(file.index()),
            None => FileRef::Fd(fd),
        }
    }

    /// Sets the fd number (`file` follows).
    fn set_fd(&self, fd: RawFd) {
        self.fd.set(fd);
        self.file
            .set(FdInner::file_of(fd, self.fixed.borrow().as_ref()));
    }

    /// Gives the socket a registered slot (`file` and the state follow).
    fn set_fixed(&self, file: FixedFile) {
        self.file.set(FileRef::Fixed(file.index()));
        let old = self.fixed.borrow_mut().replace(file);
        debug_assert!(old.is_none(), "a socket registered twice");
        self.set(state::FIXED);
    }

    /// Takes the registered slot out (`file` names the fd again).
    fn take_fixed(&self) -> Option<FixedFile> {
        let taken = self.fixed.borrow_mut().take();
        self.clear(state::FIXED);
        self.file.set(FileRef::Fd(self.fd.get()));
        taken
    }

    /// Gives the number back: deregistered and closed, the registered slot released (its close
    /// goes out with the ring's next park); later operations fail as closed. A polled fd goes
    /// through its executor (`Core::release_fd`), which puts the pair off until its driver's
    /// turn is over if the driver is in use right now (a completion it delivers dropped this
    /// fd): the number stays open until its poll descriptor is gone.
    fn release(&self) {
        drop(self.take_fixed());
        let fd = self.fd.replace(-1);
        self.file.set(FileRef::Fd(-1));
        if let Some(token) = self.token.take() {
            let core = self.core;
            let own = context::try_with_core(|c| (c.id() == core).then(|| c.release_fd(token, fd)));
            if own.flatten().is_some() {
                return;
            }
        }
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

#[cfg(test)]
mod tests;
