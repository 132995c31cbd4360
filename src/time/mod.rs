//! Time: [`sleep`], [`sleep_until`], [`timeout`], [`interval`].
//!
//! Timers live in the executor, in user space: a timer never fires before its deadline (the
//! future re-checks the clock), and any number of pending timers cost one timeout on the
//! driver's single wait per loop turn — never one SQE each.

use crate::runtime::context;
use crate::runtime::timers::TimerKey;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
pub use std::time::Instant;

/// Waits until `duration` has elapsed.
///
/// ```
/// use std::time::Duration;
/// corio::block_on(async {
///     let t = corio::time::Instant::now();
///     corio::time::sleep(Duration::from_millis(5)).await;
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(after(Instant::now(), duration))
}

/// About 30 years: what "never" becomes, an instant no program waits for, far from the end
/// of `Instant`'s range (tokio uses the same bound).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + d`, or "never" (30 years on) if that overflows `Instant` or lies beyond: a
/// `Duration::MAX` timeout means no timeout, never a panic.
pub(crate) fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d.min(FAR_FUTURE))
        .unwrap_or_else(|| at.checked_add(FAR_FUTURE).unwrap_or(at))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    key: Option<TimerKey>,
}

impl Sleep {
    /// The instant this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (re-arming a completed sleep).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            context::try_with_core(|core| core.timers.borrow_mut().remove(&key));
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let key = self.key;
        let new_key = context::with_core(|core| {
            let mut timers = core.timers.borrow_mut();
            match key {
                Some(k) if timers.update(&k, cx.waker()) => k,
                _ => timers.insert(deadline, cx.waker().clone()),
            }
        });
        self.key = Some(new_key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` until it completes or `duration` passes, whichever is first. On timeout the
/// future is dropped; corio's reads and accepts are cancel-safe (lossless), so a read that
/// timed out loses no bytes and the stream stays usable.
///
/// ```
/// use std::time::Duration;
/// corio::block_on(async {
///     let r = corio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
///     assert!(r.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The future returned by [`timeout`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned (never moved out of `self`); `sleep` is Unpin.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above: `this.future` is not moved while `self` is pinned.
        let fut = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(v) = fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A stream of ticks `period` apart; the first tick completes at once.
///
/// Missed ticks are skipped rather than bunched: after a stall, the next tick is the next
/// multiple of `period` after now.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        next: Instant::now(),
        period,
        sleep: None,
    }
}

/// The value returned by [`interval`].
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Option<Sleep>,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: the poll form of [`tick`](Self::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let at = self.next;
        let sleep = self.sleep.get_or_insert_with(|| sleep_until(at));
        if sleep.deadline() != at {
            sleep.reset(at);
        }
        if Pin::new(sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        self.next = after(at, self.period);
        if self.next <= now {
            let behind = now.duration_since(at).as_nanos() / self.period.as_nanos();
            let ticks = u32::try_from(behind + 1).unwrap_or(u32::MAX);
            self.next = after(at, self.period.saturating_mul(ticks));
        }
        Poll::Ready(at)
    }

    /// The tick period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// An interval is an endless stream of ticks (futures-core's `Stream`, so stream combinators
/// from the futures ecosystem work on it).
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Number of timers pending on the current thread's executor (for tests and metrics).
pub fn pending_timers() -> usize {
    context::with_core(|core| core.timers.borrow().len())
}
