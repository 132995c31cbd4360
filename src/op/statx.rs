//! Statx: a file's metadata, by path or of an open file. `IORING_OP_STATX` on io_uring;
//! statx(2) on the blocking pool on epoll, and on io_uring where the kernel lacks the opcode.
//! The path and the record the kernel fills are owned by the op (the record boxed), so both
//! stay in place until the result is back.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::{Direction, FileRef};
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue};
use std::ffi::CString;
use std::io;

/// What corio asks statx for: the basic fields and the birth time.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

pub(crate) struct Statx {
    /// The open file, for `File::metadata` (with an empty path and `AT_EMPTY_PATH`).
    file: Option<SharedFd>,
    path: CString,
    flags: i32,
    buf: Box<libc::statx>,
}

impl Statx {
    /// What the path is relative to: the open file itself (an empty path, `AT_EMPTY_PATH`), or
    /// the working directory.
    fn dir(&self) -> FileRef {
        let cwd = FileRef::Fd(libc::AT_FDCWD);
        self.file.as_ref().map_or(cwd, SharedFd::file_ref)
    }
}

impl Operation for Statx {
    const OPCODE: Opcode = opcodes::STATX;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let buf: *mut libc::statx = &mut *self.buf;
        let (path, flags) = (self.path.as_ptr(), self.flags);
        self.dir().sqe(|dir| {
            opcode::Statx::new(dir, path, buf.cast())
                .flags(flags)
                .mask(MASK)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(Blocking::Statx {
            dir: self.file.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw),
            path: self.path.as_ptr(),
            flags: self.flags,
            mask: MASK,
            buf: &mut *self.buf,
        })
    }
}

impl OpAble for Statx {
    fn fd(&self) -> Option<&SharedFd> {
        self.file.as_ref()
    }
}

fn empty_statx() -> Box<libc::statx> {
    // SAFETY: statx is plain data (integers and arrays of them); all-zero is a valid value.
    Box::new(unsafe { std::mem::zeroed() })
}

/// statx(2) of `path` (`follow`: through a final symlink).
pub(crate) async fn stat_path(path: CString, follow: bool) -> io::Result<libc::statx> {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    run(None, path, flags).await
}

/// statx(2) of an open file.
pub(crate) async fn stat_fd(fd: &SharedFd) -> io::Result<libc::statx> {
    run(Some(fd.clone()), CString::default(), libc::AT_EMPTY_PATH).await
}

async fn run(file: Option<SharedFd>, path: CString, flags: i32) -> io::Result<libc::statx> {
    let done = Op::new(Statx {
        file,
        path,
        flags,
        buf: empty_statx(),
    })
    .await;
    done.result.map(|_| *done.data.buf)
}
