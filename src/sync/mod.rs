//! Synchronization for thread-per-core: channels, a semaphore, locks, notification, barriers,
//! watch and broadcast channels, and cancellation tokens.
//!
//! Each primitive comes in two forms, with the same API:
//! - **thread-safe** (`corio::sync::*`): shareable across workers and plain threads; a waiter
//!   on another executor is woken through the runtime's cross-thread path (MSG_RING between
//!   io_uring workers, else one coalesced eventfd write);
//! - **local** ([`corio::sync::local`](local)): for tasks of one executor — `Rc` and
//!   `RefCell`, no atomics, no lock, not `Sync`. The cheap default inside one worker (see
//!   docs/benchmarks.md, "Local and thread-safe semaphore").
//!
//! Every wait is cancel-safe and loses no wake-up: what a primitive grants a waiter (permits,
//! a notification) is recorded before the waiter is woken, and a waiter dropped after being
//! granted hands it back or on (see `waiters.rs`). `mpsc` and `oneshot` are thread-safe only;
//! a receiver parked on an empty channel is woken by the first message only, and a burst of
//! messages costs one wake.

mod barrier;
pub mod broadcast;
mod cancel;
mod family;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod semaphore;
mod waiters;
pub mod watch;

pub use barrier::BarrierWaitResult;
pub use cancel::{CancellationToken, DropGuard};
pub use family::{Family, Local, Shared};
pub use notify::Notified;
pub use semaphore::{AcquireError, TryAcquireError};

/// A thread-safe async semaphore (fair, FIFO); see the [module docs](self).
pub type Semaphore = semaphore::Semaphore<Shared>;
/// Permits of a [`Semaphore`], given back on drop.
pub type SemaphorePermit<'a> = semaphore::SemaphorePermit<'a, Shared>;
/// Permits that own an `Arc` of their [`Semaphore`] (from `acquire_owned`).
pub type OwnedSemaphorePermit = semaphore::OwnedSemaphorePermit<Shared>;
/// A thread-safe notification without data.
pub type Notify = notify::Notify<Shared>;
/// A thread-safe async mutex, held across `.await`.
pub type Mutex<T> = mutex::Mutex<T, Shared>;
/// A held [`Mutex`].
pub type MutexGuard<'a, T> = mutex::MutexGuard<'a, T, Shared>;
/// A thread-safe async read-write lock (a waiting writer holds back later readers).
pub type RwLock<T> = mutex::RwLock<T, Shared>;
/// Shared access to an [`RwLock`].
pub type RwLockReadGuard<'a, T> = mutex::RwLockReadGuard<'a, T, Shared>;
/// Exclusive access to an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = mutex::RwLockWriteGuard<'a, T, Shared>;
/// A thread-safe barrier.
pub type Barrier = barrier::Barrier<Shared>;

/// The generic forms, for code written over [`Family`] (`Semaphore<F>` and so on).
pub mod generic {
    pub use super::barrier::Barrier;
    pub use super::mutex::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
    pub use super::notify::Notify;
    pub use super::semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
}

/// The single-executor forms: `Rc` + `RefCell`, no atomics, not `Sync`.
pub mod local {
    use super::Local;

    /// A local async semaphore.
    pub type Semaphore = super::semaphore::Semaphore<Local>;
    /// Permits of a local [`Semaphore`].
    pub type SemaphorePermit<'a> = super::semaphore::SemaphorePermit<'a, Local>;
    /// Permits that own an `Rc` of their local [`Semaphore`].
    pub type OwnedSemaphorePermit = super::semaphore::OwnedSemaphorePermit<Local>;
    /// A local notification.
    pub type Notify = super::notify::Notify<Local>;
    /// A local async mutex.
    pub type Mutex<T> = super::mutex::Mutex<T, Local>;
    /// A held local [`Mutex`].
    pub type MutexGuard<'a, T> = super::mutex::MutexGuard<'a, T, Local>;
    /// A local async read-write lock.
    pub type RwLock<T> = super::mutex::RwLock<T, Local>;
    /// Shared access to a local [`RwLock`].
    pub type RwLockReadGuard<'a, T> = super::mutex::RwLockReadGuard<'a, T, Local>;
    /// Exclusive access to a local [`RwLock`].
    pub type RwLockWriteGuard<'a, T> = super::mutex::RwLockWriteGuard<'a, T, Local>;
    /// A local barrier.
    pub type Barrier = super::barrier::Barrier<Local>;

    /// A local watch channel.
    pub mod watch {
        use super::Local;
        pub use crate::sync::watch::{RecvError, SendError};

        /// The sending half.
        pub type Sender<T> = crate::sync::watch::Sender<T, Local>;
        /// A receiving half.
        pub type Receiver<T> = crate::sync::watch::Receiver<T, Local>;
        /// A borrowed value.
        pub type Ref<'a, T> = crate::sync::watch::Ref<'a, T, Local>;

        /// A local watch channel holding `init`.
        pub fn channel<T: 'static>(init: T) -> (Sender<T>, Receiver<T>) {
            crate::sync::watch::channel_in::<T, Local>(init)
        }
    }

    /// A local broadcast channel.
    pub mod broadcast {
        use super::Local;
        pub use crate::sync::broadcast::{RecvError, SendError, TryRecvError};

        /// A sending half.
        pub type Sender<T> = crate::sync::broadcast::Sender<T, Local>;
        /// A receiving half.
        pub type Receiver<T> = crate::sync::broadcast::Receiver<T, Local>;

        /// A local broadcast channel keeping the last `capacity` values.
        pub fn channel<T: Clone + 'static>(capacity: usize) -> (Sender<T>, Receiver<T>) {
            crate::sync::broadcast::channel_in::<T, Local>(capacity)
        }
    }
}

/// Locks `m`, ignoring poisoning: the channels' state stays consistent across a panic, since no
/// user code runs while the lock is held.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
