//! Drivers: the layer that talks to the kernel, one per executor, chosen at run time.
//!
//! Every caller — the executor, the fd layer, the operations — uses the face below and never
//! learns which driver it has:
//!
//! - `register` / `deregister` an fd (epoll registers once, edge-triggered, both directions;
//!   io_uring needs nothing) and `needs_nonblocking_fds`;
//! - `poll_op` starts or continues one [`Operation`]: io_uring pushes its SQE and answers with
//!   its CQE; epoll tries the syscall and parks the task on EAGAIN (Go's netpoller loop); an op
//!   the kernel cannot run for this driver (files on epoll, an opcode the kernel lacks on
//!   io_uring) runs on the blocking pool (`offload.rs`) or, on io_uring, in readiness form;
//!   `runs_natively` says which opcodes the ring has; `orphan_op` takes the resources of an op
//!   whose future was dropped in flight, `cancel_op` asks the kernel to give one back early
//!   (a deadline);
//! - `close_fd`: Go's evict — cancel (io_uring) or wake (epoll) every op on an fd being closed,
//!   and `wake_fd`: make the ops parked on an fd poll again;
//! - `park(timeout)`: hand what was prepared to the kernel, wait for at least one event (at most
//!   `timeout`; not at all for zero), wake the tasks whose operations are done;
//! - cross-executor wake-ups: `msg_ring` queues one for another io_uring executor,
//!   sent at once; `flush` waits for its answer when the loop stops;
//! - `shutdown`: cancel everything in flight and wait, bounded, until the kernel has let go.
//!
//! The driver knows nothing above it: not the runtime, tasks, fds' owners or futures. It keeps
//! `Waker`s and, for dropped operations, `Box<dyn Orphan>`.

mod epoll;
mod fixed;
mod info;
pub(crate) mod notify;
mod offload;
pub(crate) mod op;
pub(crate) mod opcodes;
mod open;
pub(crate) mod provided;
mod slots;
mod stats;
mod token;
mod uring;

pub(crate) use fixed::{FixedFile, FixedTable};
pub use info::{DriverChoice, DriverInfo, DriverKind};
pub(crate) use notify::Notifier;
pub(crate) use op::{Direction, FileRef, OpFile, OpState, Operation, Orphan};
pub(crate) use opcodes::Opcode;
pub(crate) use open::{open, DriverConfig};
pub use stats::DriverStats;
pub(crate) use token::Token;

use offload::Offload;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The driver of one executor: its kernel interface, and the blocking pool's share of it.
pub(crate) struct Driver {
    io: Io,
    offload: Offload,
    /// io_uring: ops whose opcode the kernel lacks (`DriverStats::fallback_ops`).
    fallback_ops: u64,
}

/// The kernel interface. Not boxed: there is exactly one per executor, and the ring variant is
/// the hot one.
#[allow(clippy::large_enum_variant)]
enum Io {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

/// The result of a finished operation: the kernel's result and the CQE's flags (0 on epoll).
pub(crate) type OpResult = (io::Result<u32>, u32);

/// An op whose result is returned is `Done`.
#[inline(always)]
fn settle(state: &mut OpState, poll: Poll<OpResult>) -> Poll<OpResult> {
    if poll.is_ready() {
        *state = OpState::Done;
    }
    poll
}

/// The names ops may have used for one file: its fd (if it has one) and its registered slot.
fn files(fd: RawFd, fixed: Option<u32>) -> impl Iterator<Item = FileRef> {
    let fd = (fd >= 0).then_some(FileRef::Fd(fd));
    fd.into_iter().chain(fixed.map(FileRef::Fixed))
}

impl Driver {
    fn new(io: Io, offload: Offload) -> Driver {
        Driver {
            io,
            offload,
            fallback_ops: 0,
        }
    }

    /// True if fds must be non-blocking (epoll); io_uring makes its own non-blocking attempt
    /// and arms its own poll, so it leaves them blocking.
    #[inline]
    pub(crate) fn needs_nonblocking_fds(&self) -> bool {
        matches!(self.io, Io::Epoll(_))
    }

    /// True if the kernel runs `op` natively for this driver: an io_uring whose probe found it
    /// (and no test hook removed it). Always false on epoll.
    pub(crate) fn runs_natively(&self, op: Opcode) -> bool {
        match &self.io {
            Io::Uring(d) => d.native().has(op),
            Io::Epoll(_) => false,
        }
    }

    /// The ring's registered-file table, if it has one (`Builder::registered_fds` on io_uring
    /// where the kernel allows it): accepts and connects put sockets there.
    pub(crate) fn fixed_table(&self) -> Option<FixedTable> {
        match &self.io {
            Io::Uring(d) => d.fixed_table().cloned(),
            Io::Epoll(_) => None,
        }
    }

    /// Installs an fd for registered slot `index` (synchronously) and returns it.
    pub(crate) fn install_fixed(&mut self, index: u32) -> io::Result<RawFd> {
        match &mut self.io {
            Io::Uring(d) => d.install_fixed(index),
            Io::Epoll(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Releases `file`'s registered slot at once (not at the next park): an fd of the same
    /// socket is going to a new owner, whose close must close the socket.
    pub(crate) fn close_fixed_now(&mut self, file: FixedFile) {
        match &mut self.io {
            Io::Uring(d) => d.close_fixed_now(file),
            Io::Epoll(_) => drop(file),
        }
    }

    /// `count` buffers of `size` bytes that reads take from only when data arrives: a
    /// provided-buffer ring on io_uring, a free list on epoll (`provided.rs`). The ring keeps
    /// them registered until it shuts down.
    pub(crate) fn provide_buffers(
        &mut self,
        count: u16,
        size: u32,
    ) -> io::Result<std::rc::Rc<provided::ProvidedBufs>> {
        let bufs = provided::ProvidedBufs::new(count, size)?;
        Ok(match &mut self.io {
            Io::Uring(d) => d.provide(bufs),
            Io::Epoll(_) => std::rc::Rc::new(bufs),
        })
    }

    /// Registers `fd` for readiness (epoll: once, for both directions); the token names it in
    /// later calls. `None` where nothing needs registering (io_uring).
    pub(crate) fn register(&mut self, fd: RawFd) -> io::Result<Option<Token>> {
        match &mut self.io {
            Io::Uring(_) => Ok(None),
            Io::Epoll(d) => d.register(fd).map(Some),
        }
    }

    /// Forgets `fd`'s registration; the fd is about to be closed or handed elsewhere.
    pub(crate) fn deregister(&mut self, token: Token, fd: RawFd) {
        if let Io::Epoll(d) = &mut self.io {
            d.deregister(token, fd);
        }
    }

    /// Go's evict, for an explicit close: every op on the file — named by `fd` (-1: none) and
    /// by its registered slot `fixed` — ends (io_uring: cancelled by file; epoll: its parked
    /// tasks woken, to find the fd closing). A blocking call on the pool cannot be interrupted;
    /// it ends by itself.
    pub(crate) fn close_fd(&mut self, fd: RawFd, fixed: Option<u32>, token: Option<Token>) {
        match &mut self.io {
            Io::Uring(d) => {
                for file in files(fd, fixed) {
                    d.cancel_file(file);
                }
            }
            Io::Epoll(d) => {
                if let Some(token) = token {
                    d.wake_all(token);
                }
            }
        }
    }

    /// Makes every op waiting on the file poll again without ending it (a deadline moved).
    pub(crate) fn wake_fd(&mut self, fd: RawFd, fixed: Option<u32>, token: Option<Token>) {
        match &mut self.io {
            Io::Uring(d) => {
                for file in files(fd, fixed) {
                    d.wake_file(file);
                }
            }
            Io::Epoll(d) => {
                if let Some(token) = token {
                    d.wake_all(token);
                }
            }
        }
    }

    /// Starts or continues `op`: `Ready` with its result, or `Pending` with the task's waker
    /// recorded. `state` must start `Unstarted` and is the driver's to update; `target` is
    /// what the op's fd answered (`None`: an op with no fd). The common
    /// cases — a native SQE started or collected, a socket op tried on epoll — are inline in
    /// the op's poll; the rest (the pool, the ring's readiness fallback) take `poll_op_other`.
    #[inline(always)]
    pub(crate) fn poll_op<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let poll = match (&mut self.io, *state) {
            (Io::Uring(d), OpState::InRing(user_data)) => d.collect(user_data, cx),
            (Io::Uring(d), OpState::Unstarted) if !O::BLOCKING && d.native().has(O::OPCODE) => {
                return d.start(state, op, target, cx)
            }
            (Io::Epoll(d), OpState::Unstarted | OpState::Trying) if !O::BLOCKING => {
                d.poll_op(state, op, target, cx)
            }
            _ => return self.poll_op_other(state, op, target, cx),
        };
        settle(state, poll)
    }

    /// True if `poll_op` runs `O` inline from its start: natively on the ring, or in
    /// readiness form on epoll (no blocking form to consider).
    #[inline(always)]
    pub(crate) fn runs_inline<O: Operation>(&self) -> bool {
        match &self.io {
            Io::Uring(d) => !O::BLOCKING && d.native().has(O::OPCODE),
            Io::Epoll(_) => !O::BLOCKING,
        }
    }

    /// `poll_op`'s first poll of an op that `runs_inline`: its SQE pushed, or its first
    /// readiness attempt, without asking again which form it runs in.
    #[inline(always)]
    pub(crate) fn start_inline<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        debug_assert!(self.runs_inline::<O>() && *state == OpState::Unstarted);
        match &mut self.io {
            Io::Uring(d) => d.start(state, op, target, cx),
            Io::Epoll(d) => {
                let poll = d.poll_op(state, op, target, cx);
                settle(state, poll)
            }
        }
    }

    /// The result of an op in the ring (`OpState::InRing`), once its CQE has come.
    #[inline(always)]
    pub(crate) fn collect(&mut self, user_data: u64, cx: &Context<'_>) -> Poll<OpResult> {
        match &mut self.io {
            Io::Uring(d) => d.collect(user_data, cx),
            Io::Epoll(_) => unreachable!("an op in the ring on epoll"),
        }
    }

    /// `poll_op` for the cases it does not inline.
    #[inline(never)]
    fn poll_op_other<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let poll = match (*state, &mut self.io) {
            (OpState::Unstarted, _) => self.start(state, op, target, cx),
            (OpState::InPool(user_data), _) => self.offload.poll(user_data, cx),
            (_, Io::Uring(d)) => d.poll_op(state, op, target, cx),
            (_, Io::Epoll(d)) => d.poll_op(state, op, target, cx),
        };
        settle(state, poll)
    }

    /// The first poll: the form this driver runs `op` in (see `op.rs`).
    fn start<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let native = self.runs_natively(O::OPCODE);
        if !native {
            if let Io::Uring(_) = self.io {
                self.fallback_ops += 1;
            }
            if let Some(call) = op.blocking() {
                let file = target.map(|t| t.file);
                return self.offload.start(state, call, file, cx);
            }
        }
        match &mut self.io {
            Io::Uring(d) if native => d.poll_op(state, op, target, cx),
            Io::Uring(d) => d.poll_readiness(state, op, target, cx),
            Io::Epoll(d) => d.poll_op(state, op, target, cx),
        }
    }

    /// The future of an op in `state` was dropped. If the kernel (or a pool thread) may still
    /// use its memory, the driver takes `data` until the result arrives (and cancels the op
    /// where it can); otherwise `data` comes back.
    pub(crate) fn orphan_op(
        &mut self,
        state: OpState,
        data: Box<dyn Orphan>,
    ) -> Result<(), Box<dyn Orphan>> {
        match (&mut self.io, state) {
            (Io::Uring(d), OpState::InRing(user_data)) => d.orphan(user_data, data),
            // Only a POLL_ADD is in the ring: the op's syscall never ran.
            (Io::Uring(d), OpState::Polling(user_data)) => {
                d.orphan(user_data, Box::new(uring::NeverRan(data)))
            }
            (_, OpState::InPool(user_data)) => self.offload.orphan(user_data, data),
            _ => return Err(data),
        }
        Ok(())
    }

    /// Asks the kernel to end an op in flight early; its CQE still comes (-ECANCELED, or its
    /// result if the cancel lost the race). Nothing to do for an op not in the kernel, nor for
    /// a blocking call on the pool (it cannot be interrupted).
    pub(crate) fn cancel_op(&mut self, state: OpState) {
        if let (Io::Uring(d), OpState::InRing(ud) | OpState::Polling(ud)) = (&mut self.io, state) {
            d.cancel(ud);
        }
    }

    /// One turn: submit, wait (at most `timeout`; `None`: until an event), reap, wake; then
    /// hand the pool's results to their ops.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let res = match &mut self.io {
            Io::Uring(d) => d.park(timeout),
            Io::Epoll(d) => d.park(timeout),
        };
        self.offload.deliver();
        res
    }

    /// Sends a MSG_RING wake-up to `target`'s ring now (one submit-only enter); false where
    /// this driver cannot (epoll, or no MSG_RING on either end), and the caller writes the
    /// target's eventfd instead.
    pub(crate) fn msg_ring(&mut self, target: &Arc<Notifier>) -> bool {
        match &mut self.io {
            Io::Uring(d) => d.msg_ring(target),
            Io::Epoll(_) => false,
        }
    }

    /// Submits queued MSG_RING wake-ups before the loop stops turning (nothing to do on epoll).
    pub(crate) fn flush(&mut self) {
        if let Io::Uring(d) = &mut self.io {
            d.flush();
        }
    }

    /// The kernel interface's counters with the pool's added (`ops_submitted` counts jobs sent
    /// to the pool too).
    pub(crate) fn stats(&self) -> DriverStats {
        let io = match &self.io {
            Io::Uring(d) => d.stats(),
            Io::Epoll(d) => d.stats(),
        };
        let pool = self.offload.stats();
        DriverStats {
            ops_submitted: io.ops_submitted + pool.pool_ops,
            orphan_completions: io.orphan_completions + pool.orphan_completions,
            stale_events: io.stale_events + pool.stale_events,
            pool_ops: pool.pool_ops,
            pool_in_flight: pool.pool_in_flight,
            fallback_ops: self.fallback_ops,
            ..io
        }
    }

    /// Cancels everything in flight and waits, bounded, for the kernel and the pool to let go;
    /// what they still hold is leaked, never freed.
    pub(crate) fn shutdown(&mut self) {
        match &mut self.io {
            Io::Uring(d) => d.shutdown(),
            Io::Epoll(d) => d.shutdown(),
        }
        self.offload.shutdown();
    }
}
