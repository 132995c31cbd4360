//! The drivers' counters, with the same names on both so the two models can be compared
//! counter by counter.

/// Per-driver counters. Fields that do not apply to a driver stay zero; the same name means
/// the same thing on both, so the two models can be compared counter by counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Operations run on the blocking pool: every file operation on epoll; on io_uring, those
    /// whose opcode the kernel lacks and that have a blocking form (also counted in
    /// `fallback_ops`).
    pub pool_ops: u64,
    /// Gauge: operations on the blocking pool now (running, queued, or finished and not yet
    /// collected).
    pub pool_in_flight: u64,
    /// io_uring: operations whose opcode the kernel lacks (see `DriverInfo::fallback_ops`),
    /// run on the blocking pool or in readiness form instead. Always 0 on epoll.
    pub fallback_ops: u64,
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
