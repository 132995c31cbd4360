//! Drivers: the layer that talks to the kernel. Every backend offers the same face to the
//! executor and to the operations:
//!
//! - `park(timeout)`: hand what was prepared to the kernel, wait for at least one event (at
//!   most `timeout`; not at all for zero), wake the tasks whose operations are done;
//! - operations ask the backend to start, poll or drop them (see `op/mod.rs`): io_uring takes
//!   an SQE and answers with a CQE; epoll tries the syscall and parks the task on EAGAIN;
//! - `shutdown()`: cancel everything in flight and wait, bounded, until the kernel has let go.
//!
//! The backend is chosen at run time ([`DriverChoice`]), one per executor thread; nothing is global.

pub(crate) mod epoll;
pub(crate) mod uring;

use crate::runtime::remote::Remote;
use crate::runtime::Builder;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Which driver a runtime should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring when it is available, otherwise epoll. "Unavailable" means the kernel refuses
    /// io_uring (ENOSYS, EPERM, `kernel.io_uring_disabled`) or lacks an opcode corio uses; a
    /// resource failure (ENOMEM from the memlock limit, EMFILE) is an error, not a fallback.
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
        Ok(())
    }
}

/// Per-driver counters. Fields that do not apply to a driver stay zero; the same name means
/// the same thing on both, so the two models can be compared counter by counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DriverStats {
    /// Operations started (SQEs pushed on io_uring, first attempts on epoll).
    pub ops_submitted: u64,
    /// io_uring_enter calls.
    pub enters: u64,
    /// CQEs reaped.
    pub completions: u64,
    /// Most CQEs reaped after one enter.
    pub max_completions_per_enter: u64,
    /// Most SQEs handed to the kernel by one enter (the SQ depth at submit; the mean is
    /// `ops_submitted / enters`).
    pub max_sq_depth: u64,
    /// Times the SQ was full and was submitted early to make room.
    pub sq_full: u64,
    /// Times the kernel reported a CQ overflow (completions kept by NODROP and flushed).
    pub cq_overflows: u64,
    /// Operations cancelled because their future was dropped in flight.
    pub cancellations: u64,
    /// Completions that arrived for a dropped operation and were kept (bytes, connections).
    pub orphan_completions: u64,
    /// Stale events ignored (generation mismatch).
    pub stale_events: u64,
    /// IORING_OP_MSG_RING wake-ups this ring sent that the kernel did not post; each was
    /// delivered through the target's eventfd instead.
    pub msg_ring_failures: u64,
    /// epoll_wait calls.
    pub epoll_waits: u64,
    /// Events returned by epoll_wait.
    pub epoll_events: u64,
    /// I/O syscalls tried by the readiness driver (read, write, accept...).
    pub io_syscalls: u64,
    /// Times an operation parked: after EAGAIN, or without trying when a short read had just
    /// emptied the socket (no edge since).
    pub eagain: u64,
    /// Gauge: io_uring slots in use now (in flight, or completed and not yet collected).
    pub in_flight: u64,
    /// Gauge: poll descriptors registered with epoll now.
    pub registered_fds: u64,
}

impl DriverStats {
    /// Mean completions per io_uring_enter.
    pub fn completions_per_enter(&self) -> f64 {
        if self.enters == 0 {
            0.0
        } else {
            self.completions as f64 / self.enters as f64
        }
    }
}

/// The backend of one executor. Not boxed: there is exactly one per executor, and the ring
/// variant is the hot one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

impl Driver {
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Driver::Uring(d) => d.park(timeout),
            Driver::Epoll(d) => d.park(timeout),
        }
    }

    /// Queues a MSG_RING wake-up for `target`'s ring; false where this driver cannot (epoll,
    /// or a ring without MSG_RING), and the caller writes the eventfd instead.
    pub(crate) fn msg_ring(&mut self, target: &Arc<Remote>) -> bool {
        match self {
            Driver::Uring(d) => d.msg_ring(target.clone()),
            Driver::Epoll(_) => false,
        }
    }

    /// Submits a queued MSG_RING wake-up now, without waiting (nothing to do on epoll, whose
    /// wake-ups are immediate eventfd writes).
    pub(crate) fn submit_wakes(&mut self) {
        if let Driver::Uring(d) = self {
            d.submit_wakes();
        }
    }

    /// Submits queued MSG_RING wake-ups before the loop stops turning (nothing to do on epoll).
    pub(crate) fn flush(&mut self) {
        if let Driver::Uring(d) = self {
            d.flush();
        }
    }

    pub(crate) fn stats(&self) -> DriverStats {
        match self {
            Driver::Uring(d) => DriverStats {
                in_flight: d.in_flight() as u64,
                ..d.stats
            },
            Driver::Epoll(d) => DriverStats {
                registered_fds: d.registered() as u64,
                ..d.stats
            },
        }
    }

    pub(crate) fn shutdown(&mut self) {
        match self {
            Driver::Uring(d) => d.shutdown(),
            Driver::Epoll(d) => d.shutdown(),
        }
    }
}

/// Why io_uring could not be used.
pub(crate) enum Unavailable {
    /// The kernel refuses io_uring or lacks something corio needs: `Auto` falls back.
    Refused(String),
    /// A resource failure: reported as an error even under `Auto`.
    Error(io::Error),
}

fn requested(builder: &Builder) -> io::Result<DriverChoice> {
    if let Some(d) = builder.driver {
        return Ok(d);
    }
    match std::env::var("CORIO_DRIVER") {
        Ok(v) => DriverChoice::parse(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CORIO_DRIVER={v:?}: expected auto, uring or epoll"),
            )
        }),
        Err(_) => Ok(DriverChoice::Auto),
    }
}

/// The eventfd other threads write to wake this executor: non-blocking for epoll (the loop
/// reads it after an event); blocking for io_uring, which keeps a read of it in flight.
fn new_eventfd(nonblocking: bool) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
    let fd = crate::sys::syscall!(eventfd(0, flags))?;
    // SAFETY: eventfd just returned this fd and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Opens the driver the builder (or `CORIO_DRIVER`) asks for.
pub(crate) fn open(builder: &Builder) -> io::Result<(Driver, Arc<Remote>, DriverInfo)> {
    let requested = requested(builder)?;
    let epoll = |reason: String| -> io::Result<_> {
        let remote = Arc::new(Remote::new(new_eventfd(true)?));
        let backend = Driver::Epoll(epoll::Epoll::new(remote.eventfd())?);
        let info = DriverInfo {
            kind: DriverKind::Epoll,
            requested,
            reason,
            setup_flags: vec![],
            msg_ring: false,
        };
        Ok((backend, remote, info))
    };
    match requested {
        DriverChoice::Epoll => epoll("requested".into()),
        DriverChoice::IoUring | DriverChoice::Auto => {
            match uring::Uring::new(builder.ring_entries, new_eventfd(false)?) {
                Ok((ring, remote)) => {
                    let setup_flags = ring.setup_flags.clone();
                    let msg_ring = ring.msg_ring_enabled();
                    let reason = if requested == DriverChoice::Auto {
                        "io_uring available"
                    } else {
                        "requested"
                    };
                    let info = DriverInfo {
                        kind: DriverKind::IoUring,
                        requested,
                        reason: reason.into(),
                        setup_flags,
                        msg_ring,
                    };
                    Ok((Driver::Uring(ring), remote, info))
                }
                Err(Unavailable::Error(e)) => Err(e),
                Err(Unavailable::Refused(why)) if requested == DriverChoice::IoUring => {
                    Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("io_uring was requested but is unavailable: {why}"),
                    ))
                }
                Err(Unavailable::Refused(why)) => {
                    let out = epoll(format!("io_uring unavailable: {why}"))?;
                    eprintln!("corio: {}", out.2);
                    Ok(out)
                }
            }
        }
    }
}
