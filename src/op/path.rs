//! Operations on names, not open files: rename (`IORING_OP_RENAMEAT`), unlink and rmdir
//! (`IORING_OP_UNLINKAT`), mkdir (`IORING_OP_MKDIRAT`), relative to the working directory. On
//! epoll, and on io_uring where the kernel lacks the opcode, the same syscalls run on the
//! blocking pool. Each path is an owned `CString` in the op, kept until the result is back.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

const CWD: types::Fd = types::Fd(libc::AT_FDCWD);

pub(crate) struct RenameAt {
    from: CString,
    to: CString,
}

impl RenameAt {
    fn call(&self) -> Blocking {
        Blocking::RenameAt {
            old_dir: libc::AT_FDCWD,
            old: self.from.as_ptr(),
            new_dir: libc::AT_FDCWD,
            new: self.to.as_ptr(),
            flags: 0,
        }
    }
}

impl Operation for RenameAt {
    const OPCODE: Opcode = opcodes::RENAMEAT;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RenameAt::new(CWD, self.from.as_ptr(), CWD, self.to.as_ptr()).build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(self.call())
    }
}

impl OpAble for RenameAt {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

pub(crate) struct UnlinkAt {
    path: CString,
    /// `AT_REMOVEDIR` for rmdir.
    flags: i32,
}

impl UnlinkAt {
    fn call(&self) -> Blocking {
        Blocking::UnlinkAt {
            dir: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            flags: self.flags,
        }
    }
}

impl Operation for UnlinkAt {
    const OPCODE: Opcode = opcodes::UNLINKAT;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(CWD, self.path.as_ptr())
            .flags(self.flags)
            .build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(self.call())
    }
}

impl OpAble for UnlinkAt {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

pub(crate) struct MkdirAt {
    path: CString,
    mode: u32,
}

impl MkdirAt {
    fn call(&self) -> Blocking {
        Blocking::MkdirAt {
            dir: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            mode: self.mode,
        }
    }
}

impl Operation for MkdirAt {
    const OPCODE: Opcode = opcodes::MKDIRAT;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(CWD, self.path.as_ptr())
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

impl OpAble for MkdirAt {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

/// rename(2): `from` becomes `to`, replacing it if it exists.
pub(crate) async fn rename(from: CString, to: CString) -> io::Result<()> {
    Op::new(RenameAt { from, to }).await.result.map(drop)
}

/// unlink(2), or rmdir(2) when `dir`.
pub(crate) async fn unlink(path: CString, dir: bool) -> io::Result<()> {
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    Op::new(UnlinkAt { path, flags }).await.result.map(drop)
}

/// mkdir(2) with `mode` (less the umask).
pub(crate) async fn mkdir(path: CString, mode: u32) -> io::Result<()> {
    Op::new(MkdirAt { path, mode }).await.result.map(drop)
}
