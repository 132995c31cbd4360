//! Read: read(2) or pread(2) into an owned buffer's spare capacity, for fds that are not
//! sockets — a signalfd, an eventfd or a pipe (pollable, read at the current position), or a
//! regular file (read at an offset).
//!
//! On io_uring both are an `IORING_OP_READ` (offset -1 means "the current position", as
//! non-seekable fds require). On the readiness driver a pollable fd follows the usual try /
//! EAGAIN / park loop; a regular file cannot be polled (epoll_ctl answers EPERM), so its pread
//! runs on the blocking pool (the blocking form), into the buffer the op keeps until the
//! result is back: the executor's thread never waits for the disk.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::{off_t, Blocking};
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    /// `None`: the fd's current position (read(2)); `Some`: this offset (pread(2)).
    offset: Option<u64>,
}

impl<B: IoBufMut> Operation for Read<B> {
    const OPCODE: Opcode = opcodes::READ;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        let offset = self.offset.unwrap_or(u64::MAX);
        self.fd.file_ref().sqe(|fd| {
            // `len <= MAX_RW`: it fits.
            opcode::Read::new(fd, ptr, len as u32)
                .offset(offset)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        // Only fds registered with epoll can wait; a file's pread never says EAGAIN.
        self.fd.is_polled().then_some(Direction::Read)
    }
    fn blocking(&mut self) -> Option<Blocking> {
        // Pollable fds (pipes, eventfds) wait for readiness; files block, so they go to the pool.
        let offset = self.offset.filter(|_| !self.fd.is_polled())?;
        let (buf, len) = crate::buf::spare_mut(&mut self.buf);
        Some(Blocking::Pread {
            fd: self.fd.raw(),
            buf,
            len,
            offset,
        })
    }
    fn attempt(&mut self) -> io::Result<u32> {
        let fd = self.fd.raw();
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        match self.offset {
            None => syscall!(read(fd, ptr.cast(), len)),
            Some(off) => syscall!(pread(fd, ptr.cast(), len, off_t(off)?)),
        }
        .map(|n| n as u32)
    }
}

impl<B: IoBufMut> OpAble for Read<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

/// Reads once into `buf`'s spare capacity, at `offset` or at the fd's current position;
/// 0 means end of file.
pub(crate) async fn read<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: Option<u64>,
) -> BufResult<usize, B> {
    if let Err(e) = crate::buf::check_room(&buf) {
        return (Err(e), buf);
    }
    // An SQE would read u64::MAX as "the current position": refused on every driver.
    if let Some(Err(e)) = offset.map(off_t) {
        return (Err(e), buf);
    }
    let done = Op::new(Read {
        fd: fd.clone(),
        buf,
        offset,
    })
    .await;
    let mut buf = done.data.buf;
    let res = done.result.map(|n| {
        // SAFETY: the kernel wrote `n` bytes into the spare capacity.
        unsafe { crate::buf::advance_init(&mut buf, n as usize) };
        n as usize
    });
    (res, buf)
}
