//! Splice: move bytes between a socket and a pipe inside the kernel (splice(2)), never through
//! a user-space buffer.
//!
//! - io_uring: `IORING_OP_SPLICE`. The kernel always runs it on an io-wq worker thread (the
//!   inline attempt answers EAGAIN), where it may block: so a socket-to-pipe splice first waits
//!   for the socket to be readable (`IORING_OP_POLL_ADD`), and never blocks there; a
//!   pipe-to-socket splice may wait in the worker for socket buffer space, and is cancelled
//!   like any op when its future is dropped or the socket is closed.
//! - epoll: Go's loop with splice(2), `SPLICE_F_NONBLOCK` on a non-blocking pipe: try, and on
//!   EAGAIN park on the socket's read slot (into the pipe) or write slot (out of the pipe).
//!
//! Both directions need the pipe side to be able to make progress, or an EAGAIN would park on
//! the socket for the wrong reason: a splice into the pipe starts only when the pipe is empty,
//! and a splice out of it only asks for bytes the pipe holds. The pipe's fill level is tracked
//! in `Level`, and kept exact across cancellation: a dropped splice's late completion (io_uring)
//! still adds or subtracts the bytes it moved, and new splices wait until it has arrived.
//!
//! To the socket, a splice is a read (into the pipe) or a write (out of it), ordered with the
//! socket's other reads or writes like any (`OpAble::ORDERED`).

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::squeue;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// How many bytes sit in a pipe, and how many splices on it are still unfinished (a dropped
/// one may still move bytes in the kernel).
#[derive(Default)]
pub(crate) struct Level {
    bytes: Cell<usize>,
    in_flight: Cell<u32>,
    waiters: RefCell<Vec<Waker>>,
}

impl Level {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.get()
    }

    fn moved(&self, into_pipe: bool, n: usize) {
        let b = self.bytes.get();
        self.bytes.set(if into_pipe {
            b + n
        } else {
            b.saturating_sub(n)
        });
    }

    /// Waits until no splice is unfinished, so `bytes` is exact. A task is listed once however
    /// often it polls (a select loop makes a new future each time), so the list is as long as
    /// the number of waiting tasks.
    pub(crate) async fn settled(&self) {
        poll_fn(|cx| {
            if self.in_flight.get() == 0 {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// One unfinished splice on a pipe: counted from its start until its op's data is dropped —
/// when the future takes its result, when it is dropped with nothing in the kernel, or (io_uring)
/// after a dropped splice's completion has updated the level.
struct Flight(Rc<Level>);

impl Flight {
    fn new(level: &Rc<Level>) -> Flight {
        level.in_flight.set(level.in_flight.get() + 1);
        Flight(level.clone())
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let left = self.0.in_flight.get().saturating_sub(1);
        self.0.in_flight.set(left);
        if left == 0 {
            std::mem::take(&mut *self.0.waiters.borrow_mut())
                .into_iter()
                .for_each(Waker::wake);
        }
    }
}

const FLAGS: u32 = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;

/// The fds and length of one splice.
struct Ends {
    fd_in: SharedFd,
    fd_out: SharedFd,
    len: u32,
    flight: Flight,
    /// Where the splice(2) runs: on a socket the ring keeps blocking (io_uring without
    /// IORING_OP_SPLICE) it is made non-blocking for the call (`Form::RingFallback`).
    form: Form,
}

/// How a splice runs on this executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// IORING_OP_SPLICE, on an io-wq worker: it may block there.
    Native,
    /// The readiness form on the ring (`driver/uring/fallback.rs`): splice(2) on the
    /// executor's thread, on a blocking socket.
    RingFallback,
    /// epoll: splice(2) on a non-blocking socket.
    Readiness,
}

impl Form {
    fn current() -> Form {
        crate::runtime::context::with_driver(|_, d| {
            if d.needs_nonblocking_fds() {
                Form::Readiness
            } else if d.runs_natively(opcodes::SPLICE) {
                Form::Native
            } else {
                Form::RingFallback
            }
        })
    }
}

impl Ends {
    fn sqe(&self) -> squeue::Entry {
        let (fd_in, fd_out) = (self.fd_in.file_ref(), self.fd_out.file_ref());
        fd_in.splice(fd_out, self.len, FLAGS)
    }

    /// splice(2) between `fd_in` and `fd_out`; `socket` is the socket end, which must not
    /// block (SPLICE_F_NONBLOCK covers the pipe end only).
    fn call(&self, socket: &SharedFd) -> io::Result<u32> {
        let (fd_in, fd_out) = (self.fd_in.raw(), self.fd_out.raw());
        let null = std::ptr::null_mut();
        let len = self.len as usize;
        let splice = || syscall!(splice(fd_in, null, fd_out, null, len, FLAGS)).map(|n| n as u32);
        match self.form {
            // A blocking socket: into a full peer, or after a stale readiness, splice(2) would
            // block the executor's thread.
            Form::RingFallback => crate::sys::nonblocking_call(socket.raw(), splice),
            Form::Native | Form::Readiness => splice(),
        }
    }
}

/// Socket to pipe: a read on the socket.
pub(crate) struct SpliceIn(Ends);

/// Pipe to socket: a write on the socket.
pub(crate) struct SpliceOut(Ends);

impl Operation for SpliceIn {
    const OPCODE: Opcode = opcodes::SPLICE;
    fn sqe(&mut self) -> squeue::Entry {
        self.0.sqe()
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        self.0.call(&self.0.fd_in)
    }
}

impl OpAble for SpliceIn {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.0.fd_in)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    /// Bytes a dropped read kept would be passed over by a splice: refused.
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        self.0.fd_in.has_stash().then(|| {
            Err(invalid(
                "bytes from a dropped read are kept on this stream: read them first",
            ))
        })
    }
    fn orphan_complete(self, result: io::Result<u32>, _flags: u32) {
        if let Ok(n) = result {
            self.0.flight.0.moved(true, n as usize);
        }
    }
}

impl Operation for SpliceOut {
    const OPCODE: Opcode = opcodes::SPLICE;
    fn sqe(&mut self) -> squeue::Entry {
        self.0.sqe()
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        self.0.call(&self.0.fd_out)
    }
}

impl OpAble for SpliceOut {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.0.fd_out)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
    fn orphan_complete(self, result: io::Result<u32>, _flags: u32) {
        if let Ok(n) = result {
            self.0.flight.0.moved(false, n as usize);
        }
    }
}

pub(crate) fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A kernel without IORING_OP_SPLICE, or a file that cannot splice, answers EINVAL (the
/// arguments here are otherwise always valid).
fn unsupported(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::EINVAL) {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "splice refused (EINVAL): the kernel lacks IORING_OP_SPLICE or cannot splice this fd",
        )
    } else {
        e
    }
}

/// How a splice on `socket` runs here; a socket that only has a registered slot gets an fd
/// first where splice(2) itself will run (docs/architecture.md, "What an SQE names").
fn prepare(socket: &SharedFd) -> io::Result<Form> {
    let form = Form::current();
    if form == Form::RingFallback {
        socket.real_fd()?;
    }
    Ok(form)
}

/// Moves up to `len` bytes from the socket `src` into the pipe's write end `pipe_w`, which the
/// caller has made sure is empty. 0 means EOF on `src`.
pub(crate) async fn into_pipe(
    src: &SharedFd,
    pipe_w: &SharedFd,
    level: &Rc<Level>,
    len: u32,
) -> io::Result<usize> {
    let form = prepare(src)?;
    loop {
        if form == Form::Native {
            // io_uring: splice runs on a worker thread and would block there until data came.
            super::poll::readable(src).await?;
        }
        let done = Op::new(SpliceIn(Ends {
            fd_in: src.clone(),
            fd_out: pipe_w.clone(),
            len,
            flight: Flight::new(level),
            form,
        }))
        .await;
        match done.result {
            Ok(n) => {
                level.moved(true, n as usize);
                return Ok(n as usize);
            }
            // io_uring: readiness was spurious (or the bytes went to another reader).
            Err(e) if crate::sys::would_block(&e) => continue,
            Err(e) => return Err(unsupported(e)),
        }
    }
}

/// Moves up to `len` bytes (at most what the pipe holds) from the pipe's read end `pipe_r` into
/// the socket `dst`.
pub(crate) async fn out_of_pipe(
    pipe_r: &SharedFd,
    dst: &SharedFd,
    level: &Rc<Level>,
    len: u32,
) -> io::Result<usize> {
    let form = prepare(dst)?;
    loop {
        let done = Op::new(SpliceOut(Ends {
            fd_in: pipe_r.clone(),
            fd_out: dst.clone(),
            len,
            flight: Flight::new(level),
            form,
        }))
        .await;
        match done.result {
            Ok(n) => {
                level.moved(false, n as usize);
                return Ok(n as usize);
            }
            Err(e) if crate::sys::would_block(&e) => super::poll::writable(dst).await?,
            Err(e) => return Err(unsupported(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Flight, Level};
    use std::future::Future;
    use std::pin::pin;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Issue 21, decision on `Level::settled`: while a dropped splice is still in flight, a
    /// task that polls `settled` again and again (re-polled, or a new future each time, as in
    /// a select loop) is listed once, not once per poll: the list stays as long as the number
    /// of waiting tasks. Each is woken once when the splice ends.
    #[test]
    fn a_task_waiting_for_a_pipe_to_settle_is_listed_once() {
        let level = Rc::new(Level::default());
        let flight = Flight::new(&level);
        let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut cx = Context::from_waker(&wa);
        let mut kept = pin!(level.settled());
        for _ in 0..1000 {
            assert!(kept.as_mut().poll(&mut cx).is_pending());
            let mut fresh = pin!(level.settled());
            assert!(fresh.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(level.waiters.borrow().len(), 1, "one task, listed once");
        let mut other = pin!(level.settled());
        assert!(other
            .as_mut()
            .poll(&mut Context::from_waker(&wb))
            .is_pending());
        assert_eq!(level.waiters.borrow().len(), 2);
        drop(flight);
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 1)
        );
        assert!(level.waiters.borrow().is_empty());
        assert!(kept.as_mut().poll(&mut cx).is_ready());
    }
}
