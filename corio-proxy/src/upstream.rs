//! Upstreams: the order a client tries them in (round-robin or least-connections, counted
//! across all workers), passive health, and the connect with its timeout and failover.
//!
//! Passive health: `max_fails` failed connects in a row (refused, timed out, or any other
//! error) put an upstream out of rotation for `fail_timeout`, from the failure that reached
//! the count. Afterwards the next client tries it again; one more failure puts it out again at
//! once, a success clears the count. If every upstream is out, all are tried anyway rather
//! than refusing the client. A client tries each upstream at most once.

use crate::config::{Balance, ListenerSettings};
use crate::log;
use corio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One upstream's shared state.
pub struct Upstream {
    pub addr: SocketAddr,
    /// Live pairs, across workers.
    pub active: AtomicUsize,
    /// Failed connects in a row.
    fails: AtomicU32,
    /// Out of rotation until this many ms after `Upstreams::epoch` (0: in rotation).
    skip_until_ms: AtomicU64,
    pub connect_errors: AtomicU64,
    pub connect_timeouts: AtomicU64,
}

impl Upstream {
    /// Failed connects in a row.
    pub fn fails(&self) -> u32 {
        self.fails.load(Ordering::Relaxed)
    }
}

/// A listener's upstreams.
pub struct Upstreams {
    list: Vec<Upstream>,
    next: AtomicUsize,
    balance: Balance,
    max_fails: u32,
    fail_timeout: Duration,
    connect_timeout: Duration,
    epoch: Instant,
}

/// Why a client got no upstream.
#[derive(Debug)]
pub struct NoUpstream {
    /// The last upstream tried, if any was.
    pub last: Option<SocketAddr>,
    /// The proxy ran out of file descriptors (EMFILE/ENFILE): its own trouble, not the
    /// upstream's, whose health is left alone.
    pub fd_limit: bool,
}

/// True for the errors that mean this process (or the system) has no descriptor left.
pub fn is_fd_limit(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Why a connect failed.
enum Failure {
    TimedOut,
    Error(io::Error),
}

impl Upstreams {
    pub fn new(l: &ListenerSettings) -> Upstreams {
        let list = l
            .upstreams
            .iter()
            .map(|&addr| Upstream {
                addr,
                active: AtomicUsize::new(0),
                fails: AtomicU32::new(0),
                skip_until_ms: AtomicU64::new(0),
                connect_errors: AtomicU64::new(0),
                connect_timeouts: AtomicU64::new(0),
            })
            .collect();
        Upstreams {
            list,
            next: AtomicUsize::new(0),
            balance: l.balance,
            max_fails: l.max_fails,
            fail_timeout: l.fail_timeout,
            connect_timeout: l.connect_timeout,
            epoch: Instant::now(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.list.iter()
    }

    pub fn get(&self, i: usize) -> &Upstream {
        &self.list[i]
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// In rotation (not skipped after failures).
    pub fn is_healthy(&self, u: &Upstream) -> bool {
        self.now_ms() >= u.skip_until_ms.load(Ordering::Relaxed)
    }

    /// The order one client tries the upstreams in: the healthy ones by the balance rule, or
    /// all of them by that rule when none is healthy.
    pub fn order(&self) -> Vec<usize> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
        if self.balance == Balance::LeastConn {
            // Stable: ties keep the rotation, so equal upstreams still take turns.
            order.sort_by_key(|&i| self.list[i].active.load(Ordering::Relaxed));
        }
        let healthy: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| self.is_healthy(&self.list[i]))
            .collect();
        if healthy.is_empty() {
            order
        } else {
            healthy
        }
    }

    fn succeeded(&self, i: usize) {
        let u = &self.list[i];
        u.fails.store(0, Ordering::Relaxed);
        if u.skip_until_ms.load(Ordering::Relaxed) != 0 {
            u.skip_until_ms.store(0, Ordering::Relaxed);
        }
    }

    fn failed(&self, i: usize, why: &Failure, listener: SocketAddr) {
        let u = &self.list[i];
        let fails = u.fails.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let reason = match why {
            Failure::TimedOut => {
                u.connect_timeouts.fetch_add(1, Ordering::Relaxed);
                format!("timed out after {:?}", self.connect_timeout)
            }
            Failure::Error(e) => {
                u.connect_errors.fetch_add(1, Ordering::Relaxed);
                e.to_string()
            }
        };
        if fails >= self.max_fails {
            let until = self.now_ms() + self.fail_timeout.as_millis() as u64;
            u.skip_until_ms.store(until, Ordering::Relaxed);
            log::error(format_args!(
                "listener {listener}: upstream {}: connect {reason}; {fails} failures in a row, skipped for {:?}",
                u.addr, self.fail_timeout
            ));
        } else {
            log::error(format_args!(
                "listener {listener}: upstream {}: connect {reason}",
                u.addr
            ));
        }
    }

    /// Connects to the first upstream in `order()` that answers within the connect timeout;
    /// an error when every one failed (each was tried once), or at once when the proxy has no
    /// file descriptor for the connection (no upstream is blamed for that).
    pub async fn connect(&self, listener: SocketAddr) -> Result<(TcpStream, usize), NoUpstream> {
        let mut last = None;
        for i in self.order() {
            let addr = self.list[i].addr;
            last = Some(addr);
            let why =
                match corio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        self.succeeded(i);
                        return Ok((stream, i));
                    }
                    Ok(Err(e)) if is_fd_limit(&e) => {
                        return Err(NoUpstream {
                            last,
                            fd_limit: true,
                        })
                    }
                    Ok(Err(e)) => Failure::Error(e),
                    Err(_) => Failure::TimedOut,
                };
            self.failed(i, &why, listener);
        }
        Err(NoUpstream {
            last,
            fd_limit: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Copy;

    fn settings(n: usize, balance: Balance) -> ListenerSettings {
        ListenerSettings {
            listen: "127.0.0.1:1".parse().unwrap(),
            upstreams: (0..n)
                .map(|i| format!("127.0.0.1:{}", 10 + i).parse().unwrap())
                .collect(),
            balance,
            connect_timeout: Duration::from_secs(1),
            idle_timeout: None,
            max_conns: None,
            copy: Copy::Buffered,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn round_robin_rotates_and_tries_each_once() {
        let u = Upstreams::new(&settings(3, Balance::RoundRobin));
        assert_eq!(u.order(), vec![0, 1, 2]);
        assert_eq!(u.order(), vec![1, 2, 0]);
        assert_eq!(u.order(), vec![2, 0, 1]);
    }

    #[test]
    fn least_conn_prefers_the_emptiest() {
        let u = Upstreams::new(&settings(3, Balance::LeastConn));
        u.get(0).active.store(5, Ordering::Relaxed);
        u.get(1).active.store(1, Ordering::Relaxed);
        u.get(2).active.store(3, Ordering::Relaxed);
        assert_eq!(u.order(), vec![1, 2, 0]);
    }

    #[test]
    fn three_failures_skip_until_all_are_skipped() {
        let u = Upstreams::new(&settings(2, Balance::RoundRobin));
        let l = "127.0.0.1:1".parse().unwrap();
        let refused = || Failure::Error(io::ErrorKind::ConnectionRefused.into());
        u.failed(0, &refused(), l);
        u.failed(0, &Failure::TimedOut, l);
        assert!(u.is_healthy(u.get(0)), "two failures do not skip");
        u.failed(0, &refused(), l);
        assert!(!u.is_healthy(u.get(0)));
        assert_eq!(u.order(), vec![1]);
        assert_eq!(u.order(), vec![1]);
        // A success elsewhere does not clear upstream 0; every upstream skipped: all tried.
        for _ in 0..3 {
            u.failed(1, &refused(), l);
        }
        assert_eq!(u.order().len(), 2);
        assert_eq!(u.get(0).connect_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(u.get(0).connect_errors.load(Ordering::Relaxed), 2);
        u.succeeded(0);
        assert_eq!(u.get(0).fails.load(Ordering::Relaxed), 0);
        assert!(u.is_healthy(u.get(0)), "a success puts it back in rotation");
    }
}
