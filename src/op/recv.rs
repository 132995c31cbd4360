//! Recv (read): into the spare capacity of an owned buffer.
//!
//! Lossless cancellation: if the future is dropped in flight and the CQE still carries bytes,
//! EOF or an error, they are kept on the fd and returned first by the next read.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::{Chunk, SharedFd};
use io_uring::{opcode, squeue};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

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

pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    kind: ReadKind,
}

impl<B: IoBufMut> Operation for Recv<B> {
    const OPCODE: Opcode = opcodes::RECV;
    #[inline(always)]
    fn sqe(&mut self) -> squeue::Entry {
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        self.fd
            .file_ref()
            // `len <= MAX_RW`: it fits.
            .sqe(|fd| opcode::Recv::new(fd, ptr, len as u32).build())
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    #[inline(always)]
    fn attempt(&mut self) -> io::Result<u32> {
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        crate::sys::raw::recv(self.fd.raw(), ptr, len, 0)
    }
    #[inline(always)]
    fn drains(&self, n: u32) -> bool {
        // 0 is EOF (nothing to wait for); a datagram's size says nothing about the queue.
        let asked = crate::buf::spare_len(&self.buf);
        self.kind == ReadKind::Tcp && n > 0 && (n as usize) < asked
    }
}

impl<B: IoBufMut> OpAble for Recv<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        match self.kind {
            ReadKind::Datagram => self
                .fd
                .take_datagram(&mut self.buf)
                .map(|r| r.map(|(n, _)| n)),
            ReadKind::Tcp | ReadKind::UnixStream => self.fd.take_stream(&mut self.buf),
        }
    }
    fn orphan_complete(mut self, result: io::Result<u32>, _flags: u32) {
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        let outcome = result.map(|n| {
            // EOF on a stream; an empty datagram on a connected datagram socket.
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
    }
}

/// Reads into `buf`'s spare capacity: what dropped reads kept first, else one recv.
pub(crate) fn recv<B: IoBufMut>(fd: &SharedFd, buf: B, kind: ReadKind) -> RecvFuture<B> {
    if let Err(e) = crate::buf::check_room(&buf) {
        return RecvFuture::Refused(Some((e, buf)));
    }
    RecvFuture::Op(Op::new(Recv {
        fd: fd.clone(),
        buf,
        kind,
    }))
}

/// The future of `recv`: the op, and the bytes it read marked initialized.
pub(crate) enum RecvFuture<B: IoBufMut> {
    /// The buffer had no room (a read of 0 bytes would look like EOF).
    Refused(Option<(io::Error, B)>),
    Op(Op<Recv<B>>),
}

impl<B: IoBufMut> Future for RecvFuture<B> {
    type Output = BufResult<usize, B>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<usize, B>> {
        let op = match self.get_mut() {
            RecvFuture::Op(op) => op,
            RecvFuture::Refused(refused) => {
                let (e, buf) = refused.take().expect("polled after completion");
                return Poll::Ready((Err(e), buf));
            }
        };
        let res = ready!(op.poll_result(cx));
        let mut buf = op.take_data().buf;
        let res = res.map(|n| {
            // SAFETY: the kernel (or the stash) wrote `n` bytes into the spare capacity.
            unsafe { crate::buf::advance_init(&mut buf, n as usize) };
            n as usize
        });
        Poll::Ready((res, buf))
    }
}
