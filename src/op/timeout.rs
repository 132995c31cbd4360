//! Timeout: a sleep carried by the kernel, one per operation — an IORING_OP_TIMEOUT SQE on
//! io_uring, a timerfd read on epoll.
//!
//! `corio::time::sleep` does not use it: user-space timers cost the kernel nothing until the
//! nearest one bounds the loop's single wait. This op exists for comparisons between the two
//! models and for code that wants the kernel to time an operation.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::runtime::context;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

pub(crate) struct Timeout {
    /// io_uring reads it when the SQE is prepared; boxed so the address is stable regardless.
    ts: Box<types::Timespec>,
    /// The timerfd standing in for the SQE on epoll.
    timerfd: Option<SharedFd>,
}

impl Operation for Timeout {
    const OPCODE: Opcode = opcodes::TIMEOUT;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Timeout::new(&*self.ts).build()
    }
    fn direction(&self) -> Option<Direction> {
        self.timerfd.as_ref().map(|_| Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        let Some(fd) = &self.timerfd else {
            return Ok(0);
        };
        let mut expirations = 0u64;
        syscall!(read(fd.raw(), (&mut expirations as *mut u64).cast(), 8)).map(|_| 0)
    }
}

impl OpAble for Timeout {
    fn fd(&self) -> Option<&SharedFd> {
        self.timerfd.as_ref()
    }
}

fn timerfd(d: Duration) -> io::Result<SharedFd> {
    let fd = syscall!(timerfd_create(
        libc::CLOCK_MONOTONIC,
        libc::TFD_NONBLOCK | libc::TFD_CLOEXEC
    ))?;
    // SAFETY: timerfd_create just returned this fd and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // A zero it_value would disarm the timer; one nanosecond fires at once.
    let d = d.max(Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        },
    };
    syscall!(timerfd_settime(fd, 0, &spec, std::ptr::null_mut()))?;
    SharedFd::new(owned)
}

/// Sleeps for `d` with the kernel timing it (see the module docs).
pub async fn kernel_sleep(d: Duration) -> io::Result<()> {
    let epoll = context::with_driver(|_, d| d.needs_nonblocking_fds());
    let timerfd = if epoll { Some(timerfd(d)?) } else { None };
    let done = Op::new(Timeout {
        ts: Box::new(types::Timespec::from(d)),
        timerfd,
    })
    .await;
    match done.result {
        // io_uring reports an expired timeout as -ETIME: that is success here.
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
        other => other.map(drop),
    }
}
