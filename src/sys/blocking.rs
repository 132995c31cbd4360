//! The blocking form of an operation: one syscall, described with the raw arguments it takes,
//! for a blocking-pool thread to make. An operation that has one builds it from memory it owns
//! (its buffer, its path, its statx record), exactly as it builds its SQE; the pool thread is
//! to this memory what the kernel is to an SQE's (docs/architecture.md, "Ownership").

use super::syscall;
use std::ffi::c_char;
use std::io;
use std::os::fd::RawFd;

/// One syscall with its arguments.
#[derive(Debug)]
pub(crate) enum Blocking {
    /// pread(2) into `buf[..len]`.
    Pread {
        fd: RawFd,
        buf: *mut u8,
        len: usize,
        offset: u64,
    },
    /// pwrite(2) from `buf[..len]`.
    Pwrite {
        fd: RawFd,
        buf: *const u8,
        len: usize,
        offset: u64,
    },
    /// fsync(2), or fdatasync(2) when `data_only`.
    Fsync { fd: RawFd, data_only: bool },
    /// ftruncate(2).
    Ftruncate { fd: RawFd, len: u64 },
    /// fallocate(2).
    Fallocate {
        fd: RawFd,
        mode: i32,
        offset: u64,
        len: u64,
    },
    /// openat(2); the result is the new fd.
    OpenAt {
        dir: RawFd,
        path: *const c_char,
        flags: i32,
        mode: u32,
    },
    /// statx(2) into `*buf`.
    Statx {
        dir: RawFd,
        path: *const c_char,
        flags: i32,
        mask: u32,
        buf: *mut libc::statx,
    },
    /// renameat2(2).
    RenameAt {
        old_dir: RawFd,
        old: *const c_char,
        new_dir: RawFd,
        new: *const c_char,
        flags: u32,
    },
    /// unlinkat(2).
    UnlinkAt {
        dir: RawFd,
        path: *const c_char,
        flags: i32,
    },
    /// mkdirat(2).
    MkdirAt {
        dir: RawFd,
        path: *const c_char,
        mode: u32,
    },
}

// SAFETY: the pointers name memory owned by the operation that built this call. That operation
// keeps the memory in place — in its future, or in its driver's slot once the future is
// dropped — until the call's result has been handed back to its executor's thread (the
// driver's pool slots, `driver/offload.rs`), so the thread that makes the call may use it.
unsafe impl Send for Blocking {}

impl Blocking {
    /// Makes the call (EINTR retried; a call interrupted before it did anything is safe to
    /// repeat). Returns the syscall's value: a byte count, a new fd, or 0.
    pub(crate) fn run(self) -> io::Result<u32> {
        loop {
            match self.run_once() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return res,
            }
        }
    }

    fn run_once(&self) -> io::Result<u32> {
        let n = match *self {
            Blocking::Pread {
                fd,
                buf,
                len,
                offset,
            } => syscall!(pread(fd, buf.cast(), len, off_t(offset)?))? as u32,
            Blocking::Pwrite {
                fd,
                buf,
                len,
                offset,
            } => syscall!(pwrite(fd, buf.cast(), len, off_t(offset)?))? as u32,
            Blocking::Fsync { fd, data_only } => {
                if data_only {
                    syscall!(fdatasync(fd))?;
                } else {
                    syscall!(fsync(fd))?;
                }
                0
            }
            Blocking::Ftruncate { fd, len } => syscall!(ftruncate(fd, off_t(len)?)).map(|_| 0)?,
            Blocking::Fallocate {
                fd,
                mode,
                offset,
                len,
            } => syscall!(fallocate(fd, mode, off_t(offset)?, off_t(len)?)).map(|_| 0)?,
            Blocking::OpenAt {
                dir,
                path,
                flags,
                mode,
            } => syscall!(openat(dir, path, flags, mode))? as u32,
            Blocking::Statx {
                dir,
                path,
                flags,
                mask,
                buf,
            } => syscall!(statx(dir, path, flags, mask, buf)).map(|_| 0)?,
            Blocking::RenameAt {
                old_dir,
                old,
                new_dir,
                new,
                flags,
            } => syscall!(renameat2(old_dir, old, new_dir, new, flags)).map(|_| 0)?,
            Blocking::UnlinkAt { dir, path, flags } => {
                syscall!(unlinkat(dir, path, flags)).map(|_| 0)?
            }
            Blocking::MkdirAt { dir, path, mode } => {
                syscall!(mkdirat(dir, path, mode)).map(|_| 0)?
            }
        };
        Ok(n)
    }
}

/// A file length or offset as the kernel takes it (`loff_t`); beyond `i64::MAX` is
/// `InvalidInput`. Ops check theirs before they start, so every driver and form gives this
/// same answer: io_uring's READ and WRITE would read u64::MAX (-1) as "the current position".
pub(crate) fn off_t(v: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(v).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "file offset or length above i64::MAX",
        )
    })
}
