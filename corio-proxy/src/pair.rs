//! One client: connect it to an upstream, copy both directions at once, and end the pair.
//!
//! - Both directions done (each saw EOF and passed it on as shutdown(Write)): both closed.
//! - An error on either (a reset, a failed write): both sockets are closed with SO_LINGER 0,
//!   so the side still up sees a reset promptly, as it would without the proxy.
//! - No byte moved either way for the idle timeout: both closed.
//!
//! Every pair leaves one access-log record (access_log.rs) saying how it ended.

use crate::access_log::{ConnLog, End as LogEnd};
use crate::config::{Copy, ListenerSettings};
use crate::copy::{self, CopyError, Moved, Side};
use crate::idle::Activity;
use crate::log;
use crate::metrics::{ListenerMetrics, WorkerCounters};
use crate::upstream::Upstreams;
use corio::net::TcpStream;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

/// What every worker shares about one listener, as one config generation set it (a reload
/// makes a new one; the metrics go on from generation to generation).
pub struct Listener {
    pub settings: ListenerSettings,
    pub metrics: Arc<ListenerMetrics>,
    pub upstreams: Arc<Upstreams>,
}

/// How a pair ended.
enum End {
    /// Both directions finished with EOF.
    Done,
    /// The idle timeout passed with no byte moved.
    Idle,
    /// A direction failed (a reset on either side, a failed write or shutdown).
    Error(Failed),
}

/// Which socket of the pair failed, and how.
struct Failed {
    client: bool,
    error: std::io::Error,
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

/// Serves `client` (from `peer`, already counted in `live`) on worker `worker`.
pub async fn serve(client: TcpStream, peer: SocketAddr, live: Live, worker: usize) {
    let l = &*live.0;
    let counters = &l.metrics.workers[worker];
    let mut record = ConnLog::new(l.metrics.addr, peer);
    let (upstream, i) = match l.upstreams.connect(l.metrics.addr).await {
        Ok(c) => c,
        Err(no) => {
            record.upstream = no.last;
            let addr = l.metrics.addr;
            if no.fd_limit {
                counters.fd_limit.add(1);
                record.end = Some(LogEnd::FdLimit);
                log::error(format_args!(
                    "listener {addr}: out of file descriptors (limit {}); closing the client",
                    crate::limits::nofile()
                ));
            } else {
                counters.no_upstream.add(1);
                record.end = Some(LogEnd::ConnectFailed);
                log::error(format_args!(
                    "listener {addr}: every upstream failed to connect; closing the client"
                ));
            }
            return;
        }
    };
    let up = l.upstreams.get(i);
    record.upstream = Some(up.addr);
    up.active.fetch_add(1, Ordering::Relaxed);
    let _up_live = UpstreamLive(&up.active);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let end = pair(&client, &upstream, &l.settings, counters, &record).await;
    record.end = Some(match end {
        End::Done => LogEnd::Done,
        End::Idle => {
            counters.idle_timeouts.add(1);
            LogEnd::Idle
        }
        End::Error(f) => {
            counters.pair_errors.add(1);
            reset(&client);
            reset(&upstream);
            let addr = l.metrics.addr;
            let e = &f.error;
            if f.client {
                // A client that resets or goes away is ordinary: not an error of the proxy.
                log::debug(format_args!(
                    "listener {addr}: client {peer} (upstream {}): {e}",
                    up.addr
                ));
                LogEnd::ClientError
            } else {
                log::warn(format_args!(
                    "listener {addr}: upstream {} (client {peer}): {e}",
                    up.addr
                ));
                LogEnd::UpstreamError
            }
        }
    });
}

/// Runs both directions and the idle timer until the pair ends.
async fn pair(
    client: &TcpStream,
    upstream: &TcpStream,
    settings: &ListenerSettings,
    counters: &WorkerCounters,
    record: &ConnLog,
) -> End {
    let activity = Activity::new(settings.idle_timeout);
    let moved_up = || Moved {
        total: &counters.bytes_up,
        pair: &record.bytes_up,
    };
    let moved_down = || Moved {
        total: &counters.bytes_down,
        pair: &record.bytes_down,
    };
    let (mut up, mut down) = match settings.copy {
        Copy::Buffered => (
            Dir::new(
                copy::buffered(client, upstream, moved_up(), &activity),
                true,
            ),
            Dir::new(
                copy::buffered(upstream, client, moved_down(), &activity),
                false,
            ),
        ),
        Copy::Splice => (
            Dir::new(copy::spliced(client, upstream, moved_up(), &activity), true),
            Dir::new(
                copy::spliced(upstream, client, moved_down(), &activity),
                false,
            ),
        ),
    };
    poll_fn(|cx| {
        for dir in [&mut up, &mut down] {
            if let Some(Err(e)) = dir.poll(cx) {
                return Poll::Ready(End::Error(e));
            }
        }
        if up.done && down.done {
            return Poll::Ready(End::Done);
        }
        activity.poll_idle(cx).map(|()| End::Idle)
    })
    .await
}

type DirFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), CopyError>> + 'a>>;

/// One direction and whether it has finished.
struct Dir<'a> {
    fut: DirFuture<'a>,
    done: bool,
    /// Client → upstream (its source is the client), or the other way.
    from_client: bool,
}

impl<'a> Dir<'a> {
    fn new(f: impl Future<Output = Result<(), CopyError>> + 'a, from_client: bool) -> Dir<'a> {
        Dir {
            fut: Box::pin(f),
            done: false,
            from_client,
        }
    }

    /// Polls it unless finished; `Some(result)` the moment it finishes.
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Option<Result<(), Failed>> {
        if self.done {
            return None;
        }
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(res) => {
                self.done = true;
                Some(res.map_err(|e| Failed {
                    client: (e.side == Side::Source) == self.from_client,
                    error: e.error,
                }))
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
