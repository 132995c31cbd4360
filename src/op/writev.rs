//! Writev: several owned buffers in one sendmsg (no SIGPIPE on a reset peer).

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBuf};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Writev<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    /// Heap-allocated so the kernel's view of them stays put while the op moves.
    iovecs: Vec<libc::iovec>,
    msg: Box<libc::msghdr>,
}

impl<B: IoBuf> Writev<B> {
    fn new(fd: SharedFd, bufs: Vec<B>) -> Self {
        let mut iovecs: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| {
                // The kernel cuts the total to MAX_RW as well.
                let (base, len) = crate::buf::init_bytes(b);
                libc::iovec {
                    iov_base: base as *mut _,
                    iov_len: len,
                }
            })
            .collect();
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_iov = iovecs.as_mut_ptr();
        msg.msg_iovlen = iovecs.len();
        Writev {
            fd,
            bufs,
            iovecs,
            msg,
        }
    }
}

impl<B: IoBuf> Operation for Writev<B> {
    const OPCODE: Opcode = opcodes::SENDMSG;
    fn sqe(&mut self) -> squeue::Entry {
        debug_assert_eq!(self.msg.msg_iov, self.iovecs.as_mut_ptr());
        let msg: *const libc::msghdr = &*self.msg;
        self.fd.file_ref().sqe(|fd| {
            opcode::SendMsg::new(fd, msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(sendmsg(self.fd.raw(), &*self.msg, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}

impl<B: IoBuf> OpAble for Writev<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
}

/// Writes the initialized bytes of `bufs`, in order, with one sendmsg; returns the count sent.
pub(crate) async fn writev<B: IoBuf>(fd: &SharedFd, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
    let done = Op::new(Writev::new(fd.clone(), bufs)).await;
    (done.result.map(|n| n as usize), done.data.bufs)
}
