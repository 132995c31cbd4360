//! hyper's runtime hooks on corio: [`CorioExecutor`] (`hyper::rt::Executor`) and
//! [`CorioTimer`] (`hyper::rt::Timer`).
//!
//! Both run on the current thread's executor, so hyper's connection tasks, HTTP/2 streams
//! and timers stay on the worker that accepted the connection — one hyper per worker under
//! `corio::Runtime::run`, nothing shared between them.

use hyper::rt::{Executor, Sleep, Timer};
use send_wrapper::SendWrapper;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// `hyper::rt::Executor` on [`corio::spawn`]: futures need not be `Send`. hyper's HTTP/2
/// (server and client) needs one; HTTP/1 does not.
///
/// ```no_run
/// let builder = hyper::server::conn::http2::Builder::new(corio_compat::CorioExecutor);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioExecutor;

impl<F> Executor<F> for CorioExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    /// Spawns `fut` on the current executor, detached. Panics outside a corio runtime.
    fn execute(&self, fut: F) {
        drop(corio::spawn(fut));
    }
}

/// `hyper::rt::Timer` on corio's timers (`corio::time::sleep_until`): for hyper's header-read
/// timeout and HTTP/2 keep-alive. Its sleeps must be polled on the thread that created them.
///
/// ```no_run
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(corio_compat::CorioTimer);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioTimer;

impl Timer for CorioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(CorioSleep::new(corio::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CorioSleep::new(corio::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CorioSleep>() {
            Some(mut s) => s.inner.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A corio sleep as a `hyper::rt::Sleep`.
///
/// hyper asks `Sleep: Send + Sync`; corio's timers belong to one executor's thread.
/// `SendWrapper` makes the type `Send + Sync` and checks, at every use, that the use is on the
/// creating thread (it panics otherwise, never touching the timer from elsewhere). hyper on a
/// corio executor never moves a connection's sleeps to another thread.
pub struct CorioSleep {
    inner: SendWrapper<corio::time::Sleep>,
}

impl CorioSleep {
    fn new(sleep: corio::time::Sleep) -> CorioSleep {
        CorioSleep {
            inner: SendWrapper::new(sleep),
        }
    }
}

impl Future for CorioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut *self.inner).poll(cx)
    }
}

impl Sleep for CorioSleep {}

impl std::fmt::Debug for CorioSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorioSleep").finish_non_exhaustive()
    }
}
