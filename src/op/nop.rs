//! Nop: a round trip through the driver and nothing else (for benchmarks and tests).

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Nop;

impl Operation for Nop {
    const OPCODE: Opcode = opcodes::NOP;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn attempt(&mut self) -> io::Result<u32> {
        Ok(0)
    }
}

impl OpAble for Nop {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

/// One no-op through the driver: an SQE and its CQE on io_uring; an immediate return on epoll.
///
/// ```
/// corio::block_on(async { corio::op::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await.result.map(drop)
}
