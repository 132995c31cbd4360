//! The write side: writes stage into a buffer; a flush hands it to corio's `write_all`.
//!
//! Two buffers take turns, so a caller keeps staging while the previous batch is in flight:
//! `staged` collects the caller's bytes (one copy), the `write_all_owned` future in `op` owns
//! the other one while it writes, and it comes back empty when the write is done: as
//! `staged` itself if nothing was staged meanwhile (a caller that flushes and waits, as a
//! request-response protocol does, so holds one buffer only), else as `spare`.
//! The future is polled in place, with the caller's context (its waker is the waiting task's).
//! Like tokio's `BufWriter`, nothing is sent until a flush (or until `staged` is full):
//! callers must flush, as hyper, tokio-rustls and `tokio::io::copy` do.
//!
//! Bytes a `poll_write` accepted are staged, then written by a flush or shutdown, which report
//! the write's error if it fails. An error from a write whose bytes were already accepted is
//! returned by the next write, flush or shutdown; after it the side stays failed (its staged
//! bytes are dropped), since which of the bytes reached the peer is unknown. Dropping the side
//! with a write in flight drops its future: corio cancels the write and (io_uring) holds the
//! buffer until the kernel is done with it.

use crate::owned::OwnedStream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

/// The shutdown in flight (once per stream, so boxed: it holds its own reference to the
/// stream).
type ShutdownFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

pub(crate) struct WriteSide<S: OwnedStream> {
    /// Bytes accepted from the caller, not yet handed to a write.
    staged: Vec<u8>,
    /// The buffer back from the last write (empty), reused as the next `staged`.
    spare: Vec<u8>,
    capacity: usize,
    /// Set by the first failed write; later calls fail with this kind.
    failed: Option<io::ErrorKind>,
    /// The write half is shut down.
    shut: bool,
    /// The write in flight, which owns the batch it writes.
    op: Option<S::WriteAll>,
    /// The shutdown in flight.
    shutdown: Option<ShutdownFuture>,
}

/// ENOTCONN from shutdown(Write): the peer reset the connection first (a client that closed
/// with bytes unread does), so there is no write half left to shut down — done, not an
/// error. Other errors (and corio's own "closed" error, which carries no errno) pass.
fn peer_gone_is_done(res: io::Result<()>) -> io::Result<()> {
    match res {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
        res => res,
    }
}

impl<S: OwnedStream> WriteSide<S> {
    pub(crate) fn new(capacity: usize) -> WriteSide<S> {
        WriteSide {
            staged: Vec::new(),
            spare: Vec::new(),
            capacity: capacity.max(1),
            failed: None,
            shut: false,
            op: None,
            shutdown: None,
        }
    }

    /// Stages as much of `buf` as fits (see [`poll_write_vectored`](Self::poll_write_vectored)).
    #[inline(always)]
    pub(crate) fn poll_write(
        &mut self,
        stream: &S,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.poll_room(stream, cx))?;
        let n = buf.len().min(self.capacity - self.staged.len());
        self.staged.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    /// Stages as much of `bufs` (in order) as fits. When `staged` is full, waits for the
    /// batch in flight, then hands `staged` over and stages into the other buffer.
    #[inline]
    pub(crate) fn poll_write_vectored(
        &mut self,
        stream: &S,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        ready!(self.poll_room(stream, cx))?;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.capacity - self.staged.len());
            self.staged.extend_from_slice(&b[..take]);
            n += take;
            if self.staged.len() == self.capacity {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    /// Makes room in `staged`: when it is full, waits for the write in flight, then starts
    /// writing `staged` and stages into the other buffer.
    #[inline(always)]
    fn poll_room(&mut self, stream: &S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.staged.len() >= self.capacity {
            ready!(self.poll_idle(cx))?;
            self.start(stream);
            // Start the write now (epoll: the syscall; io_uring: the SQE) while the caller
            // stages more; its completion is collected by a later call.
            if let Poll::Ready(res) = self.poll_idle(cx) {
                res?;
            }
        }
        if self.staged.capacity() == 0 {
            self.staged.reserve_exact(self.capacity);
        }
        Poll::Ready(Ok(()))
    }

    /// Sends everything staged and waits until it is written.
    #[inline(always)]
    pub(crate) fn poll_flush(&mut self, stream: &S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        loop {
            ready!(self.poll_idle(cx))?;
            if self.staged.is_empty() {
                return Poll::Ready(Ok(()));
            }
            self.start(stream);
        }
    }

    /// Flushes, then shuts down the write half. Idempotent once it succeeded.
    pub(crate) fn poll_shutdown(
        &mut self,
        stream: &Rc<S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        if self.shutdown.is_none() {
            ready!(self.poll_flush(stream, cx))?;
            let stream = stream.clone();
            self.shutdown = Some(Box::pin(async move {
                peer_gone_is_done(stream.shutdown_write().await)
            }));
        }
        let Some(shutdown) = self.shutdown.as_mut() else {
            unreachable!("a shutdown was just started")
        };
        let res = ready!(shutdown.as_mut().poll(cx));
        self.shutdown = None;
        self.shut = res.is_ok();
        Poll::Ready(res.map_err(|e| self.fail(e)))
    }

    /// True if bytes are staged, or a write or the shutdown is in flight.
    pub(crate) fn has_pending(&self) -> bool {
        self.op.is_some() || self.shutdown.is_some() || !self.staged.is_empty()
    }

    /// Starts writing `staged` (no write is in flight); the empty spare becomes the new
    /// `staged`.
    #[inline(always)]
    fn start(&mut self, stream: &S) {
        if self.staged.is_empty() {
            return;
        }
        let next = std::mem::take(&mut self.spare);
        let batch = std::mem::replace(&mut self.staged, next);
        self.op = Some(stream.write_all_owned(batch));
    }

    /// Waits for the write in flight, if any, recording its outcome.
    #[inline(always)]
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(op) = self.op.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let (res, mut buf) = ready!(Pin::new(op).poll(cx));
        self.op = None;
        buf.clear();
        if self.staged.capacity() == 0 {
            // Nothing was staged while the write ran (a caller that flushes and waits, as a
            // request-response protocol does): the buffer goes straight back to `staged`,
            // so such a connection only ever holds one write buffer.
            self.staged = buf;
        } else {
            self.spare = buf;
        }
        Poll::Ready(res.map_err(|e| self.fail(e)))
    }

    #[cold]
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = Some(e.kind());
        self.staged.clear();
        e
    }

    #[inline(always)]
    fn check(&self) -> io::Result<()> {
        match self.failed {
            Some(kind) => Err(failed(kind)),
            None => Ok(()),
        }
    }
}

#[cold]
fn failed(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "an earlier write on this stream failed")
}
