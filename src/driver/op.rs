//! What an operation is to a driver: its two forms, and where it stands.
//!
//! The operations themselves (`op/`) implement [`Operation`]; the driver runs whichever form
//! it has — the completion form as an SQE (io_uring), the readiness form as Go's loop (try the
//! syscall, park on EAGAIN, try again when the fd is ready), the blocking form as a job on the
//! blocking pool. The driver knows nothing else of them: not their fd type, not their buffers,
//! not their futures.
//!
//! Which form runs (docs/architecture.md, "Per-operation fallback"):
//! - io_uring: the completion form if the kernel has the op's opcode; else the blocking form if
//!   the op has one; else the readiness form, waiting with POLL_ADD on the ring.
//! - epoll: the blocking form if the op has one (files: the executor never blocks on a file);
//!   else the readiness form.

use super::opcodes::Opcode;
use super::token::Token;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;

/// Which half of a socket an operation uses: the direction it waits on, and the deadline that
/// bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// What an SQE names for one file: an fd, or a slot of the ring's registered files
/// (`fixed.rs`). `SharedFd::file_ref` makes it, and it is the only way a file goes into an SQE
/// (docs/architecture.md, "What an SQE names"): `sqe` for the SQE's fd field, with
/// IOSQE_FIXED_FILE for a slot; `splice` for splice's other end, with SPLICE_F_FD_IN_FIXED.
/// The driver also finds the ops on one file by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileRef {
    Fd(RawFd),
    Fixed(u32),
}

impl FileRef {
    /// The number the kernel reads: the fd, or the slot's index.
    #[inline]
    fn number(self) -> RawFd {
        match self {
            FileRef::Fd(fd) => fd,
            FileRef::Fixed(index) => index as RawFd,
        }
    }

    /// The SQE `build` makes with this file in its fd field; a slot gets IOSQE_FIXED_FILE, so
    /// the number is never read as the other kind.
    #[inline]
    pub(crate) fn sqe(self, build: impl FnOnce(types::Fd) -> squeue::Entry) -> squeue::Entry {
        let sqe = build(types::Fd(self.number()));
        match self {
            FileRef::Fd(_) => sqe,
            FileRef::Fixed(_) => sqe.flags(squeue::Flags::FIXED_FILE),
        }
    }

    /// A splice of up to `len` bytes from `self` into `out`, neither at an offset (pipes and
    /// sockets): `out` is the SQE's fd field (`sqe`), `self` is `splice_fd_in`, whose slot
    /// flag is SPLICE_F_FD_IN_FIXED, not IOSQE_FIXED_FILE.
    #[inline]
    pub(crate) fn splice(self, out: FileRef, len: u32, flags: u32) -> squeue::Entry {
        out.sqe(|fd_out| {
            // The crate sets SPLICE_F_FD_IN_FIXED for `types::Fixed`.
            match self {
                FileRef::Fd(fd) => opcode::Splice::new(types::Fd(fd), -1, fd_out, -1, len),
                FileRef::Fixed(i) => opcode::Splice::new(types::Fixed(i), -1, fd_out, -1, len),
            }
            .flags(flags)
            .build()
        })
    }
}

/// What an operation's fd is to the driver, as the fd answers it once per attempt
/// (`SharedFd::target`): the file an SQE names — the driver finds the ops of one file by it
/// (cancel, wake), and the ring's readiness fallback polls it — and the fd's registration with
/// the readiness driver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpFile {
    pub(crate) file: FileRef,
    /// The poll descriptor's token; `None`: the fd is not registered with this driver, so
    /// nothing could wake a parked attempt, and an EAGAIN is reported as the op's error.
    pub(crate) token: Option<Token>,
}

/// One operation, in its forms, in the driver's words: each op implements this directly (and
/// `op::OpAble` for what it is to its fd).
pub(crate) trait Operation {
    /// The opcode of the completion form (named once in `opcodes`): the ring runs the op
    /// natively only if the kernel has it.
    const OPCODE: Opcode;

    /// The op has a blocking form (`blocking` may answer `Some`: files): the driver asks for
    /// it before it picks the readiness form.
    const BLOCKING: bool = false;

    /// Completion form: the SQE (the driver sets its user_data). Every pointer in it points
    /// into memory the operation owns on the heap, so moving the operation moves nothing the
    /// kernel sees. A file goes in only through `SharedFd::file_ref` and its builders
    /// (`FileRef::sqe`, `FileRef::splice`), which add the flag its kind needs
    /// (docs/architecture.md, "What an SQE names").
    fn sqe(&mut self) -> squeue::Entry;

    /// Readiness form: the direction to wait on after EAGAIN; `None` for an operation that
    /// never waits (or whose fd cannot be polled).
    fn direction(&self) -> Option<Direction>;

    /// Readiness form: the syscall to try (again). On io_uring it runs only for an op whose
    /// opcode the kernel lacks and that has no blocking form; fds are blocking there, so such
    /// an op's syscall must not block by itself (MSG_DONTWAIT). The default makes the
    /// blocking call in place, for ops that have one (files), where it is never reached:
    /// their blocking form always comes first.
    fn attempt(&mut self) -> io::Result<u32> {
        match self.blocking() {
            Some(call) => call.run(),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Blocking form: the syscall a pool thread makes, built from memory the op owns under the
    /// same rule as the SQE's (it stays put until the result is delivered, in the future or in
    /// the driver's slot). `Some` for file operations — on epoll they always run there, on
    /// io_uring where the kernel lacks the opcode; `None` (the default) for socket operations,
    /// which wait for readiness instead.
    fn blocking(&mut self) -> Option<Blocking> {
        None
    }

    /// Readiness form: true if `result` proves the fd has nothing more for now (a TCP read
    /// shorter than asked), so the next attempt may park without a syscall.
    fn drains(&self, _result: u32) -> bool {
        false
    }

    /// Readiness form: the operation only waits for readiness (a poll; no data moves), so once
    /// it has parked, the edge that wakes it completes it without another attempt.
    fn readiness_only(&self) -> bool {
        false
    }
}

/// What a dropped operation leaves with the driver: its resources, and what to do with the
/// result when the CQE (or the pool's result) arrives (keep bytes read, close a connection
/// accepted or a file opened, ...). An op whose syscall never ran (it was waiting for
/// readiness) completes with -ECANCELED, which keeps nothing.
pub(crate) trait Orphan {
    fn complete(self: Box<Self>, result: io::Result<u32>, flags: u32);
}

/// Where one operation stands with its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpState {
    /// Not yet started.
    Unstarted,
    /// Its SQE is pushed; the slot named by this user_data holds its result.
    InRing(u64),
    /// Its blocking call is on the pool; the pool slot named by this tag holds its result.
    InPool(u64),
    /// io_uring, readiness form: a POLL_ADD for its fd is in the ring (this user_data); its
    /// syscall is tried again when it completes.
    Polling(u64),
    /// Tried at least once in readiness form (nothing is in the kernel between polls).
    Trying,
    /// Its result was returned.
    Done,
}

impl OpState {
    /// True while the kernel (or a pool thread) may still use the operation's memory, or holds
    /// a record of it: the driver must be told if the op's future is dropped.
    #[inline]
    pub(crate) fn in_kernel(self) -> bool {
        matches!(
            self,
            OpState::InRing(_) | OpState::InPool(_) | OpState::Polling(_)
        )
    }
}
