//! Nop: a round trip through the driver and nothing else (for benchmarks and tests).

use super::{Op, OpAble};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Nop;

impl OpAble for Nop {
    const OPCODE: Opcode = opcodes::NOP;
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
    fn readiness_interest(&self) -> Option<Direction> {
        None
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        Ok(0)
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
