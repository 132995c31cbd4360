//! Accept: one connection from a listening socket.
//!
//! Lossless cancellation: a connection accepted by a dropped accept is kept on the listener
//! for the next accept, or closed with the listener.

use super::{Op, OpAble};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::cell::Cell;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

pub(crate) struct Accept {
    fd: SharedFd,
    addr: Box<RawAddr>,
    /// A connection kept from a dropped accept, taken in `take_stashed`.
    kept: Option<OwnedFd>,
}

impl OpAble for Accept {
    const OPCODE: Opcode = opcodes::ACCEPT;
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            self.addr.as_mut_ptr(),
            &mut self.addr.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }
    fn readiness_interest(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        let conn = self.fd.read_side().take_accepted()?;
        use std::os::fd::AsRawFd;
        *self.addr = sock_name(conn.as_raw_fd(), true).unwrap_or_else(|_| RawAddr::empty());
        let raw = conn.as_raw_fd() as u32;
        self.kept = Some(conn);
        Some(Ok(raw))
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        syscall!(accept4(
            self.fd.raw(),
            self.addr.as_mut_ptr(),
            &mut self.addr.len,
            flags
        ))
        .map(|fd| fd as u32)
    }
    fn orphan_complete(self, result: io::Result<u32>, _flags: u32) {
        if let Ok(fd) = result {
            // SAFETY: the kernel just created this fd for us and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            self.fd.keep_accepted(fd);
        }
    }
}

/// Accept backoff on EMFILE/ENFILE, as Go's net/http: 5 ms, doubling, at most 1 s.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts one connection: a kept one first, else the kernel's. ECONNABORTED (the peer gave up
/// while queued) is retried silently; EMFILE/ENFILE back off instead of spinning, and retry.
pub(crate) async fn accept(
    fd: &SharedFd,
    backoff: &Cell<Duration>,
) -> io::Result<(OwnedFd, RawAddr)> {
    loop {
        let done = Op::new(Accept {
            fd: fd.clone(),
            addr: Box::new(RawAddr::empty()),
            kept: None,
        })
        .await;
        match done.result {
            Ok(conn) => {
                backoff.set(Duration::ZERO);
                let conn = match done.data.kept {
                    Some(kept) => kept,
                    // SAFETY: the kernel just created this fd for us and nothing else owns it.
                    None => unsafe { OwnedFd::from_raw_fd(conn as i32) },
                };
                return Ok((conn, *done.data.addr));
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                let delay = (backoff.get() * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                backoff.set(delay);
                crate::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}
