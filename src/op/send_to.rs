//! SendTo: one datagram to an address (sendmsg), from an owned buffer.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBuf};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

/// The kernel-visible parts of a sendmsg, boxed together so their addresses are stable.
struct MsgParts {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: RawAddr,
}

pub(crate) struct SendTo<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<MsgParts>,
}

impl<B: IoBuf> Operation for SendTo<B> {
    const OPCODE: Opcode = opcodes::SENDMSG;
    fn sqe(&mut self) -> squeue::Entry {
        let msg: *const libc::msghdr = &self.parts.msg;
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
        syscall!(sendmsg(self.fd.raw(), &self.parts.msg, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}

impl<B: IoBuf> OpAble for SendTo<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
}

pub(crate) async fn send_to<B: IoBuf>(fd: &SharedFd, buf: B, addr: RawAddr) -> BufResult<usize, B> {
    let (base, len) = crate::buf::init_bytes(&buf);
    let iov = libc::iovec {
        iov_base: base as *mut _,
        iov_len: len,
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let msg = unsafe { std::mem::zeroed() };
    let mut parts = Box::new(MsgParts { msg, iov, addr });
    parts.msg.msg_iov = &mut parts.iov;
    parts.msg.msg_iovlen = 1;
    parts.msg.msg_name = parts.addr.as_mut_ptr().cast();
    parts.msg.msg_namelen = parts.addr.len;
    let done = Op::new(SendTo {
        fd: fd.clone(),
        buf,
        parts,
    })
    .await;
    (done.result.map(|n| n as usize), done.data.buf)
}
