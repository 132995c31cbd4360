//! RecvPooled: a read into a provided buffer (`driver/provided.rs`) taken only when bytes are
//! there, so the read holds no buffer while it waits.
//!
//! - io_uring with a provided-buffer ring: one recv with IOSQE_BUFFER_SELECT; the kernel picks
//!   a buffer of the group when data arrives and names it in the CQE's flags.
//! - epoll (the buffers are a free list): Go's loop as for `Recv`, except that each attempt
//!   takes a buffer from the list just before recv(2) and gives it back on EAGAIN: a read
//!   into a pooled buffer after readiness, one op per read.
//!
//! Either way, no buffer to read into (the ring or the list is empty) ends the op with
//! ENOBUFS and no byte read; `net::pooled` then grows the ring or reads into a buffer of its
//! own. Lossless cancellation as for `Recv`: a dropped read whose CQE names a buffer keeps its
//! bytes on the fd (copied out; the buffer goes back at once), and the next read returns
//! them first.

use super::recv::ReadKind;
use super::{OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::provided::ProvidedBufs;
use crate::driver::Direction;
use crate::fd::{Chunk, SharedFd};
use io_uring::{cqueue, opcode, squeue};
use std::io;
use std::rc::Rc;

pub(crate) struct RecvPooled {
    fd: SharedFd,
    bufs: Rc<ProvidedBufs>,
    kind: ReadKind,
    /// What dropped reads kept, returned instead of a read (in a buffer of its own).
    stashed: Option<Vec<u8>>,
    /// Readiness form: the buffer the successful attempt read into, held by this op until
    /// `take_buffer` hands it on.
    taken: Option<u16>,
}

impl RecvPooled {
    /// A read into a buffer of `bufs` (from its kernel ring where it has one).
    pub(crate) fn new(fd: &SharedFd, bufs: &Rc<ProvidedBufs>, kind: ReadKind) -> RecvPooled {
        RecvPooled {
            fd: fd.clone(),
            bufs: bufs.clone(),
            kind,
            stashed: None,
            taken: None,
        }
    }

    /// The buffer the op read into: named by the CQE's `flags`, or taken by the readiness
    /// attempt. Held by the caller from now on.
    pub(crate) fn take_buffer(&mut self, flags: u32) -> Option<u16> {
        if let Some(id) = self.taken.take() {
            return Some(id);
        }
        let id = cqueue::buffer_select(flags)?;
        self.bufs.picked(id);
        Some(id)
    }

    /// What dropped reads kept, if the op returned that instead of reading.
    pub(crate) fn take_stash(&mut self) -> Option<Vec<u8>> {
        self.stashed.take()
    }
}

impl Drop for RecvPooled {
    fn drop(&mut self) {
        // A buffer an attempt read into and nobody took (never in practice: the result is
        // returned in the poll that read it) goes back, not astray.
        if let Some(id) = self.taken.take() {
            self.bufs.give_back(id);
        }
    }
}

impl Operation for RecvPooled {
    const OPCODE: Opcode = opcodes::RECV;
    fn sqe(&mut self) -> squeue::Entry {
        // `net::pooled` starts it on the ring only where the buffers are a kernel ring.
        let group = self
            .bufs
            .group()
            .expect("a pooled read goes to the ring only with a kernel ring");
        let len = self.bufs.size();
        // No address: the kernel picks a buffer of the group when there are bytes for it.
        self.fd.file_ref().sqe(|fd| {
            opcode::Recv::new(fd, std::ptr::null_mut(), len)
                .buf_group(group)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        // The list is empty: the caller finds another buffer.
        let id = self
            .bufs
            .take()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOBUFS))?;
        let size = self.bufs.size() as usize;
        let res = crate::sys::raw::recv(self.fd.raw(), self.bufs.buffer(id), size, 0);
        match res {
            Ok(_) => self.taken = Some(id),
            // Nothing read (EAGAIN: the op parks; an error ends it): no buffer held.
            Err(_) => self.bufs.give_back(id),
        }
        res
    }
    fn drains(&self, n: u32) -> bool {
        // As for `Recv`: a TCP read shorter than asked emptied the queue (0 is EOF).
        self.kind == ReadKind::Tcp && n > 0 && n < self.bufs.size()
    }
}

impl OpAble for RecvPooled {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        if !self.fd.has_stash() {
            return None;
        }
        let mut buf = Vec::with_capacity(self.bufs.size() as usize);
        let res = self.fd.take_stream(&mut buf)?;
        if let Ok(n) = res {
            // SAFETY: the stash wrote `n` bytes into the spare capacity.
            unsafe { crate::buf::advance_init(&mut buf, n as usize) };
            self.stashed = Some(buf);
        }
        Some(res)
    }
    fn orphan_complete(self, result: io::Result<u32>, flags: u32) {
        // Only ring reads are orphaned (a readiness attempt holds nothing in the kernel).
        let picked = cqueue::buffer_select(flags);
        if let Some(id) = picked {
            self.bufs.picked(id);
        }
        let outcome = match (result, picked) {
            // EOF names no buffer.
            (Ok(0), _) => Ok(None),
            (Ok(n), Some(id)) => {
                // SAFETY: the kernel wrote `n <= size` bytes into buffer `id`, which this
                // orphan holds until it gives it back below.
                let data = unsafe { std::slice::from_raw_parts(self.bufs.buffer(id), n as usize) };
                Ok(Some(Chunk {
                    data: data.to_vec(),
                    pos: 0,
                    from: None,
                }))
            }
            (Ok(_), None) => Err(io::Error::other("a recv with bytes named no buffer")),
            // No buffer (ENOBUFS) read nothing: the bytes are still queued, nothing to keep.
            (Err(e), _) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Some(Chunk {
                data: Vec::new(),
                pos: 0,
                from: None,
            })),
            (Err(e), _) => Err(e),
        };
        if let Some(id) = picked {
            self.bufs.give_back(id);
        }
        self.fd.keep_read(outcome);
    }
}
