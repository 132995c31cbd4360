//! Register: give a connected socket a slot in the ring's registered files
//! (IORING_OP_FILES_UPDATE with IORING_FILE_INDEX_ALLOC: the kernel picks a free slot and writes
//! its index back into the array it read the fd from). io_uring only; the socket keeps its fd,
//! and its ops name the slot from then on.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::{Direction, FixedTable};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::io;
use std::os::fd::RawFd;

/// From linux/io_uring.h: have the kernel pick the slot.
const INDEX_ALLOC: i32 = -1;

pub(crate) struct Register {
    /// The fd going in; the kernel writes the slot it chose over it. Boxed: the kernel reads
    /// and writes it through the SQE's pointer.
    fds: Box<[RawFd; 1]>,
    /// Keeps the number open (and not reused) until the kernel has read it.
    _socket: SharedFd,
    table: FixedTable,
}

impl Operation for Register {
    const OPCODE: Opcode = opcodes::FILES_UPDATE;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::FilesUpdate::new(self.fds.as_ptr(), 1)
            .offset(INDEX_ALLOC)
            .build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn attempt(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl OpAble for Register {
    fn fd(&self) -> Option<&SharedFd> {
        // The socket is not this op's fd: nothing may cancel a registration half done.
        None
    }
    fn orphan_complete(self, result: io::Result<u32>, _flags: u32) {
        match result {
            // The slot was taken for nobody: release it.
            Ok(1) => drop(self.table.adopt(self.fds[0] as u32)),
            _ => self.table.unreserve(),
        }
    }
}

/// Puts `fd`'s socket in the ring's registered files, where the ring has a table with room;
/// otherwise (or if the kernel refuses) the socket stays as it is. Never fails the caller.
pub(crate) async fn register(fd: &SharedFd) {
    let table = crate::runtime::context::with_driver(|_, d| {
        d.fixed_table()
            .filter(|_| d.runs_natively(opcodes::FILES_UPDATE))
    });
    let Some(table) = table.filter(FixedTable::try_reserve) else {
        return;
    };
    let done = Op::new(Register {
        fds: Box::new([fd.raw()]),
        _socket: fd.clone(),
        table: table.clone(),
    })
    .await;
    match done.result {
        Ok(1) => fd.set_fixed(table.adopt(done.data.fds[0] as u32)),
        _ => table.unreserve(),
    }
}
