//! Upstreams: one group per route (the listener's own list is the default route), each a set
//! of servers — an entry's address, or every address its host name resolves to — with their
//! weights, backups, health, and the connect with its timeout and failover.
//!
//! Which servers a client may use: those not down by active checks and not skipped by passive
//! health. Backups only while no non-backup is usable. If nothing is usable, the servers
//! skipped by passive health are tried anyway (a skip is a guess; a failed check is not).
//! Among those, the balance rule orders them (`balance`); the client tries each at most once.
//!
//! Passive health: `max_fails` failed connects in a row (refused, timed out, or any other
//! error) put a server out of rotation for `fail_timeout`, from the failure that reached the
//! count; afterwards the next client tries it again, one more failure puts it out at once, a
//! success clears the count.
//!
//! The server set changes only when a host name resolves to other addresses (`refresh`, on
//! the monitor thread); a client works on the snapshot it took.

use crate::addr::{Dest, Target};
use crate::balance;
use crate::config::{Balance, ListenerSettings};
use crate::conn::Conn;
use crate::log;
use crate::traffic::{Entry, HealthCheck};
use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// One server's shared state.
pub struct Server {
    pub dest: Dest,
    /// The entry as written (a host name for resolved servers).
    pub entry: Target,
    pub weight: u32,
    pub backup: bool,
    /// A stable hash of `dest`, for hash-source.
    key: u64,
    /// Live pairs, across workers.
    pub active: AtomicUsize,
    /// Failed connects in a row.
    fails: AtomicU32,
    /// Out of rotation until this many ms after `Upstreams::epoch` (0: in rotation).
    skip_until_ms: AtomicU64,
    pub connect_errors: AtomicU64,
    pub connect_timeouts: AtomicU64,
    /// Marked down by active health checks (written by the monitor thread only).
    pub down: AtomicBool,
    pub checks_ok: AtomicU64,
    pub checks_failed: AtomicU64,
    /// Checks in a row with the same outcome (monitor thread only).
    pub streak: AtomicU32,
}

impl Server {
    fn new(entry: &Entry, dest: Dest) -> Server {
        Server {
            key: balance::hash(dest.to_string().as_bytes()),
            dest,
            entry: entry.target.clone(),
            weight: entry.weight,
            backup: entry.backup,
            active: AtomicUsize::new(0),
            fails: AtomicU32::new(0),
            skip_until_ms: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            connect_timeouts: AtomicU64::new(0),
            down: AtomicBool::new(false),
            checks_ok: AtomicU64::new(0),
            checks_failed: AtomicU64::new(0),
            streak: AtomicU32::new(0),
        }
    }

    /// Failed connects in a row (for /status).
    pub fn fails(&self) -> u32 {
        self.fails.load(Ordering::Relaxed)
    }
}

/// The servers of a group as of the last resolution.
struct Set {
    servers: Vec<Arc<Server>>,
    /// Smooth weighted round-robin's running weights, one per server.
    current: Mutex<Vec<i64>>,
}

impl Set {
    fn new(servers: Vec<Arc<Server>>) -> Arc<Set> {
        let current = Mutex::new(vec![0; servers.len()]);
        Arc::new(Set { servers, current })
    }
}

/// One group: a route's upstreams.
pub struct Upstreams {
    /// `default`, or the route's first SNI name: the `route` label in /metrics.
    pub route: String,
    entries: Vec<Entry>,
    set: RwLock<Arc<Set>>,
    /// The addresses each host-name entry last resolved to (kept when a lookup fails).
    resolved: Mutex<Vec<Vec<SocketAddr>>>,
    next: AtomicUsize,
    balance: Balance,
    max_fails: u32,
    fail_timeout: Duration,
    pub connect_timeout: Duration,
    pub health: Option<HealthCheck>,
    pub resolve_interval: Duration,
    pub resolve_failures: AtomicU64,
    /// Clients sent to this group (for SNI routes: how many each route took).
    pub clients: AtomicU64,
    epoch: Instant,
}

/// Why a client got no upstream.
#[derive(Debug)]
pub struct NoUpstream {
    /// The last upstream tried, if any was.
    pub last: Option<Dest>,
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
    /// A group of `entries`. Host names are resolved here, with the blocking resolver: call it
    /// off the executor (at start, or on a blocking thread). A name that does not resolve is
    /// an error naming it.
    pub fn new(
        route: &str,
        entries: &[Entry],
        balance: Balance,
        l: &ListenerSettings,
    ) -> Result<Upstreams, String> {
        let mut resolved = Vec::with_capacity(entries.len());
        for e in entries {
            resolved.push(match &e.target {
                Target::Host(h, p) => {
                    lookup(h, *p).map_err(|err| format!("upstream {}: {err}", e.target))?
                }
                _ => Vec::new(),
            });
        }
        let servers = build(entries, &resolved, &[]);
        Ok(Upstreams {
            route: route.to_string(),
            entries: entries.to_vec(),
            set: RwLock::new(Set::new(servers)),
            resolved: Mutex::new(resolved),
            next: AtomicUsize::new(0),
            balance,
            max_fails: l.max_fails,
            fail_timeout: l.fail_timeout,
            connect_timeout: l.connect_timeout,
            health: l.traffic.health.clone(),
            resolve_interval: l.traffic.resolve_interval,
            resolve_failures: AtomicU64::new(0),
            clients: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// The servers now.
    pub fn servers(&self) -> Vec<Arc<Server>> {
        self.snapshot().servers.clone()
    }

    fn snapshot(&self) -> Arc<Set> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// No entries (a listener with SNI routes and no default route).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn has_host_names(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.target, Target::Host(..)))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Not skipped after failed connects.
    pub fn is_healthy(&self, s: &Server) -> bool {
        self.now_ms() >= s.skip_until_ms.load(Ordering::Relaxed)
    }

    /// `up`, `down` (by active checks) or `skipped` (by passive health), for /status.
    pub fn state(&self, s: &Server) -> &'static str {
        if s.down.load(Ordering::Relaxed) {
            "down"
        } else if !self.is_healthy(s) {
            "skipped"
        } else {
            "up"
        }
    }

    /// The order one client tries the servers in (see the module docs).
    fn order(&self, set: &Set, client: Option<IpAddr>) -> Vec<usize> {
        let all = &set.servers;
        let now = self.now_ms();
        let checked_up = |s: &Server| !s.down.load(Ordering::Relaxed);
        let usable = |s: &Server| checked_up(s) && now >= s.skip_until_ms.load(Ordering::Relaxed);
        // One list: the first group (usable primaries), then the backups after them.
        let group = |order: &mut Vec<usize>, backup: bool, ok: &dyn Fn(&Server) -> bool| {
            order.extend((0..all.len()).filter(|&i| all[i].backup == backup && ok(&all[i])));
        };
        let mut order = Vec::with_capacity(all.len());
        group(&mut order, false, &usable);
        let mut first = order.len();
        group(&mut order, true, &usable);
        if order.is_empty() {
            // Nothing usable: those only skipped by passive health, primaries first.
            group(&mut order, false, &checked_up);
            first = order.len();
            group(&mut order, true, &checked_up);
        }
        if first == 0 {
            // No primary: the backups are the first group.
            first = order.len();
        }
        let (head, rest) = order.split_at_mut(first);
        self.arrange(set, head, client);
        self.arrange(set, rest, client);
        order
    }

    /// Puts `order` (usable servers, in list order) in the balance rule's order.
    fn arrange(&self, set: &Set, order: &mut [usize], client: Option<IpAddr>) {
        if order.len() < 2 {
            return;
        }
        let s = &set.servers;
        let weight = |i: usize| s[i].weight;
        match (self.balance, client) {
            (Balance::HashSource, Some(ip)) => {
                balance::rendezvous(ip, order, |i| s[i].key, weight);
            }
            (Balance::LeastConn, _) => {
                let start = self.next.fetch_add(1, Ordering::Relaxed) % order.len();
                order.rotate_left(start);
                balance::least_conn(order, |i| s[i].active.load(Ordering::Relaxed), weight);
            }
            // Round-robin, and hash-source for a client without an IP.
            _ => {
                let mut current = set.current.lock().unwrap_or_else(|e| e.into_inner());
                let first = balance::smooth(&mut current, weight, order);
                order.rotate_left(first);
            }
        }
    }

    fn succeeded(&self, s: &Server) {
        s.fails.store(0, Ordering::Relaxed);
        if s.skip_until_ms.load(Ordering::Relaxed) != 0 {
            s.skip_until_ms.store(0, Ordering::Relaxed);
        }
    }

    fn failed(&self, s: &Server, why: &Failure, listener: &dyn Display) {
        let fails = s.fails.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let reason = match why {
            Failure::TimedOut => {
                s.connect_timeouts.fetch_add(1, Ordering::Relaxed);
                format!("timed out after {:?}", self.connect_timeout)
            }
            Failure::Error(e) => {
                s.connect_errors.fetch_add(1, Ordering::Relaxed);
                e.to_string()
            }
        };
        if fails >= self.max_fails {
            let until = self.now_ms() + self.fail_timeout.as_millis() as u64;
            s.skip_until_ms.store(until, Ordering::Relaxed);
            log::error(format_args!(
                "listener {listener}: upstream {}: connect {reason}; {fails} failures in a row, skipped for {:?}",
                s.dest, self.fail_timeout
            ));
        } else {
            log::error(format_args!(
                "listener {listener}: upstream {}: connect {reason}",
                s.dest
            ));
        }
    }

    /// Connects to the first server in the client's order that answers within the connect
    /// timeout; an error when every one failed (each was tried once) or none may be used, or
    /// at once when the proxy has no file descriptor for the connection (no upstream is
    /// blamed for that).
    pub async fn connect(
        &self,
        listener: &dyn Display,
        client: Option<IpAddr>,
    ) -> Result<(Conn, Arc<Server>), NoUpstream> {
        self.clients.fetch_add(1, Ordering::Relaxed);
        let set = self.snapshot();
        let mut last = None;
        for i in self.order(&set, client) {
            let s = &set.servers[i];
            last = Some(s.dest.clone());
            let why = match corio::time::timeout(self.connect_timeout, Conn::connect(&s.dest)).await
            {
                Ok(Ok(conn)) => {
                    self.succeeded(s);
                    return Ok((conn, s.clone()));
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
            self.failed(s, &why, listener);
        }
        Err(NoUpstream {
            last,
            fd_limit: false,
        })
    }

    /// Resolves the host names again (blocking: the monitor thread calls it on a blocking
    /// thread). A name that fails keeps its last addresses, and the failure is logged and
    /// counted. Servers whose address stays keep their state; new ones start up.
    pub fn refresh(&self, listener: &dyn Display) {
        self.refresh_with(listener, lookup)
    }

    /// `refresh` with a given resolver (tests replace the system's).
    fn refresh_with(
        &self,
        listener: &dyn Display,
        lookup: impl Fn(&str, u16) -> Result<Vec<SocketAddr>, String>,
    ) {
        let mut resolved = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (e, last) in self.entries.iter().zip(resolved.iter_mut()) {
            let Target::Host(h, p) = &e.target else {
                continue;
            };
            match lookup(h, *p) {
                Ok(addrs) if addrs != *last => {
                    tracing::info!(
                        "listener {listener}: upstream {}: now resolves to {addrs:?} (was {last:?})",
                        e.target
                    );
                    *last = addrs;
                    changed = true;
                }
                Ok(_) => {}
                Err(err) => {
                    self.resolve_failures.fetch_add(1, Ordering::Relaxed);
                    log::warn(format_args!(
                        "listener {listener}: upstream {}: {err}; keeping {last:?}",
                        e.target
                    ));
                }
            }
        }
        if changed {
            let old = self.snapshot();
            let servers = build(&self.entries, &resolved, &old.servers);
            *self.set.write().unwrap_or_else(|e| e.into_inner()) = Set::new(servers);
        }
    }
}

/// The servers of `entries`, reusing those of `old` whose entry and address are the same.
fn build(entries: &[Entry], resolved: &[Vec<SocketAddr>], old: &[Arc<Server>]) -> Vec<Arc<Server>> {
    let mut out = Vec::new();
    for (e, addrs) in entries.iter().zip(resolved) {
        let dests: Vec<Dest> = match e.target.dest() {
            Some(d) => vec![d],
            None => addrs.iter().map(|&a| Dest::Ip(a)).collect(),
        };
        for dest in dests {
            let kept = old.iter().find(|s| {
                s.dest == dest
                    && s.entry == e.target
                    && s.weight == e.weight
                    && s.backup == e.backup
            });
            out.push(
                kept.cloned()
                    .unwrap_or_else(|| Arc::new(Server::new(e, dest))),
            );
        }
    }
    out
}

/// Every address `host:port` resolves to, sorted and without repeats (blocking).
fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Listen;
    use crate::config::Copy;
    use crate::traffic::Traffic;

    fn settings() -> ListenerSettings {
        ListenerSettings {
            listen: Listen::parse("127.0.0.1:1").unwrap(),
            upstreams: vec![],
            balance: Balance::RoundRobin,
            connect_timeout: Duration::from_secs(1),
            idle_timeout: None,
            max_conns: None,
            copy: Copy::Buffered,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            traffic: Traffic::default(),
        }
    }

    fn group(list: &[(&str, u32, bool)], balance: Balance) -> Upstreams {
        let entries: Vec<Entry> = list
            .iter()
            .map(|&(a, weight, backup)| Entry {
                target: Target::parse(a).unwrap(),
                weight,
                backup,
            })
            .collect();
        Upstreams::new("default", &entries, balance, &settings()).unwrap()
    }

    fn order(u: &Upstreams, client: Option<&str>) -> Vec<usize> {
        let set = u.snapshot();
        u.order(&set, client.map(|c| c.parse().unwrap()))
    }

    #[test]
    fn round_robin_rotates_and_tries_each_once() {
        let u = group(
            &[
                ("127.0.0.1:10", 1, false),
                ("127.0.0.1:11", 1, false),
                ("127.0.0.1:12", 1, false),
            ],
            Balance::RoundRobin,
        );
        assert_eq!(order(&u, None), vec![0, 1, 2]);
        assert_eq!(order(&u, None), vec![1, 2, 0]);
        assert_eq!(order(&u, None), vec![2, 0, 1]);
    }

    #[test]
    fn weights_spread_three_to_one() {
        let u = group(
            &[("127.0.0.1:10", 3, false), ("127.0.0.1:11", 1, false)],
            Balance::RoundRobin,
        );
        let firsts: Vec<usize> = (0..8).map(|_| order(&u, None)[0]).collect();
        assert_eq!(firsts, vec![0, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn least_conn_prefers_the_emptiest_per_weight() {
        let u = group(
            &[
                ("127.0.0.1:10", 1, false),
                ("127.0.0.1:11", 1, false),
                ("127.0.0.1:12", 4, false),
            ],
            Balance::LeastConn,
        );
        let s = u.servers();
        s[0].active.store(5, Ordering::Relaxed);
        s[1].active.store(1, Ordering::Relaxed);
        s[2].active.store(3, Ordering::Relaxed);
        assert_eq!(order(&u, None), vec![2, 1, 0]);
    }

    #[test]
    fn backups_only_while_every_primary_is_out() {
        let u = group(
            &[
                ("127.0.0.1:10", 1, false),
                ("127.0.0.1:11", 1, true),
                ("127.0.0.1:12", 1, false),
            ],
            Balance::RoundRobin,
        );
        assert_eq!(order(&u, None), vec![0, 2, 1], "backups last");
        let s = u.servers();
        s[0].down.store(true, Ordering::Relaxed);
        assert_eq!(order(&u, None), vec![2, 1]);
        s[2].down.store(true, Ordering::Relaxed);
        assert_eq!(order(&u, None), vec![1], "every primary down: the backup");
        s[1].down.store(true, Ordering::Relaxed);
        assert!(order(&u, None).is_empty(), "all down by checks: none");
    }

    #[test]
    fn three_failures_skip_until_all_are_skipped() {
        let u = group(
            &[("127.0.0.1:10", 1, false), ("127.0.0.1:11", 1, false)],
            Balance::RoundRobin,
        );
        let l = "127.0.0.1:1";
        let s = u.servers();
        let refused = || Failure::Error(io::ErrorKind::ConnectionRefused.into());
        u.failed(&s[0], &refused(), &l);
        u.failed(&s[0], &Failure::TimedOut, &l);
        assert!(u.is_healthy(&s[0]), "two failures do not skip");
        u.failed(&s[0], &refused(), &l);
        assert!(!u.is_healthy(&s[0]));
        assert_eq!(u.state(&s[0]), "skipped");
        assert_eq!(order(&u, None), vec![1]);
        for _ in 0..3 {
            u.failed(&s[1], &refused(), &l);
        }
        assert_eq!(order(&u, None).len(), 2, "every server skipped: all tried");
        assert_eq!(s[0].connect_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(s[0].connect_errors.load(Ordering::Relaxed), 2);
        u.succeeded(&s[0]);
        assert_eq!(s[0].fails(), 0);
        assert!(u.is_healthy(&s[0]), "a success puts it back in rotation");
    }

    #[test]
    fn hash_source_keeps_a_client_on_its_server() {
        let u = group(
            &[
                ("127.0.0.1:10", 1, false),
                ("127.0.0.1:11", 1, false),
                ("127.0.0.1:12", 1, false),
            ],
            Balance::HashSource,
        );
        for c in ["127.0.0.2", "127.0.0.3", "::1"] {
            let first = order(&u, Some(c));
            for _ in 0..5 {
                assert_eq!(order(&u, Some(c)), first);
            }
        }
    }

    #[test]
    fn a_name_that_stops_resolving_keeps_its_addresses() {
        let u = group(&[("localhost:7", 1, false)], Balance::RoundRobin);
        let ip = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let l = "test";
        u.refresh_with(&l, |_, _| Ok(vec![ip("10.0.0.1:7"), ip("10.0.0.2:7")]));
        let before = u.servers();
        assert_eq!(before.len(), 2);
        u.refresh_with(&l, |h, _| Err(format!("cannot resolve {h}")));
        assert_eq!(u.resolve_failures.load(Ordering::Relaxed), 1);
        let kept = u.servers();
        assert!(
            kept.iter().zip(&before).all(|(a, b)| Arc::ptr_eq(a, b)),
            "kept as they were"
        );
        u.refresh_with(&l, |_, _| Ok(vec![ip("10.0.0.2:7"), ip("10.0.0.3:7")]));
        let after = u.servers();
        let dests: Vec<String> = after.iter().map(|s| s.dest.to_string()).collect();
        assert_eq!(dests, ["10.0.0.2:7", "10.0.0.3:7"]);
        assert!(
            Arc::ptr_eq(&after[0], &before[1]),
            "the address that stayed kept its state"
        );
    }

    #[test]
    fn host_names_resolve_and_keep_their_state() {
        let u = group(
            &[("localhost:7", 2, false), ("unix:/tmp/x.sock", 1, false)],
            Balance::RoundRobin,
        );
        let s = u.servers();
        assert!(s.len() >= 2, "localhost resolves to at least one address");
        assert!(s
            .iter()
            .any(|s| s.dest == Dest::Ip("127.0.0.1:7".parse().unwrap())));
        assert!(s
            .iter()
            .all(|s| s.weight == 2 || matches!(s.dest, Dest::Unix(_))));
        s[0].active.store(9, Ordering::Relaxed);
        u.refresh(&"test");
        assert!(
            Arc::ptr_eq(&u.servers()[0], &s[0]),
            "same address, same server"
        );
        let bad = Entry::new(Target::parse("no-such-host.invalid:1").unwrap());
        let err = Upstreams::new("default", &[bad], Balance::RoundRobin, &settings()).err();
        assert!(err.unwrap().contains("no-such-host.invalid"));
    }
}
