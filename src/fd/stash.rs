//! The lossless read side of an fd: what dropped reads and accepts received after their futures
//! were gone, kept for the next read or accept, and the count of such dropped ops still in
//! flight (counted on the fd: a new read waits for them, so bytes never come out of order).
//!
//! See docs/architecture.md, "Lossless cancellation".

use crate::buf::IoBufMut;
use crate::driver::FixedFile;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// A connection an accept received: an fd, or a slot in the ring's registered files (direct
/// accept, `Builder::registered_fds`).
pub(crate) enum Accepted {
    Fd(OwnedFd),
    Fixed(FixedFile),
}

/// Bytes a dropped read received, with the sender for datagram reads.
pub(crate) struct Chunk {
    pub(crate) data: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) from: Option<SocketAddr>,
}

#[derive(Default)]
pub(crate) struct ReadSide {
    chunks: RefCell<VecDeque<Chunk>>,
    eof: Cell<bool>,
    error: RefCell<Option<io::Error>>,
    accepted: RefCell<VecDeque<Accepted>>,
}

impl ReadSide {
    /// Keeps the outcome of a dropped read: bytes, EOF (`Ok(None)`), or an error.
    pub(crate) fn keep(&self, outcome: io::Result<Option<Chunk>>) {
        match outcome {
            // An empty stream read is EOF (`Ok(None)`); an empty datagram is a datagram.
            Ok(Some(chunk)) if chunk.data.is_empty() && chunk.from.is_none() => {}
            Ok(Some(chunk)) => self.chunks.borrow_mut().push_back(chunk),
            Ok(None) => self.eof.set(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::EINTR)) => {}
            Err(e) => *self.error.borrow_mut() = Some(e),
        }
    }

    /// Keeps a connection a dropped accept received.
    pub(crate) fn keep_accepted(&self, conn: Accepted) {
        self.accepted.borrow_mut().push_back(conn);
    }

    /// The oldest connection kept from a dropped accept.
    pub(crate) fn take_accepted(&self) -> Option<Accepted> {
        self.accepted.borrow_mut().pop_front()
    }

    /// True if a dropped read left something for the next read.
    pub(crate) fn has_stash(&self) -> bool {
        !self.chunks.borrow().is_empty() || self.eof.get() || self.error.borrow().is_some()
    }

    /// True if nothing at all is kept.
    pub(crate) fn is_empty(&self) -> bool {
        !self.has_stash() && self.accepted.borrow().is_empty()
    }

    /// Drops everything kept (the fd is closing).
    pub(crate) fn clear(&self) {
        self.chunks.borrow_mut().clear();
        self.accepted.borrow_mut().clear();
    }

    /// Copies stashed stream bytes into `buf`'s spare capacity, as a read would (the caller
    /// marks them initialized); a kept EOF is `Ok(0)`, a kept error is returned once. `None`
    /// if nothing is stashed.
    pub(crate) fn take_stream<B: IoBufMut>(&self, buf: &mut B) -> Option<io::Result<u32>> {
        if !self.has_stash() {
            return None;
        }
        let mut chunks = self.chunks.borrow_mut();
        if chunks.is_empty() {
            if let Some(e) = self.error.borrow_mut().take() {
                return Some(Err(e));
            }
            self.eof.set(false);
            return Some(Ok(0));
        }
        let (dst, room) = crate::buf::spare_mut(buf);
        let mut copied = 0;
        while copied < room {
            let Some(chunk) = chunks.front_mut() else {
                break;
            };
            let n = (chunk.data.len() - chunk.pos).min(room - copied);
            // SAFETY: `copied + n <= room`, inside the buffer's spare capacity, and the source
            // is a separate Vec.
            unsafe {
                std::ptr::copy_nonoverlapping(chunk.data[chunk.pos..].as_ptr(), dst.add(copied), n)
            };
            copied += n;
            chunk.pos += n;
            if chunk.pos == chunk.data.len() {
                chunks.pop_front();
            }
        }
        Some(Ok(copied as u32))
    }

    /// Copies one stashed datagram into `buf`'s spare capacity (truncated to fit, like
    /// recv(2)); returns its length and sender, or a kept error or empty datagram. `None` if
    /// nothing is stashed.
    pub(crate) fn take_datagram<B: IoBufMut>(
        &self,
        buf: &mut B,
    ) -> Option<io::Result<(u32, Option<SocketAddr>)>> {
        let Some(chunk) = self.chunks.borrow_mut().pop_front() else {
            if let Some(e) = self.error.borrow_mut().take() {
                return Some(Err(e));
            }
            // A kept empty datagram (kept as "EOF" by a dropped connected read).
            return self.eof.replace(false).then_some(Ok((0, None)));
        };
        let (dst, room) = crate::buf::spare_mut(buf);
        let n = (chunk.data.len() - chunk.pos).min(room);
        // SAFETY: `n <= room`, inside the buffer's spare capacity; the source is a separate
        // Vec.
        unsafe { std::ptr::copy_nonoverlapping(chunk.data[chunk.pos..].as_ptr(), dst, n) };
        Some(Ok((n as u32, chunk.from)))
    }
}
