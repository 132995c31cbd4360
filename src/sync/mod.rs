//! Channels that work within one executor and across workers and plain threads.
//!
//! A receiver parked on an empty channel is woken by the first message only: the sender takes
//! the receiver's waker, so a burst of messages costs one wake, and a wake from another thread
//! costs at most one eventfd write per batch (the executor coalesces them). Order is FIFO, so
//! each producer's messages arrive in the order it sent them.

pub mod mpsc;
pub mod oneshot;

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: the channels' state stays consistent across a panic, since no
/// user code runs while the lock is held.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
