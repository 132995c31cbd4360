//! One client: take it in (its PROXY header, ACLs, SNI route: `inspect`), connect it to an
//! upstream of its route, send what the upstream must get first (the PROXY header we add,
//! the bytes already read), then copy both directions at once, and end the pair.
//!
//! - Both directions done (each saw EOF and passed it on as shutdown(Write)): both closed.
//! - An error on either (a reset, a failed write): both sockets are closed with SO_LINGER 0,
//!   so the side still up sees a reset promptly, as it would without the proxy.
//! - No byte moved either way for the idle timeout: both closed.
//!
//! Every pair leaves one access-log record (access_log.rs) saying how it ended.

use crate::access_log::{ConnLog, End as LogEnd};
use crate::acl::{Acl, SourceLimit, SourceSlot};
use crate::config::{Copy, ListenerSettings};
use crate::conn::Conn;
use crate::copy::{self, CopyError, Moved, Side};
use crate::idle::Activity;
use crate::inspect::{self, Client};
use crate::log;
use crate::metrics::{ListenerMetrics, WorkerCounters};
use crate::proxy_proto;
use crate::sni::Router;
use crate::traffic::ProxyVersion;
use crate::upstream::{Server, Upstreams};
use corio::io::ReadMode;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

/// What every worker shares about one listener, as one config generation set it (a reload
/// makes a new one; the metrics go on from generation to generation).
pub struct Listener {
    pub settings: ListenerSettings,
    pub metrics: Arc<ListenerMetrics>,
    /// Upstream groups: 0 is the listener's own list (the default route, possibly empty when
    /// there are SNI routes), 1.. the routes in order.
    pub upstreams: Vec<Arc<Upstreams>>,
    pub router: Router,
    pub acl: Acl,
    pub per_source: Option<Arc<SourceLimit>>,
}

impl Listener {
    /// Builds the listener's shared state. Host names are resolved here (blocking: call it
    /// off the executor); a name that does not resolve is an error naming it.
    pub fn new(
        settings: ListenerSettings,
        metrics: Arc<ListenerMetrics>,
    ) -> Result<Listener, String> {
        let upstreams = groups(&settings, &metrics)?;
        Ok(Listener::with(settings, metrics, upstreams, None))
    }

    /// The listener a reload makes from this one: the upstream groups (their servers, health
    /// and passive state) are kept when nothing about them changed, and so are the live
    /// counts of `max-conns-per-source` when its limit stayed.
    pub fn next(&self, settings: &ListenerSettings) -> Result<Listener, String> {
        let (old, new) = (&self.settings, settings);
        let same = old.upstreams == new.upstreams
            && old.balance == new.balance
            && old.connect_timeout == new.connect_timeout
            && old.max_fails == new.max_fails
            && old.fail_timeout == new.fail_timeout
            && old.traffic.routes == new.traffic.routes
            && old.traffic.health == new.traffic.health
            && old.traffic.resolve_interval == new.traffic.resolve_interval;
        let upstreams = match same {
            true => self.upstreams.clone(),
            false => groups(settings, &self.metrics)?,
        };
        let per_source = self
            .per_source
            .clone()
            .filter(|_| old.traffic.max_conns_per_source == new.traffic.max_conns_per_source);
        Ok(Listener::with(
            settings.clone(),
            self.metrics.clone(),
            upstreams,
            per_source,
        ))
    }

    fn with(
        settings: ListenerSettings,
        metrics: Arc<ListenerMetrics>,
        upstreams: Vec<Arc<Upstreams>>,
        per_source: Option<Arc<SourceLimit>>,
    ) -> Listener {
        let t = &settings.traffic;
        Listener {
            router: Router::new(t.routes.iter().map(|r| r.sni.as_slice())),
            acl: Acl::new(&t.allow, &t.deny),
            per_source: per_source.or_else(|| {
                t.max_conns_per_source
                    .map(|n| Arc::new(SourceLimit::new(n)))
            }),
            upstreams,
            metrics,
            settings,
        }
    }
}

/// The upstream groups of `settings` (the default route, then each SNI route), watched by
/// the monitor thread when they have health checks or host names.
fn groups(
    settings: &ListenerSettings,
    metrics: &ListenerMetrics,
) -> Result<Vec<Arc<Upstreams>>, String> {
    let mut upstreams = vec![Arc::new(Upstreams::new(
        "default",
        &settings.upstreams,
        settings.balance,
        settings,
    )?)];
    for r in &settings.traffic.routes {
        let group = Upstreams::new(&r.sni[0], &r.upstreams, r.balance, settings)?;
        upstreams.push(Arc::new(group));
    }
    let label = metrics.addr.to_string();
    for g in &upstreams {
        crate::monitor::watch(g, &label);
    }
    Ok(upstreams)
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

/// Serves `client` (already counted in `live`; `peer` is its address from accept, none for
/// a Unix client) on worker `worker`.
///
/// What an idle pair keeps is this future (the task), its two directions, its sockets and
/// its access-log record: the steps before the copy (`open`) run in a future of their own,
/// boxed and freed once they are done, so their state never weighs on a pair that waits.
/// `hold` is dropped when the pair ends (the worker's live count, the listener's permit).
pub async fn serve<H>(client: Conn, peer: Option<SocketAddr>, live: Live, worker: usize, hold: H) {
    let _hold = hold;
    let l = &*live.0;
    let counters = &l.metrics.workers[worker];
    let mut record = ConnLog::new(l.metrics.addr.clone(), peer);
    let opened = Box::pin(open(&client, peer, l, counters, &mut record)).await;
    let Some(Opened {
        upstream,
        server,
        src,
        _slot,
        sent,
    }) = opened
    else {
        return;
    };
    let _up_live = UpstreamLive(&server.active);
    let end = match sent {
        Ok(()) => pair(&client, &upstream, &l.settings, counters, &record).await,
        Err(error) => End::Error(Failed {
            client: false,
            error,
        }),
    };
    record.end = Some(match end {
        End::Done => LogEnd::Done,
        End::Idle => {
            counters.idle_timeouts.add(1);
            LogEnd::Idle
        }
        End::Error(f) => {
            counters.pair_errors.add(1);
            client.reset_on_close();
            upstream.reset_on_close();
            let addr = &l.metrics.addr;
            let e = &f.error;
            let who = src.map_or("a Unix client".to_string(), |a| a.to_string());
            if f.client {
                // A client that resets or goes away is ordinary: not an error of the proxy.
                log::debug(format_args!(
                    "listener {addr}: client {who} (upstream {}): {e}",
                    server.dest
                ));
                LogEnd::ClientError
            } else {
                log::warn(format_args!(
                    "listener {addr}: upstream {} (client {who}): {e}",
                    server.dest
                ));
                LogEnd::UpstreamError
            }
        }
    });
}

/// What `open` hands the pair: the upstream (counted live on its server), and what is kept
/// of the client: its address (for a log line) and its place under `max-conns-per-source`.
struct Opened {
    upstream: Conn,
    server: Arc<Server>,
    src: Option<SocketAddr>,
    _slot: Option<SourceSlot>,
    /// How sending what the upstream gets first went.
    sent: io::Result<()>,
}

/// Takes the client in (`inspect`), connects it to an upstream and sends what must go
/// first; `None` when the client was refused or no upstream could be had (logged and
/// recorded here).
async fn open(
    client: &Conn,
    peer: Option<SocketAddr>,
    l: &Listener,
    counters: &WorkerCounters,
    record: &mut ConnLog,
) -> Option<Opened> {
    let mut c = match inspect::intake(client, peer, l).await {
        Ok(c) => c,
        Err(r) => {
            counters.refused[r.reason as usize].add(1);
            record.note_client(r.src, peer);
            record.refused = Some(r.reason.label());
            record.end = Some(LogEnd::Refused);
            let from = r.src.map_or("a Unix client".to_string(), |a| a.to_string());
            log::warn(format_args!(
                "listener {}: client {from} closed before any upstream ({}): {}",
                l.metrics.addr,
                r.reason.label(),
                r.detail
            ));
            return None;
        }
    };
    record.note_client(c.src, peer);
    record.sni = c.sni.take();
    if !l.settings.traffic.routes.is_empty() {
        record.route = Some(l.upstreams[c.group].route.clone());
    }
    let group = &l.upstreams[c.group];
    let (upstream, server) = match group.connect(&l.metrics.addr, c.src.map(|a| a.ip())).await {
        Ok(c) => c,
        Err(no) => {
            record.upstream = no.last;
            let addr = &l.metrics.addr;
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
                    "listener {addr}: every upstream failed to connect or is down; closing the client"
                ));
            }
            return None;
        }
    };
    record.upstream = Some(server.dest.clone());
    server.active.fetch_add(1, Ordering::Relaxed);
    client.set_nodelay();
    upstream.set_nodelay();
    let send_proxy = l.settings.traffic.send_proxy;
    let sent = send_first(client, &upstream, &c, send_proxy, counters, record).await;
    let (src, _slot) = c.keep();
    Some(Opened {
        upstream,
        server,
        src,
        _slot,
        sent,
    })
}

/// Writes what the upstream must get before the copy starts: the PROXY header (`send-proxy`)
/// and the bytes already read from the client, in one write.
async fn send_first(
    client: &Conn,
    upstream: &Conn,
    c: &Client,
    send_proxy: Option<ProxyVersion>,
    counters: &WorkerCounters,
    record: &ConnLog,
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
    let n = c.prefix.len() as u64;
    counters.bytes_up.add(n);
    record.bytes_up.set(record.bytes_up.get() + n);
    upstream.write_all(first).await.0
}

/// Runs both directions and the idle timer until the pair ends.
async fn pair(
    client: &Conn,
    upstream: &Conn,
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
    let read = match settings.copy {
        Copy::Ready => ReadMode::Ready,
        Copy::Pooled => ReadMode::Pooled,
        Copy::Buffered | Copy::Splice => ReadMode::default(),
    };
    let (mut up, mut down) = match settings.copy {
        Copy::Buffered | Copy::Pooled | Copy::Ready => (
            Dir::new(
                copy::buffered(client, upstream, moved_up(), &activity, read),
                true,
            ),
            Dir::new(
                copy::buffered(upstream, client, moved_down(), &activity, read),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Listen;
    use crate::config::Copy;
    use crate::metrics::ListenerMetrics;
    use crate::traffic::Traffic;
    use corio::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn settings(copy: Copy) -> ListenerSettings {
        ListenerSettings {
            listen: Listen::parse("127.0.0.1:1").unwrap(),
            upstreams: vec![],
            balance: crate::config::Balance::RoundRobin,
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Some(Duration::from_secs(600)),
            max_conns: None,
            copy,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            traffic: Traffic::default(),
        }
    }

    /// What an idle pair holds in user space is mostly its futures: the pair's task (`serve`)
    /// and its two directions. They are bounded here, generously, so that they cannot grow
    /// again unnoticed (they did once, from 2.2 to 3.1 KiB of RSS per idle pair: docs/proxy.md,
    /// "Idle memory per pair").
    #[test]
    fn an_idle_pairs_futures_stay_small() {
        corio::block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (b, _) = l.accept().await.unwrap();
            let (client, upstream) = (Conn::Tcp(a), Conn::Tcp(b));
            for copy in [Copy::Buffered, Copy::Splice] {
                let s = settings(copy);
                let metrics = Arc::new(ListenerMetrics::new(s.listen.clone(), 1));
                let listener = Arc::new(Listener::new(s.clone(), metrics.clone()).unwrap());
                let listener2 = listener.clone();
                let counters = &metrics.workers[0];
                let record = ConnLog::new(metrics.addr.clone(), None);
                let activity = Activity::new(None);
                let moved = Moved {
                    total: &counters.bytes_up,
                    pair: &record.bytes_up,
                };
                let dir = match copy {
                    Copy::Splice => {
                        std::mem::size_of_val(&copy::spliced(&client, &upstream, moved, &activity))
                    }
                    _ => std::mem::size_of_val(&copy::buffered(
                        &client,
                        &upstream,
                        moved,
                        &activity,
                        ReadMode::default(),
                    )),
                };
                let pair = std::mem::size_of_val(&pair(&client, &upstream, &s, counters, &record));
                let another = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
                let task =
                    std::mem::size_of_val(&serve(Conn::Tcp(another), None, Live(listener), 0, ()));
                let intake = std::mem::size_of_val(&inspect::intake(&client, None, &listener2));
                let connect = std::mem::size_of_val(
                    &listener2.upstreams[0].connect(&listener2.metrics.addr, None),
                );
                let first = std::mem::size_of_val(&send_first(
                    &client,
                    &upstream,
                    &Client::empty(),
                    None,
                    counters,
                    &record,
                ));
                println!(
                    "{copy:?}: a direction's future {dir} B, pair() {pair} B, serve() {task} B \
                     (intake {intake} B, connect {connect} B, send_first {first} B)"
                );
                // Measured at the fix: serve() 736 B (was 1,248: the steps before the copy
                // were inline), a direction 432 B buffered / 584 B spliced (was 576 / 584).
                assert!(task <= 1024, "{copy:?}: serve() is {task} B");
                assert!(
                    task + 2 * dir <= 2048,
                    "{copy:?}: serve() {task} B and two directions of {dir} B"
                );
                // The steps before the copy are boxed: their size is not the pair's.
                assert!(intake + connect + first > 0);
            }
        });
    }
}
