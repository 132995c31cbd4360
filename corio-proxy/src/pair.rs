//! One client: take it in (its PROXY header, ACLs, SNI route: `inspect`), connect it to an
//! upstream of its route, send what the upstream must get first (the PROXY header we add,
//! the bytes already read), then copy both directions at once, and end the pair.
//!
//! - Both directions done (each saw EOF and passed it on as shutdown(Write)): both closed.
//! - An error on either (a reset, a failed write): both sockets are closed with SO_LINGER 0,
//!   so the side still up sees a reset promptly, as it would without the proxy.
//! - No byte moved either way for the idle timeout: both closed.

use crate::acl::{Acl, SourceLimit};
use crate::config::{Copy, ListenerSettings};
use crate::conn::Conn;
use crate::copy::{self, Activity};
use crate::inspect::{self, Client};
use crate::log;
use crate::metrics::{ListenerMetrics, WorkerCounters};
use crate::proxy_proto;
use crate::sni::Router;
use crate::traffic::ProxyVersion;
use crate::upstream::Upstreams;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

/// What every worker shares about one listener.
pub struct Listener {
    pub settings: ListenerSettings,
    pub metrics: ListenerMetrics,
    /// Upstream groups: 0 is the listener's own list (the default route, possibly empty when
    /// there are SNI routes), 1.. the routes in order.
    pub upstreams: Vec<Arc<Upstreams>>,
    pub router: Router,
    pub acl: Acl,
    pub per_source: Option<SourceLimit>,
}

impl Listener {
    /// Builds the listener's shared state. Host names are resolved here (blocking: call it
    /// off the executor); a name that does not resolve is an error naming it.
    pub fn new(settings: ListenerSettings, metrics: ListenerMetrics) -> Result<Listener, String> {
        let t = &settings.traffic;
        let mut upstreams = vec![Arc::new(Upstreams::new(
            "default",
            &settings.upstreams,
            settings.balance,
            &settings,
        )?)];
        for r in &t.routes {
            let group = Upstreams::new(&r.sni[0], &r.upstreams, r.balance, &settings)?;
            upstreams.push(Arc::new(group));
        }
        let label = metrics.addr.to_string();
        for g in &upstreams {
            crate::monitor::watch(g, &label);
        }
        Ok(Listener {
            router: Router::new(t.routes.iter().map(|r| r.sni.as_slice())),
            acl: Acl::new(&t.allow, &t.deny),
            per_source: t.max_conns_per_source.map(SourceLimit::new),
            upstreams,
            metrics,
            settings,
        })
    }
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

/// Serves `client` (already counted in `live`; `peer` is its address from accept) on worker
/// `worker`.
pub async fn serve(client: Conn, peer: Option<SocketAddr>, live: Live, worker: usize) {
    let l = &*live.0;
    let counters = &l.metrics.workers[worker];
    let c = match inspect::intake(&client, peer, l).await {
        Ok(c) => c,
        Err(r) => {
            counters.refused[r.reason as usize].add(1);
            let from = r.src.map_or("a Unix client".to_string(), |a| a.to_string());
            log::error(format_args!(
                "listener {}: client {from} closed before any upstream ({}): {}",
                l.metrics.addr,
                r.reason.label(),
                r.detail
            ));
            return;
        }
    };
    let group = &l.upstreams[c.group];
    let Some((upstream, server)) = group.connect(&l.metrics.addr, c.src.map(|a| a.ip())).await
    else {
        counters.no_upstream.add(1);
        log::error(format_args!(
            "listener {}: every upstream failed to connect or is down; closing the client",
            l.metrics.addr
        ));
        return;
    };
    server.active.fetch_add(1, Ordering::Relaxed);
    let _up_live = UpstreamLive(&server.active);
    client.set_nodelay();
    upstream.set_nodelay();
    let first = match send_first(
        &client,
        &upstream,
        &c,
        l.settings.traffic.send_proxy,
        counters,
    )
    .await
    {
        Ok(()) => pair(&client, &upstream, &l.settings, counters).await,
        Err(e) => End::Error(e),
    };
    match first {
        End::Done => {}
        End::Idle => counters.idle_timeouts.add(1),
        End::Error(e) => {
            counters.pair_errors.add(1);
            client.reset_on_close();
            upstream.reset_on_close();
            let addr = &l.metrics.addr;
            log::error(format_args!(
                "listener {addr}: pair with upstream {}: {e}",
                server.dest
            ));
        }
    }
}

/// Writes what the upstream must get before the copy starts: the PROXY header (`send-proxy`)
/// and the bytes already read from the client, in one write.
async fn send_first(
    client: &Conn,
    upstream: &Conn,
    c: &Client,
    send_proxy: Option<ProxyVersion>,
    counters: &WorkerCounters,
) -> io::Result<()> {
    let mut first = match send_proxy {
        Some(v) => {
            let dst = c.dst.or_else(|| client.local_ip_addr());
            let addrs = c.src.zip(dst);
            match v {
                ProxyVersion::V1 => proxy_proto::v1(addrs),
                ProxyVersion::V2 => proxy_proto::v2(addrs),
            }
        }
        None => Vec::new(),
    };
    first.extend_from_slice(&c.prefix);
    if first.is_empty() {
        return Ok(());
    }
    counters.bytes_up.add(c.prefix.len() as u64);
    upstream.write_all(first).await.0
}

/// Runs both directions and the idle timer until the pair ends.
async fn pair(
    client: &Conn,
    upstream: &Conn,
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
