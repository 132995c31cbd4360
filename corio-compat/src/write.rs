//! The write side: writes stage into a buffer; a flush hands it to corio's `write_all`.
//!
//! Two buffers take turns, so a caller keeps staging while the previous batch is in flight:
//! `staged` collects the caller's bytes (one copy), the write pump owns the other one while it
//! writes, and it comes back empty (as `spare`) when the write is done. Like tokio's
//! `BufWriter`, nothing is sent until a flush (or until `staged` is full): callers must flush,
//! as hyper, tokio-rustls and `tokio::io::copy` do.
//!
//! An error from a write whose bytes were already accepted is returned by the next write,
//! flush or shutdown; after it the side stays failed (its staged bytes are dropped), since
//! which of the bytes reached the peer is unknown.

use crate::owned::OwnedStream;
use crate::pump::Pump;
use std::io;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

pub(crate) enum WriteReq {
    /// Write all of it.
    Data(Vec<u8>),
    /// shutdown(Write).
    Shutdown,
}

pub(crate) enum WriteRep {
    /// The outcome and the buffer, back from `write_all`.
    Data(io::Result<()>, Vec<u8>),
    /// The outcome of shutdown(Write).
    Shutdown(io::Result<()>),
}

pub(crate) struct WriteSide {
    /// Bytes accepted from the caller, not yet handed to the pump.
    staged: Vec<u8>,
    /// The buffer back from the last write (empty), reused as the next `staged`.
    spare: Vec<u8>,
    capacity: usize,
    /// Set by the first failed write; later calls fail with this kind.
    failed: Option<io::ErrorKind>,
    /// The write half is shut down.
    shut: bool,
    pump: Pump<WriteReq, WriteRep>,
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

impl WriteSide {
    pub(crate) fn new<S: OwnedStream>(stream: Rc<S>, capacity: usize) -> WriteSide {
        let pump = Pump::new(|mailbox| async move {
            loop {
                let rep = match mailbox.next_request().await {
                    WriteReq::Data(buf) => {
                        let (res, buf) = stream.write_all_owned(buf).await;
                        WriteRep::Data(res, buf)
                    }
                    WriteReq::Shutdown => {
                        WriteRep::Shutdown(peer_gone_is_done(stream.shutdown_write().await))
                    }
                };
                mailbox.reply(rep);
            }
        });
        WriteSide {
            staged: Vec::new(),
            spare: Vec::new(),
            capacity: capacity.max(1),
            failed: None,
            shut: false,
            pump,
        }
    }

    /// Stages as much of `bufs` (in order) as fits. When `staged` is full, waits for the
    /// batch in flight, then hands `staged` over and stages into the other buffer.
    #[inline(always)]
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if self.staged.len() >= self.capacity {
            ready!(self.poll_idle(cx))?;
            self.start();
            // Start the write now (epoll: the syscall; io_uring: the SQE) while the caller
            // stages more; its completion is collected by a later call.
            if let Poll::Ready(res) = self.poll_idle(cx) {
                res?;
            }
        }
        if self.staged.capacity() == 0 {
            self.staged.reserve_exact(self.capacity);
        }
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

    /// Sends everything staged and waits until it is written.
    #[inline(always)]
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        loop {
            ready!(self.poll_idle(cx))?;
            if self.staged.is_empty() {
                return Poll::Ready(Ok(()));
            }
            self.start();
        }
    }

    /// Flushes, then shuts down the write half. Idempotent once it succeeded.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        // A shutdown posted by an earlier call may finish inside this flush.
        ready!(self.poll_flush(cx))?;
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        self.pump.post(WriteReq::Shutdown);
        self.poll_idle(cx)
    }

    /// True if bytes are staged or a write is in flight.
    pub(crate) fn has_pending(&self) -> bool {
        self.pump.is_busy() || !self.staged.is_empty()
    }

    /// Hands `staged` to the (idle) pump; the empty spare becomes the new `staged`.
    #[inline]
    fn start(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let next = std::mem::take(&mut self.spare);
        let batch = std::mem::replace(&mut self.staged, next);
        self.pump.post(WriteReq::Data(batch));
    }

    /// Waits for the pump's reply, recording its outcome.
    #[inline(always)]
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pump.is_busy() {
            return Poll::Ready(Ok(()));
        }
        let res = match ready!(self.pump.poll_reply(cx)) {
            WriteRep::Data(res, mut buf) => {
                buf.clear();
                self.spare = buf;
                res
            }
            WriteRep::Shutdown(res) => {
                self.shut = res.is_ok();
                res
            }
        };
        Poll::Ready(res.map_err(|e| self.fail(e)))
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = Some(e.kind());
        self.staged.clear();
        e
    }

    #[inline]
    fn check(&self) -> io::Result<()> {
        match self.failed {
            Some(kind) => Err(io::Error::new(
                kind,
                "an earlier write on this stream failed",
            )),
            None => Ok(()),
        }
    }
}
