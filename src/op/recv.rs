//! Recv (read): into the spare capacity of an owned buffer.
//!
//! Lossless cancellation: if the future is dropped in flight and the CQE still carries bytes,
//! EOF or an error, they are kept on the fd and returned first by the next read.

use super::deadline::with_deadline;
use super::{Op, OpAble};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::epoll::Direction;
use crate::fd::{Chunk, SharedFd};
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

/// What kind of socket a read is on: it decides how a stash is handed out (one datagram per
/// read) and whether a short read proves the receive queue empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// TCP: a read shorter than asked emptied the receive queue — except at the urgent mark,
    /// which the poll descriptor watches for (EPOLLPRI).
    Tcp,
    /// A Unix stream: a read also stops after a message that carried fds or credentials, with
    /// more bytes queued behind it, so a short read proves nothing.
    UnixStream,
    /// UDP or Unix datagrams: one message per read.
    Datagram,
}

impl ReadKind {
    fn datagram(self) -> bool {
        self == ReadKind::Datagram
    }
}

pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    kind: ReadKind,
}

impl<B: IoBufMut> Recv<B> {
    fn spare(&mut self) -> (*mut u8, usize) {
        crate::buf::spare_mut(&mut self.buf)
    }
}

impl<B: IoBufMut> OpAble for Recv<B> {
    fn uring_op(&mut self) -> squeue::Entry {
        let (ptr, len) = self.spare();
        opcode::Recv::new(types::Fd(self.fd.raw()), ptr, len as u32).build()
    }
    fn readiness_interest(&self) -> Option<(&SharedFd, Direction)> {
        Some((&self.fd, Direction::Read))
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.spare();
        syscall!(recv(self.fd.raw(), ptr.cast(), len, 0)).map(|n| n as u32)
    }
    fn readiness_drained(&self, n: u32) -> bool {
        // 0 is EOF (nothing to wait for); a datagram's size says nothing about the queue.
        let asked = self.buf.bytes_total() - self.buf.bytes_init();
        self.kind == ReadKind::Tcp && n > 0 && (n as usize) < asked
    }
    fn on_orphaned(&mut self) {
        self.fd.read_side().orphan_started();
    }
    fn orphan_complete(mut self, result: io::Result<u32>, _flags: u32) {
        let (ptr, len) = self.spare();
        let outcome = result.map(|n| {
            if n == 0 && len > 0 {
                return None;
            }
            // SAFETY: the kernel wrote `n <= len` bytes at `ptr`, inside the buffer we own.
            let data = unsafe { std::slice::from_raw_parts(ptr, n as usize) }.to_vec();
            Some(Chunk {
                data,
                pos: 0,
                from: None,
            })
        });
        self.fd.keep_read(outcome);
        self.fd.read_side().orphan_finished();
    }
}

/// Copies stashed bytes (from dropped reads) into `buf`; `None` if nothing is stashed.
/// A datagram socket takes one chunk per read (truncated to fit, like recv(2)).
fn take_stash<B: IoBufMut>(
    fd: &SharedFd,
    buf: &mut B,
    datagram: bool,
) -> Option<io::Result<usize>> {
    let side = fd.read_side();
    if !side.has_stash() {
        return None;
    }
    let mut chunks = side.chunks.borrow_mut();
    if chunks.is_empty() {
        if let Some(e) = side.error.borrow_mut().take() {
            return Some(Err(e));
        }
        side.eof.set(false);
        return Some(Ok(0));
    }
    let init = buf.bytes_init();
    let room = buf.bytes_total() - init;
    let mut copied = 0;
    while copied < room {
        let Some(chunk) = chunks.front_mut() else {
            break;
        };
        let n = (chunk.data.len() - chunk.pos).min(room - copied);
        // SAFETY: `init + copied + n <= bytes_total()`, inside the buffer's storage, and the
        // source is a separate Vec.
        unsafe {
            std::ptr::copy_nonoverlapping(
                chunk.data[chunk.pos..].as_ptr(),
                buf.stable_mut_ptr().add(init + copied),
                n,
            )
        };
        copied += n;
        chunk.pos += n;
        if chunk.pos == chunk.data.len() || datagram {
            chunks.pop_front();
        }
        if datagram {
            break;
        }
    }
    // SAFETY: the bytes up to `init + copied` were just written.
    unsafe { buf.set_init(init + copied) };
    Some(Ok(copied))
}

/// A read into a full buffer could only return 0, which means EOF: refuse it instead.
pub(crate) fn no_room() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "read buffer has no spare capacity (reads fill bytes_init..bytes_total: pass an empty \
         Vec with capacity, or clear it)",
    )
}

/// Reads into `buf`'s spare capacity: stashed bytes first, else one recv.
pub(crate) async fn recv<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
    kind: ReadKind,
) -> BufResult<usize, B> {
    if buf.bytes_init() == buf.bytes_total() {
        return (Err(no_room()), buf);
    }
    fd.wait_orphans().await;
    if let Err(e) = fd.check_open() {
        return (Err(e), buf);
    }
    if let Some(res) = take_stash(fd, &mut buf, kind.datagram()) {
        return (res, buf);
    }
    let done = with_deadline(
        fd,
        Direction::Read,
        Op::new(Recv {
            fd: fd.clone(),
            buf,
            kind,
        }),
    )
    .await;
    let mut buf = done.data.buf;
    let res = match done.result {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes into the spare capacity.
            unsafe { crate::buf::advance_init(&mut buf, n as usize) };
            Ok(n as usize)
        }
        Err(e) => Err(fd.check_open().err().unwrap_or(e)),
    };
    (res, buf)
}
