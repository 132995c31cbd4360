//! Connect: a socket to a peer address.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Connect {
    fd: SharedFd,
    addr: Box<RawAddr>,
    started: bool,
}

fn again() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

impl Operation for Connect {
    const OPCODE: Opcode = opcodes::CONNECT;
    fn sqe(&mut self) -> squeue::Entry {
        let (addr, len) = (self.addr.as_ptr(), self.addr.len);
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Connect::new(fd, addr, len).build())
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    /// Go's connect: the first call starts it (EINPROGRESS: wait for write readiness); later
    /// calls read SO_ERROR, and since the poller can wake spuriously, a zero SO_ERROR is
    /// confirmed with getpeername before reporting success.
    fn attempt(&mut self) -> io::Result<u32> {
        if !self.started {
            self.started = true;
            return match syscall!(connect(self.fd.raw(), self.addr.as_ptr(), self.addr.len)) {
                Ok(_) => Ok(0),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINPROGRESS | libc::EINTR | libc::EALREADY)
                    ) =>
                {
                    Err(again())
                }
                Err(e) => Err(e),
            };
        }
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        syscall!(getsockopt(
            self.fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len
        ))?;
        match err {
            0 => match sock_name(self.fd.raw(), true) {
                Ok(_) => Ok(0),
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(again()),
                Err(e) => Err(e),
            },
            libc::EINPROGRESS | libc::EALREADY | libc::EINTR => Err(again()),
            libc::EISCONN => Ok(0),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

impl OpAble for Connect {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn restartable(&self) -> bool {
        false
    }
}

pub(crate) async fn connect(fd: &SharedFd, addr: RawAddr) -> io::Result<()> {
    Op::new(Connect {
        fd: fd.clone(),
        addr: Box::new(addr),
        started: false,
    })
    .await
    .result
    .map(drop)
}
