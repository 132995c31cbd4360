//! The futures of the byte streams' `read` and `write_all`, by name: [`ReadFuture`] and
//! [`WriteAllFuture`].
//!
//! `TcpStream::read` / `write_all` and `UnixStream::read` / `write_all` return these rather
//! than an anonymous `impl Future`, so a type can hold one in a field and poll it from a
//! poll-based method — an adapter to tokio's `AsyncRead`/`AsyncWrite` (corio-compat's
//! `Compat`), a hand-written state machine — without boxing it or wrapping it in an `async`
//! block. Each is the operation's own future and nothing more: it holds its own reference to
//! the socket (not a borrow of the stream, so it is `'static` when its buffer is), owns the
//! buffer while the operation is in flight, and hands it back with the result.
//!
//! Dropping one before it is done is safe at any point: the operation is cancelled, and on
//! io_uring the buffer goes to the driver until the kernel's completion arrives (see
//! docs/architecture.md, "Ownership"). A dropped read is lossless — bytes it received are
//! returned by the next read on the stream; a dropped `write_all` may have sent part of the
//! buffer.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::recv::{self, ReadKind, RecvFuture};
use crate::op::send::{self, WriteAll};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of [`TcpStream::read`](crate::net::TcpStream::read) and
/// [`UnixStream::read`](crate::net::UnixStream::read): one read into `B`'s spare capacity.
///
/// Resolves to the number of bytes read (0 only at end of stream) and the buffer, its
/// initialized length advanced by that number. Cancel-safe: bytes a dropped read received are
/// returned by the stream's next read. Does nothing until polled.
#[must_use = "futures do nothing unless polled"]
pub struct ReadFuture<B: IoBufMut>(RecvFuture<B>);

impl<B: IoBufMut> ReadFuture<B> {
    #[inline(always)]
    pub(crate) fn new(fd: &SharedFd, buf: B, kind: ReadKind) -> ReadFuture<B> {
        ReadFuture(recv::recv(fd, buf, kind))
    }
}

impl<B: IoBufMut> Future for ReadFuture<B> {
    type Output = BufResult<usize, B>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<usize, B>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl<B: IoBufMut> fmt::Debug for ReadFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFuture").finish_non_exhaustive()
    }
}

/// The future of [`TcpStream::write_all`](crate::net::TcpStream::write_all) and
/// [`UnixStream::write_all`](crate::net::UnixStream::write_all): every initialized byte of
/// `B`, one send after another over short writes.
///
/// Resolves to `Ok(())` once all are sent, or the first error (a send of 0 bytes is
/// `WriteZero`), with the buffer. Dropped before that, it stops where it is: some of the bytes
/// may have been sent. Does nothing until polled.
#[must_use = "futures do nothing unless polled"]
pub struct WriteAllFuture<B: IoBuf>(WriteAll<B>);

impl<B: IoBuf> WriteAllFuture<B> {
    #[inline(always)]
    pub(crate) fn new(fd: &SharedFd, buf: B) -> WriteAllFuture<B> {
        WriteAllFuture(send::write_all(fd, buf))
    }
}

impl<B: IoBuf> Future for WriteAllFuture<B> {
    type Output = BufResult<(), B>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<(), B>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl<B: IoBuf> fmt::Debug for WriteAllFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteAllFuture").finish_non_exhaustive()
    }
}
