//! The read side: one buffer, filled by corio's read, drained by poll-based callers.
//!
//! `buf[pos..]` holds bytes received and not yet consumed. When it is empty, the buffer goes
//! to the read pump, which runs one `read_owned` into it; the buffer comes back with what the
//! kernel wrote. The kernel writes into this buffer and the caller copies out of it: one copy.

use crate::owned::OwnedStream;
use crate::pump::Pump;
use corio::buf::BufResult;
use std::io;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

type ReadPump = Pump<Vec<u8>, BufResult<usize, Vec<u8>>>;

pub(crate) struct ReadSide {
    /// Received bytes (`..len()`); empty with no capacity while the pump has the buffer.
    buf: Vec<u8>,
    /// How much of `buf` the caller has consumed.
    pos: usize,
    pump: ReadPump,
}

impl ReadSide {
    pub(crate) fn new<S: OwnedStream>(stream: Rc<S>, capacity: usize) -> ReadSide {
        let pump = Pump::new(|mailbox| async move {
            loop {
                let buf = mailbox.next_request().await;
                let out = stream.read_owned(buf).await;
                mailbox.reply(out);
            }
        });
        ReadSide {
            buf: Vec::with_capacity(capacity.max(1)),
            pos: 0,
            pump,
        }
    }

    /// The bytes received and not yet consumed, reading more if there are none; empty at EOF.
    #[inline(always)]
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if !self.pump.is_busy() {
            if self.pos < self.buf.len() {
                return Poll::Ready(Ok(&self.buf[self.pos..]));
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.pos = 0;
            self.pump.post(buf);
        }
        let (res, buf) = ready!(self.pump.poll_reply(cx));
        self.buf = buf;
        match res {
            Ok(_) => Poll::Ready(Ok(&self.buf[..])),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Marks `n` bytes of what [`poll_fill`](Self::poll_fill) returned as consumed.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Copies received bytes into `dst`, reading more if there are none; 0 at EOF (or for an
    /// empty `dst`, which reads nothing).
    pub(crate) fn poll_copy_to(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let src = ready!(self.poll_fill(cx))?;
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// True while a read is in flight in the pump.
    pub(crate) fn is_busy(&self) -> bool {
        self.pump.is_busy()
    }

    /// The unconsumed bytes (used when the stream is taken back).
    pub(crate) fn into_unconsumed(mut self) -> Vec<u8> {
        if self.pump.is_busy() {
            return Vec::new();
        }
        self.buf.drain(..self.pos);
        self.buf
    }
}
