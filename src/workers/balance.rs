//! The balanced acceptor: one worker accepts, each connection goes to the worker with the
//! fewest open ones.

use crate::net::{TcpListener, TcpStream};
use crate::runtime::context;
use crate::runtime::group::Group;
use crate::runtime::remote::Job;
use crate::runtime::shutdown_requested;
use crate::runtime::spawn;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

/// Accepts on `listener` (on this worker) and hands each connection to the worker with the
/// fewest active connections, where `handler` serves it. SO_REUSEPORT hashing spreads
/// connections by count, blind to their weight; this spreads by what is still open. The
/// connection crosses workers through the target's cross-core queue; the wake-up is one
/// IORING_OP_MSG_RING per batch between io_uring workers, else one eventfd write. Returns when
/// the shutdown starts, or on an accept error.
pub async fn serve_balanced<H, Fut>(listener: TcpListener, handler: H) -> io::Result<()>
where
    H: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handler = Arc::new(handler);
    let group = context::with_core(|core| core.group());
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stop = std::pin::pin!(shutdown_requested());
            match select(accept, stop).await {
                Either::Left(res) => res?,
                Either::Right(()) => return Ok(()),
            }
        };
        let (stream, _) = accepted;
        let target = (0..group.remotes.len())
            .min_by_key(|&w| group.active[w].load(Ordering::Relaxed))
            .unwrap_or(0);
        group.active[target].fetch_add(1, Ordering::Relaxed);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(_) => {
                group.active[target].fetch_sub(1, Ordering::Relaxed);
                continue;
            }
        };
        let handler = handler.clone();
        let g = group.clone();
        let job: Job = Box::new(move || {
            let done = ActiveGuard {
                group: g,
                worker: target,
            };
            match TcpStream::from_std(std_stream) {
                Ok(stream) => {
                    let fut = handler(stream);
                    spawn(async move {
                        let _done = done;
                        fut.await
                    });
                }
                Err(_) => drop(done),
            }
        });
        if let Err(job) = group.remotes[target].push_job(job) {
            // The target is gone: its guard runs when the job is dropped.
            drop(job);
        }
    }
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The first of two futures to finish (the left one is polled first).
async fn select<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
) -> Either<A::Output, B::Output> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Decrements a worker's active-connection count when the connection's task ends.
struct ActiveGuard {
    group: Arc<Group>,
    worker: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.group.active[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}
