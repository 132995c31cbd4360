//! OpenAt: open(2) by path, relative to the working directory. `IORING_OP_OPENAT` on io_uring;
//! openat(2) on the blocking pool on epoll, and on io_uring where the kernel lacks the opcode.
//!
//! The path is an owned `CString` in the op, so it stays in place until the kernel (or the
//! pool thread) has read it, even if the future is dropped. A dropped open whose result is an
//! fd closes it (`orphan_complete`): an open never leaks a descriptor.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

pub(crate) struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    fn call(&self) -> Blocking {
        Blocking::OpenAt {
            dir: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            flags: self.flags,
            mode: self.mode,
        }
    }
}

impl Operation for OpenAt {
    const OPCODE: Opcode = opcodes::OPENAT;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(self.call())
    }
}

impl OpAble for OpenAt {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
    fn orphan_complete(self, result: io::Result<u32>, _flags: u32) {
        if let Ok(fd) = result {
            // Nobody will use the file: close it now (see the module docs).
            let _ = crate::sys::close(fd as i32);
        }
    }
}

/// Opens `path` with open(2) `flags` (O_CLOEXEC is added) and `mode` for a created file.
pub(crate) async fn open(path: CString, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC;
    let done = Op::new(OpenAt { path, flags, mode }).await;
    let fd = done.result?;
    // SAFETY: the kernel just opened this fd for us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
