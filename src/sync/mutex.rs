//! `Mutex` and `RwLock` over the fair semaphore: a lock held across `.await` points.
//!
//! The mutex is a semaphore of one permit; the read-write lock one of `MAX_READS` permits, a
//! read takes one and a write all of them. Being FIFO, a waiting writer holds back readers
//! that come after it. Both inherit the semaphore's cancellation rule: a dropped `lock()`
//! holds nothing and loses no wake-up.

use super::family::{Family, Shared};
use super::semaphore::{Semaphore, SemaphorePermit};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// How many readers an `RwLock` admits at once.
const MAX_READS: usize = u32::MAX as usize >> 3;

/// An async mutex in either form; use [`corio::sync::Mutex`](crate::sync::Mutex) or
/// [`corio::sync::local::Mutex`](crate::sync::local::Mutex).
///
/// ```
/// use corio::sync::local::Mutex;
/// use std::rc::Rc;
///
/// corio::block_on(async {
///     let total = Rc::new(Mutex::new(0));
///     let t = total.clone();
///     corio::spawn(async move { *t.lock().await += 1 }).await.unwrap();
///     assert_eq!(*total.lock().await, 1);
/// });
/// ```
pub struct Mutex<T: ?Sized, F: Family> {
    sem: Semaphore<F>,
    value: UnsafeCell<T>,
}

// SAFETY: the thread-safe mutex hands out `&mut T` to one guard at a time (one permit), on
// any thread, so sharing it needs only `T: Send`, as std's Mutex.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T, Shared> {}

impl<T, F: Family> Mutex<T, F> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            sem: Semaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, taking the mutex apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized, F: Family> Mutex<T, F> {
    /// Waits for the lock (FIFO). Cancel-safe.
    pub async fn lock(&self) -> MutexGuard<'_, T, F> {
        let permit = match self.sem.acquire().await {
            Ok(p) => p,
            Err(_) => unreachable!("a mutex's semaphore is never closed"),
        };
        MutexGuard {
            _permit: permit,
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// The lock if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T, F>> {
        let permit = self.sem.try_acquire().ok()?;
        Some(MutexGuard {
            _permit: permit,
            mutex: self,
            _marker: PhantomData,
        })
    }

    /// The value, through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized, F: Family> fmt::Debug for Mutex<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("sem", &self.sem).finish()
    }
}

impl<T: Default, F: Family> Default for Mutex<T, F> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

/// A held lock; released on drop.
#[must_use = "the lock is released at once if not kept"]
pub struct MutexGuard<'a, T: ?Sized, F: Family> {
    _permit: SemaphorePermit<'a, F>,
    mutex: &'a Mutex<T, F>,
    /// Shared across threads only if `T: Sync` (a shared guard hands out `&T`).
    _marker: PhantomData<&'a mut T>,
}

impl<T: ?Sized, F: Family> Deref for MutexGuard<'_, T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit, so no other reference to the
        // value exists while it lives.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized, F: Family> DerefMut for MutexGuard<'_, T, F> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug, F: Family> fmt::Debug for MutexGuard<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An async read-write lock in either form; use [`corio::sync::RwLock`](crate::sync::RwLock)
/// or [`corio::sync::local::RwLock`](crate::sync::local::RwLock).
///
/// ```
/// corio::block_on(async {
///     let config = corio::sync::RwLock::new(String::from("v1"));
///     {
///         let a = config.read().await;
///         let b = config.read().await; // readers share
///         assert_eq!(*a, *b);
///     }
///     config.write().await.push_str("+patch");
///     assert_eq!(*config.read().await, "v1+patch");
/// });
/// ```
pub struct RwLock<T: ?Sized, F: Family> {
    sem: Semaphore<F>,
    value: UnsafeCell<T>,
}

// SAFETY: readers on several threads share `&T` (needs `T: Sync`); a writer gets `&mut T` on
// any thread (needs `T: Send`), as std's RwLock.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T, Shared> {}

impl<T, F: Family> RwLock<T, F> {
    /// A lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock {
            sem: Semaphore::new(MAX_READS),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized, F: Family> RwLock<T, F> {
    /// Waits for shared access (behind any writer already waiting). Cancel-safe.
    pub async fn read(&self) -> RwLockReadGuard<'_, T, F> {
        let permit = match self.sem.acquire().await {
            Ok(p) => p,
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        };
        RwLockReadGuard {
            _permit: permit,
            lock: self,
        }
    }

    /// Waits for exclusive access. Cancel-safe.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T, F> {
        let permit = match self.sem.acquire_many(MAX_READS).await {
            Ok(p) => p,
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        };
        RwLockWriteGuard {
            _permit: permit,
            lock: self,
        }
    }

    /// Shared access if it is free now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T, F>> {
        let permit = self.sem.try_acquire().ok()?;
        Some(RwLockReadGuard {
            _permit: permit,
            lock: self,
        })
    }

    /// Exclusive access if it is free now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T, F>> {
        let permit = self.sem.try_acquire_many(MAX_READS).ok()?;
        Some(RwLockWriteGuard {
            _permit: permit,
            lock: self,
        })
    }

    /// The value, through `&mut self`.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized, F: Family> fmt::Debug for RwLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("sem", &self.sem).finish()
    }
}

/// Shared access; released on drop.
#[must_use = "the lock is released at once if not kept"]
pub struct RwLockReadGuard<'a, T: ?Sized, F: Family> {
    _permit: SemaphorePermit<'a, F>,
    lock: &'a RwLock<T, F>,
}

impl<T: ?Sized, F: Family> Deref for RwLockReadGuard<'_, T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard holds one permit; a writer needs all of them, so no `&mut T`
        // exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

/// Exclusive access; released on drop.
#[must_use = "the lock is released at once if not kept"]
pub struct RwLockWriteGuard<'a, T: ?Sized, F: Family> {
    _permit: SemaphorePermit<'a, F>,
    lock: &'a RwLock<T, F>,
}

impl<T: ?Sized, F: Family> Deref for RwLockWriteGuard<'_, T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard holds every permit: no other guard exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized, F: Family> DerefMut for RwLockWriteGuard<'_, T, F> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}
