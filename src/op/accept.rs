//! Accept: one connection from a listening socket — as an fd, or (io_uring with
//! `Builder::registered_fds`) straight into a slot of the ring's registered files (direct
//! accept, IORING_FILE_INDEX_ALLOC), where a slot is free.
//!
//! Lossless cancellation: a connection accepted by a dropped accept is kept on the listener
//! for the next accept, or closed with the listener.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::{Direction, FixedTable};
use crate::fd::{Accepted, SharedFd};
use crate::runtime::context;
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub(crate) struct Accept {
    fd: SharedFd,
    addr: Box<RawAddr>,
    /// A connection kept from a dropped accept, taken in `take_stashed`.
    kept: Option<Accepted>,
    /// The ring's table, if the connection may go straight into it.
    table: Option<FixedTable>,
    /// The SQE reserved a slot: its result is a slot, not an fd.
    direct: bool,
}

impl Accept {
    /// What the result names: a slot (adopted) or an fd (owned). The kernel just made it.
    fn accepted(&self, n: u32) -> Accepted {
        match (&self.table, self.direct) {
            (Some(table), true) => Accepted::Fixed(table.adopt(n)),
            // SAFETY: the kernel just created this fd for us and nothing else owns it.
            _ => Accepted::Fd(unsafe { OwnedFd::from_raw_fd(n as i32) }),
        }
    }

    /// The SQE failed: a slot it reserved was not used.
    fn failed(&mut self) {
        if let (Some(table), true) = (&self.table, self.direct) {
            table.unreserve();
            self.direct = false;
        }
    }
}

impl Operation for Accept {
    const OPCODE: Opcode = opcodes::ACCEPT;
    fn sqe(&mut self) -> squeue::Entry {
        // Submitted again (a dup's close cancelled it): the last SQE's reservation is unused.
        self.failed();
        // A full table would lose the connection (see driver/fixed.rs): only with a slot held.
        self.direct = self.table.as_ref().is_some_and(FixedTable::try_reserve);
        let (addr, len, direct) = (self.addr.as_mut_ptr(), &mut self.addr.len, self.direct);
        self.fd.file_ref().sqe(|fd| {
            let accept = opcode::Accept::new(fd, addr, len);
            if direct {
                // A slot has no close-on-exec flag (the kernel refuses SOCK_CLOEXEC with it); an
                // fd installed for it later gets O_CLOEXEC.
                let slot = types::DestinationSlot::auto_target();
                accept.file_index(Some(slot)).build()
            } else {
                accept.flags(libc::SOCK_CLOEXEC).build()
            }
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        syscall!(accept4(
            self.fd.raw(),
            self.addr.as_mut_ptr(),
            &mut self.addr.len,
            flags
        ))
        .map(|fd| fd as u32)
    }
}

impl OpAble for Accept {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        let conn = self.fd.take_accepted()?;
        *self.addr = match &conn {
            Accepted::Fd(fd) => {
                sock_name(fd.as_raw_fd(), true).unwrap_or_else(|_| RawAddr::empty())
            }
            // No fd to ask: the caller asks the stream (installing one) if it needs the peer.
            Accepted::Fixed(_) => RawAddr::empty(),
        };
        self.kept = Some(conn);
        Some(Ok(0))
    }
    fn orphan_complete(mut self, result: io::Result<u32>, _flags: u32) {
        match result {
            Ok(n) => {
                let conn = self.accepted(n);
                self.fd.keep_accepted(conn);
            }
            Err(_) => self.failed(),
        }
    }
}

/// Accept backoff on EMFILE/ENFILE, as Go's net/http: 5 ms, doubling, at most 1 s.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts one connection: a kept one first, else the kernel's (into the ring's registered
/// files if `direct` and the ring has a table with room). ECONNABORTED (the peer gave up while
/// queued) is retried silently; EMFILE/ENFILE back off instead of spinning, and retry.
pub(crate) async fn accept(
    fd: &SharedFd,
    backoff: &Cell<Duration>,
    direct: bool,
) -> io::Result<(Accepted, RawAddr)> {
    let table = if direct {
        context::with_driver(|_, d| d.fixed_table())
    } else {
        None
    };
    loop {
        let mut done = Op::new(Accept {
            fd: fd.clone(),
            addr: Box::new(RawAddr::empty()),
            kept: None,
            table: table.clone(),
            direct: false,
        })
        .await;
        match done.result {
            Ok(n) => {
                backoff.set(Duration::ZERO);
                let conn = match done.data.kept.take() {
                    Some(kept) => kept,
                    None => done.data.accepted(n),
                };
                return Ok((conn, *done.data.addr));
            }
            Err(e) => {
                done.data.failed();
                match e.raw_os_error() {
                    Some(libc::ECONNABORTED) => continue,
                    Some(libc::EMFILE | libc::ENFILE) => {
                        let delay = (backoff.get() * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                        backoff.set(delay);
                        crate::time::sleep(delay).await;
                    }
                    _ => return Err(e),
                }
            }
        }
    }
}
