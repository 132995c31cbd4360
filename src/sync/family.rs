//! The two forms of each primitive: [`Local`] (one executor: `Rc` and `RefCell`, no atomics,
//! `!Send`) and [`Shared`] (any thread: `Arc` and a `std::sync::Mutex`). A primitive's logic is
//! written once, over its plain state, and stored in the family's cell.
//!
//! A cell is never held across an `.await` or while user code runs (wakers are woken after the
//! cell is released), so the local form cannot hit a `RefCell` borrow conflict from inside
//! corio; a guard the caller holds (`watch::Ref`) is the exception, and says so.

use std::cell::{RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

mod sealed {
    pub trait Sealed {}
}

/// Which form a primitive takes: [`Local`] or [`Shared`]. Sealed: only these two exist.
pub trait Family: sealed::Sealed + Sized + 'static {
    /// The reference-counted pointer (`Rc` or `Arc`).
    type Ptr<T: 'static>: Clone + Deref<Target = T>;
    /// The cell holding a primitive's state (`RefCell` or `Mutex`).
    type Cell<T: 'static>;
    /// A locked cell.
    type Guard<'a, T: 'static>: DerefMut<Target = T>;

    /// Wraps `value` in the family's pointer.
    fn ptr<T: 'static>(value: T) -> Self::Ptr<T>;
    /// Wraps `value` in the family's cell.
    fn cell<T: 'static>(value: T) -> Self::Cell<T>;
    /// Locks the cell (poisoning is ignored: no user code runs while a cell is locked, so the
    /// state is consistent across a panic).
    fn lock<T: 'static>(cell: &Self::Cell<T>) -> Self::Guard<'_, T>;
}

/// The single-executor form: `!Send`, `!Sync`, no atomics and no locks. The cheap default for
/// tasks of one worker.
#[derive(Debug)]
pub enum Local {}

/// The thread-safe form: `Send + Sync`; a wake from another worker takes the runtime's
/// cross-thread path (MSG_RING between io_uring workers, else one coalesced eventfd write).
#[derive(Debug)]
pub enum Shared {}

impl sealed::Sealed for Local {}
impl sealed::Sealed for Shared {}

impl Family for Local {
    type Ptr<T: 'static> = Rc<T>;
    type Cell<T: 'static> = RefCell<T>;
    type Guard<'a, T: 'static> = RefMut<'a, T>;

    fn ptr<T: 'static>(value: T) -> Rc<T> {
        Rc::new(value)
    }
    fn cell<T: 'static>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }
    fn lock<T: 'static>(cell: &RefCell<T>) -> RefMut<'_, T> {
        cell.borrow_mut()
    }
}

impl Family for Shared {
    type Ptr<T: 'static> = Arc<T>;
    type Cell<T: 'static> = Mutex<T>;
    type Guard<'a, T: 'static> = MutexGuard<'a, T>;

    fn ptr<T: 'static>(value: T) -> Arc<T> {
        Arc::new(value)
    }
    fn cell<T: 'static>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
    fn lock<T: 'static>(cell: &Mutex<T>) -> MutexGuard<'_, T> {
        cell.lock().unwrap_or_else(|e| e.into_inner())
    }
}
