//! The in-flight table: one slab slot per submitted operation, keyed by the SQE's user_data.
//!
//! Invariants (docs/architecture.md, "Slots"):
//! - A slot is created when its SQE is pushed and removed only after its CQE has been reaped,
//!   so a CQE always finds the slot it was meant for, never a reused one.
//! - user_data = generation << 32 | slab key. A CQE whose generation does not match is stale:
//!   counted and ignored, never delivered.
//! - While the op's future lives, the future owns the op's resources (buffer, fd, addresses);
//!   if the future is dropped first, the resources move into the slot (`Orphaned`) and are
//!   released by the CQE. Either way they outlive the kernel's use of them.

use std::io;
use std::task::Waker;

/// What a dropped operation leaves with the driver: its resources, and what to do with the
/// result when it arrives (keep bytes read, close a connection accepted, ...).
pub(crate) trait Orphan {
    fn complete(self: Box<Self>, result: io::Result<u32>, flags: u32);
}

/// The life of one in-flight operation.
pub(crate) enum Lifecycle {
    /// Submitted; wake this task when the CQE arrives.
    Waiting(Waker),
    /// The CQE arrived; the result waits for the op's future to collect it.
    Completed { res: i32, flags: u32 },
    /// The future was dropped in flight: the slot owns the op's resources until the CQE.
    Orphaned(Box<dyn Orphan>),
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lifecycle::Waiting(_) => f.write_str("Waiting"),
            Lifecycle::Completed { res, flags } => write!(f, "Completed({res}, {flags:#x})"),
            Lifecycle::Orphaned(_) => f.write_str("Orphaned"),
        }
    }
}

pub(crate) struct Slot {
    pub(crate) generation: u32,
    pub(crate) lifecycle: Lifecycle,
}

pub(crate) fn user_data(key: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | key as u64
}

pub(crate) fn split(user_data: u64) -> (usize, u32) {
    ((user_data & 0xffff_ffff) as usize, (user_data >> 32) as u32)
}
