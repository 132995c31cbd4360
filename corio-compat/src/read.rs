//! The read side: one buffer, filled by corio's read, drained by poll-based callers.
//!
//! `buf[pos..]` holds bytes received and not yet consumed. When it is empty, the buffer moves
//! into a `read_owned` future that this side keeps in `op` and polls in place, with the
//! caller's context (so the read's waker is the waiting task's); the buffer comes back with
//! what the kernel wrote. The kernel writes into this buffer and the caller copies out of it:
//! one copy.
//!
//! The read in flight belongs to this side, not to the caller's future: a caller that stops
//! polling (a dropped `read()` future, an elapsed timeout) leaves it in `op`, and the next call
//! polls it on with whatever it received. No byte is lost, and none is read twice. Dropping
//! the side drops the future: corio cancels the read, keeps what it received on the stream,
//! and (io_uring) holds the buffer until the kernel is done with it.

use crate::owned::OwnedStream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pub(crate) struct ReadSide<S: OwnedStream> {
    /// Received bytes (`..len()`); empty with no capacity while `op` has the buffer.
    buf: Vec<u8>,
    /// How much of `buf` the caller has consumed.
    pos: usize,
    /// The read in flight, which owns the buffer.
    op: Option<S::Read>,
}

impl<S: OwnedStream> ReadSide<S> {
    pub(crate) fn new(capacity: usize) -> ReadSide<S> {
        ReadSide {
            buf: Vec::with_capacity(capacity.max(1)),
            pos: 0,
            op: None,
        }
    }

    /// The bytes received and not yet consumed, reading more from `stream` if there are none;
    /// empty at EOF.
    #[inline(always)]
    pub(crate) fn poll_fill(
        &mut self,
        stream: &S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&[u8]>> {
        if self.op.is_none() {
            if self.pos < self.buf.len() {
                return Poll::Ready(Ok(&self.buf[self.pos..]));
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.pos = 0;
            self.op = Some(stream.read_owned(buf));
        }
        let Some(op) = self.op.as_mut() else {
            unreachable!("a read was just started")
        };
        let (res, buf) = ready!(Pin::new(op).poll(cx));
        self.op = None;
        self.buf = buf;
        match res {
            Ok(_) => Poll::Ready(Ok(&self.buf[..])),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Marks `n` bytes of what [`poll_fill`](Self::poll_fill) returned as consumed.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Copies received bytes into `dst`, reading more if there are none; 0 at EOF (or for an
    /// empty `dst`, which reads nothing).
    #[inline(always)]
    pub(crate) fn poll_copy_to(
        &mut self,
        stream: &S,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let src = ready!(self.poll_fill(stream, cx))?;
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// True while a read is in flight.
    pub(crate) fn is_busy(&self) -> bool {
        self.op.is_some()
    }

    /// The unconsumed bytes (used when the stream is taken back). A read in flight is dropped
    /// (cancelled losslessly: corio keeps what it received on the stream).
    pub(crate) fn into_unconsumed(mut self) -> Vec<u8> {
        if self.op.take().is_some() {
            return Vec::new();
        }
        self.buf.drain(..self.pos);
        self.buf
    }
}
