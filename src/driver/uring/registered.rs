//! The ring's side of registered descriptors (`driver/fixed.rs` has the rules): the sparse table
//! registered at setup, the closes of released slots (pushed at each park), and the
//! synchronous install of an fd for a slot (IORING_OP_FIXED_FD_INSTALL).

use super::Uring;
use crate::driver::fixed::{FixedFile, FixedTable};
use crate::driver::opcodes::{self, Native};
use io_uring::{opcode, types, IoUring};
use std::io;
use std::os::fd::RawFd;

/// user_data of the closes of released slots (their results carry nothing to deliver).
pub(super) const FIXED_CLOSE_TOKEN: u64 = u64::MAX - 3;
/// user_data of an fd install, whose result `install_fixed` waits for.
pub(super) const INSTALL_TOKEN: u64 = u64::MAX - 4;
/// The most slots corio asks for (the kernel also caps them at RLIMIT_NOFILE).
const MAX_SLOTS: u64 = 16384;

/// Registers a sparse table for sockets, where the kernel has what registered sockets need:
/// direct accept into it, FILES_UPDATE to add connected sockets, and FIXED_FD_INSTALL (Linux
/// 6.8) to give one an fd when asked for. `None` where it does not (sockets then stay plain).
pub(super) fn register_table(ring: &IoUring, native: &Native) -> Option<FixedTable> {
    if !native.has(opcodes::FIXED_FD_INSTALL) || !native.has(opcodes::FILES_UPDATE) {
        return None;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let mut size = MAX_SLOTS.min(lim.rlim_cur) as u32;
    if let Some(n) = std::env::var("CORIO_REGISTERED_FDS_SLOTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        // Test hook: a small table, to fill it.
        size = size.min(n);
    }
    if size == 0 {
        return None;
    }
    ring.submitter().register_files_sparse(size).ok()?;
    Some(FixedTable::new(size))
}

impl Uring {
    /// The registered-file table, if this ring has one.
    pub(crate) fn fixed_table(&self) -> Option<&FixedTable> {
        self.fixed.as_ref()
    }

    /// Pushes an IORING_OP_CLOSE for every slot released since the last park.
    pub(super) fn close_released(&mut self) {
        let Some(table) = self.fixed.clone() else {
            return;
        };
        for index in table.take_released() {
            let sqe = opcode::Close::new(types::Fixed(index))
                .build()
                .user_data(FIXED_CLOSE_TOKEN);
            // SAFETY: a CLOSE SQE carries no pointers. If the ring is broken the slot stays
            // taken; closing the ring frees the whole table.
            if unsafe { self.push(&sqe) }.is_err() {
                return;
            }
        }
    }

    /// Closes `file`'s slot now: its CLOSE is submitted before this returns (a slot's close
    /// runs at submission), so the table no longer holds the socket open for whoever has its
    /// fd (`into_std`).
    pub(crate) fn close_fixed_now(&mut self, file: FixedFile) {
        drop(file);
        self.close_released();
        let res = self.enter(0);
        self.note_enter_error(&res);
        self.reap();
    }

    /// Installs an fd for slot `index` and returns it: one FIXED_FD_INSTALL, waited for here
    /// (it completes inline; CQEs reaped meanwhile are delivered as in any park).
    pub(crate) fn install_fixed(&mut self, index: u32) -> io::Result<RawFd> {
        let sqe = opcode::FixedFdInstall::new(types::Fixed(index), 0)
            .build()
            .user_data(INSTALL_TOKEN);
        self.installed = None;
        // SAFETY: a FIXED_FD_INSTALL SQE carries no pointers.
        unsafe { self.push(&sqe) }?;
        loop {
            if let Some(res) = self.installed.take() {
                return crate::sys::cqe_result(res).map(|fd| fd as RawFd);
            }
            let res = self.enter(1);
            self.note_enter_error(&res);
            self.check_broken()?;
            self.reap();
        }
    }
}
