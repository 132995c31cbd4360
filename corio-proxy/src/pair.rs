//! One client: connect it to an upstream, copy both directions at once, and end the pair.
//!
//! - Both directions done (each saw EOF and passed it on as shutdown(Write)): both closed.
//! - An error on either (a reset, a failed write): both sockets are closed with SO_LINGER 0,
//!   so the side still up sees a reset promptly, as it would without the proxy.
//! - No byte moved either way for the idle timeout: both closed.

use crate::config::{Copy, ListenerSettings};
use crate::copy::{self, Activity};
use crate::log;
use crate::metrics::{ListenerMetrics, WorkerCounters};
use crate::upstream::Upstreams;
use corio::net::TcpStream;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

/// What every worker shares about one listener.
pub struct Listener {
    pub settings: ListenerSettings,
    pub metrics: ListenerMetrics,
    pub upstreams: Upstreams,
}

/// How a pair ended.
enum End {
    /// Both directions finished with EOF.
    Done,
    /// The idle timeout passed with no byte moved.
    Idle,
    /// A direction failed (a reset on either side, a failed write or shutdown).
    Error(io::Error),
}

/// Counts one live client on its listener until dropped.
pub struct Live(pub Arc<Listener>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.metrics.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts one live pair on its upstream until dropped.
struct UpstreamLive<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for UpstreamLive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `client` (already counted in `live`) on worker `worker`.
pub async fn serve(client: TcpStream, live: Live, worker: usize) {
    let l = &*live.0;
    let counters = &l.metrics.workers[worker];
    let Some((upstream, i)) = l.upstreams.connect(l.metrics.addr).await else {
        counters.no_upstream.add(1);
        log::error(format_args!(
            "listener {}: every upstream failed to connect; closing the client",
            l.metrics.addr
        ));
        return;
    };
    let up = l.upstreams.get(i);
    up.active.fetch_add(1, Ordering::Relaxed);
    let _up_live = UpstreamLive(&up.active);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    match pair(&client, &upstream, &l.settings, counters).await {
        End::Done => {}
        End::Idle => counters.idle_timeouts.add(1),
        End::Error(e) => {
            counters.pair_errors.add(1);
            reset(&client);
            reset(&upstream);
            let addr = l.metrics.addr;
            log::error(format_args!(
                "listener {addr}: pair with upstream {}: {e}",
                up.addr
            ));
        }
    }
}

/// Runs both directions and the idle timer until the pair ends.
async fn pair(
    client: &TcpStream,
    upstream: &TcpStream,
    settings: &ListenerSettings,
    counters: &WorkerCounters,
) -> End {
    let activity = Activity::new(settings.idle_timeout.is_some());
    let (mut up, mut down) = match settings.copy {
        Copy::Buffered => (
            Dir::new(copy::buffered(
                client,
                upstream,
                &counters.bytes_up,
                &activity,
            )),
            Dir::new(copy::buffered(
                upstream,
                client,
                &counters.bytes_down,
                &activity,
            )),
        ),
        Copy::Splice => (
            Dir::new(copy::spliced(
                client,
                upstream,
                &counters.bytes_up,
                &activity,
            )),
            Dir::new(copy::spliced(
                upstream,
                client,
                &counters.bytes_down,
                &activity,
            )),
        ),
    };
    let mut idle = settings
        .idle_timeout
        .map(|d| (d, corio::time::sleep_until(activity.last() + d)));
    poll_fn(|cx| {
        for dir in [&mut up, &mut down] {
            if let Some(Err(e)) = dir.poll(cx) {
                return Poll::Ready(End::Error(e));
            }
        }
        if up.done && down.done {
            return Poll::Ready(End::Done);
        }
        if let Some((d, sleep)) = &mut idle {
            // Re-arm from the last activity until a whole idle period passes with none.
            while std::pin::Pin::new(&mut *sleep).poll(cx).is_ready() {
                let due = activity.last() + *d;
                if due <= std::time::Instant::now() {
                    return Poll::Ready(End::Idle);
                }
                sleep.reset(due);
            }
        }
        Poll::Pending
    })
    .await
}

type DirFuture<'a> = std::pin::Pin<Box<dyn Future<Output = io::Result<()>> + 'a>>;

/// One direction and whether it has finished.
struct Dir<'a> {
    fut: DirFuture<'a>,
    done: bool,
}

impl<'a> Dir<'a> {
    fn new(f: impl Future<Output = io::Result<()>> + 'a) -> Dir<'a> {
        Dir {
            fut: Box::pin(f),
            done: false,
        }
    }

    /// Polls it unless finished; `Some(result)` the moment it finishes.
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Option<io::Result<()>> {
        if self.done {
            return None;
        }
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(res) => {
                self.done = true;
                Some(res)
            }
            Poll::Pending => None,
        }
    }
}

/// SO_LINGER 0: closing the socket sends a reset instead of a FIN.
fn reset(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger`, which lives for the call, on an fd `s` owns.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}
