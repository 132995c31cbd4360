//! What a runtime asks for (`DriverChoice`), what it got (`DriverKind`), and why
//! (`DriverInfo`).

use std::fmt;

/// Which driver a runtime should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring when it is available, otherwise epoll. "Unavailable" means the kernel refuses
    /// io_uring (ENOSYS, EPERM, `kernel.io_uring_disabled`) or lacks an opcode the network path
    /// needs; a missing file opcode only makes the operations that use it run on the blocking
    /// pool (see [`DriverInfo::fallback_ops`]). A resource failure (ENOMEM from the memlock
    /// limit, EMFILE) is an error, not a fallback.
    Auto,
    /// io_uring or an error.
    IoUring,
    /// epoll, the readiness model.
    Epoll,
}

impl DriverChoice {
    /// Parses `auto`, `uring`/`io_uring`/`io-uring` or `epoll`.
    pub fn parse(s: &str) -> Option<DriverChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Some(DriverChoice::Auto),
            "uring" | "io_uring" | "io-uring" | "iouring" => Some(DriverChoice::IoUring),
            "epoll" => Some(DriverChoice::Epoll),
            _ => None,
        }
    }
}

/// The driver a runtime actually got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// The completion model.
    IoUring,
    /// The readiness model.
    Epoll,
}

/// Which driver a runtime got and why.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverInfo {
    /// The driver in use.
    pub kind: DriverKind,
    /// What was asked for (after reading `CORIO_DRIVER`).
    pub requested: DriverChoice,
    /// Why this driver: "requested", or why io_uring was unavailable under `Auto`.
    pub reason: String,
    /// io_uring setup flags the kernel accepted (empty on epoll).
    pub setup_flags: Vec<&'static str>,
    /// Wake-ups from other io_uring executors arrive as IORING_OP_MSG_RING completions on this
    /// ring (Linux 5.18+) rather than as eventfd writes. False on epoll, where the eventfd is
    /// always used, and where the kernel refuses MSG_RING or `CORIO_DISABLE_MSG_RING` is set.
    pub msg_ring: bool,
    /// io_uring: the optional opcodes (those io_uring is not refused for, such as the file
    /// opcodes `OPENAT`, `STATX`, `FTRUNCATE`) that this kernel runs natively. Empty on epoll.
    pub native_ops: Vec<&'static str>,
    /// io_uring: the optional opcodes this kernel lacks (or `CORIO_FORCE_MISSING_OPCODE`
    /// removed). Operations that use one run on the blocking pool (files) or in readiness form
    /// instead, each counted in `DriverStats::fallback_ops`. Empty on epoll, where every file
    /// operation runs on the pool by design.
    pub fallback_ops: Vec<&'static str>,
    /// io_uring with `Builder::registered_fds(true)`: the size of the ring's registered-file
    /// table, where accepted and connected TCP sockets go. `None` when not asked for, on
    /// epoll, and where the kernel lacks what it needs (FILES_UPDATE, FIXED_FD_INSTALL: Linux
    /// 6.8) or refuses the table.
    pub registered_fds: Option<u32>,
}

impl fmt::Display for DriverInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "driver={:?} requested={:?} reason=\"{}\"",
            self.kind, self.requested, self.reason
        )?;
        if !self.setup_flags.is_empty() {
            write!(f, " flags={}", self.setup_flags.join("|"))?;
        }
        if self.msg_ring {
            write!(f, " wake=MSG_RING")?;
        }
        if let Some(n) = self.registered_fds {
            write!(f, " registered_fds={n}")?;
        }
        if !self.fallback_ops.is_empty() {
            write!(f, " fallback_ops={}", self.fallback_ops.join("|"))?;
        }
        Ok(())
    }
}
