//! A counting semaphore, fair (FIFO): a waiter asking for more permits than are free holds
//! back those behind it, so a writer of an `RwLock` is never starved by readers.
//!
//! Cancellation: permits are handed to a waiter under the lock, before its waker is taken
//! (`Waiter::granted`); a waiter dropped after that gives them back and the next waiters are
//! served, so no permit and no wake-up is lost.

use super::family::{Family, Local, Shared};
use super::waiters::{wake_all, Waiters};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(crate) struct State {
    permits: usize,
    waiters: Waiters,
    closed: bool,
}

impl State {
    /// Hands free permits to the waiters at the front, in order; collects their wakers.
    fn serve(&mut self, wake: &mut Vec<Waker>) {
        while let Some((_, w)) = self.waiters.first_waiting() {
            if w.want > self.permits {
                break;
            }
            self.permits -= w.want;
            w.granted = true;
            wake.extend(w.waker.take());
        }
    }
}

/// A semaphore in either form; use [`corio::sync::Semaphore`](crate::sync::Semaphore) (thread-safe) or
/// [`corio::sync::local::Semaphore`](crate::sync::local::Semaphore) (one executor).
///
/// ```
/// use corio::sync::Semaphore;
/// use std::sync::Arc;
///
/// corio::block_on(async {
///     let limit = Arc::new(Semaphore::new(2));
///     let mut tasks = Vec::new();
///     for _ in 0..5 {
///         let permit = limit.clone().acquire_owned().await.unwrap(); // at most 2 at once
///         tasks.push(corio::spawn(async move {
///             corio::time::sleep(std::time::Duration::from_millis(1)).await;
///             drop(permit);
///         }));
///     }
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
pub struct Semaphore<F: Family> {
    state: F::Cell<State>,
}

/// The semaphore was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why `try_acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free (or others wait ahead).
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl<F: Family> Semaphore<F> {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Semaphore {
            state: F::cell(State {
                permits,
                waiters: Waiters::default(),
                closed: false,
            }),
        }
    }

    /// Permits free now.
    pub fn available_permits(&self) -> usize {
        F::lock(&self.state).permits
    }

    /// Adds `n` permits (serving waiters first).
    pub fn add_permits(&self, n: usize) {
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.state);
            s.permits = s.permits.saturating_add(n);
            s.serve(&mut wake);
        }
        wake_all(wake);
    }

    /// Closes the semaphore: waiting and later acquires fail with `AcquireError`; permits
    /// already held stay valid.
    pub fn close(&self) {
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.state);
            s.closed = true;
            s.waiters.take_all_wakers(&mut wake);
        }
        wake_all(wake);
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        F::lock(&self.state).closed
    }

    /// Waits for one permit. Cancel-safe: a dropped call holds no place and no permit.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_, F>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits at once (FIFO: it holds back later callers while it waits).
    pub async fn acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_, F>, AcquireError> {
        Acquire {
            sem: self,
            n,
            ticket: None,
        }
        .await?;
        Ok(SemaphorePermit { sem: self, n })
    }

    /// One permit if one is free and nobody waits ahead.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_, F>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// `n` permits if they are free and nobody waits ahead.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_, F>, TryAcquireError> {
        self.try_take(n)?;
        Ok(SemaphorePermit { sem: self, n })
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut s = F::lock(&self.state);
        if s.closed {
            return Err(TryAcquireError::Closed);
        }
        if s.waiters.first_waiting().is_none() && s.permits >= n {
            s.permits -= n;
            return Ok(());
        }
        Err(TryAcquireError::NoPermits)
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.add_permits(n);
        }
    }
}

impl<F: Family> fmt::Debug for Semaphore<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = F::lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &s.permits)
            .field("waiters", &s.waiters.len())
            .field("closed", &s.closed)
            .finish()
    }
}

/// Owned acquires: the permit keeps the semaphore alive (`Arc` for the thread-safe form).
impl Semaphore<Shared> {
    /// Waits for one permit, returning a permit that owns a reference to the semaphore (for
    /// moving into a spawned task).
    pub async fn acquire_owned(
        self: Arc<Self>,
    ) -> Result<OwnedSemaphorePermit<Shared>, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits; see [`acquire_owned`](Self::acquire_owned).
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit<Shared>, AcquireError> {
        owned::<Shared>(self, n).await
    }

    /// One owned permit if one is free and nobody waits ahead.
    pub fn try_acquire_owned(
        self: Arc<Self>,
    ) -> Result<OwnedSemaphorePermit<Shared>, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit { sem: self, n: 1 })
    }
}

/// Owned acquires: the permit keeps the semaphore alive (`Rc` for the local form).
impl Semaphore<Local> {
    /// Waits for one permit, returning a permit that owns a reference to the semaphore.
    pub async fn acquire_owned(
        self: Rc<Self>,
    ) -> Result<OwnedSemaphorePermit<Local>, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits; see [`acquire_owned`](Self::acquire_owned).
    pub async fn acquire_many_owned(
        self: Rc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit<Local>, AcquireError> {
        owned::<Local>(self, n).await
    }

    /// One owned permit if one is free and nobody waits ahead.
    pub fn try_acquire_owned(
        self: Rc<Self>,
    ) -> Result<OwnedSemaphorePermit<Local>, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit { sem: self, n: 1 })
    }
}

async fn owned<F: Family>(
    sem: F::Ptr<Semaphore<F>>,
    n: usize,
) -> Result<OwnedSemaphorePermit<F>, AcquireError> {
    Acquire {
        sem: &*sem,
        n,
        ticket: None,
    }
    .await?;
    Ok(OwnedSemaphorePermit { sem, n })
}

/// A waiting acquire: its place in the queue (see the module docs).
struct Acquire<'a, F: Family> {
    sem: &'a Semaphore<F>,
    n: usize,
    ticket: Option<u64>,
}

impl<F: Family> Future for Acquire<'_, F> {
    type Output = Result<(), AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = F::lock(&self.sem.state);
        let Some(ticket) = self.ticket else {
            if s.closed {
                return Poll::Ready(Err(AcquireError(())));
            }
            // Granted waiters not yet polled do not count: only those still waiting are ahead.
            if s.waiters.first_waiting().is_none() && s.permits >= self.n {
                s.permits -= self.n;
                return Poll::Ready(Ok(()));
            }
            let t = s.waiters.push(cx.waker(), self.n);
            drop(s);
            self.ticket = Some(t);
            return Poll::Pending;
        };
        let granted = s.waiters.get_mut(ticket).is_some_and(|w| w.granted);
        if granted {
            s.waiters.remove(ticket);
            drop(s);
            self.ticket = None;
            return Poll::Ready(Ok(()));
        }
        if s.closed {
            s.waiters.remove(ticket);
            drop(s);
            self.ticket = None;
            return Poll::Ready(Err(AcquireError(())));
        }
        s.waiters.set_waker(ticket, cx.waker());
        Poll::Pending
    }
}

impl<F: Family> Drop for Acquire<'_, F> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else { return };
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.sem.state);
            if let Some(w) = s.waiters.remove(ticket) {
                if w.granted {
                    // Granted, never taken: the permits go back.
                    s.permits += w.want;
                }
                // Either way the front may have moved: serve whoever can go now.
                s.serve(&mut wake);
            }
        }
        wake_all(wake);
    }
}

/// Permits borrowed from a semaphore, given back on drop.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a, F: Family> {
    sem: &'a Semaphore<F>,
    n: usize,
}

impl<F: Family> SemaphorePermit<'_, F> {
    /// Keeps the permits taken for good (the semaphore has that many fewer).
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl<F: Family> Drop for SemaphorePermit<'_, F> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl<F: Family> fmt::Debug for SemaphorePermit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("n", &self.n)
            .finish()
    }
}

/// Permits that own a reference to their semaphore, given back on drop.
#[must_use = "the permit is released at once if not kept"]
pub struct OwnedSemaphorePermit<F: Family> {
    sem: F::Ptr<Semaphore<F>>,
    n: usize,
}

impl<F: Family> OwnedSemaphorePermit<F> {
    /// Keeps the permits taken for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &F::Ptr<Semaphore<F>> {
        &self.sem
    }
}

impl<F: Family> Drop for OwnedSemaphorePermit<F> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl<F: Family> fmt::Debug for OwnedSemaphorePermit<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("n", &self.n)
            .finish()
    }
}
