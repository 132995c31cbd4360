//! The proxy's counters, and their Prometheus text form for `/metrics`.
//!
//! Hot counters (bytes, connections) are per worker: each worker writes only its own, padded
//! to a cache line, with a plain load and store (no locked instruction, no sharing); /metrics
//! sums them. What must be shared to work — live clients per listener (max-conns) and live
//! pairs per upstream (least-conn) — is one atomic updated once per connection.

use crate::addr::Listen;
use crate::inspect::Reject;
use crate::limits::Gate;
use crate::upstream::Upstreams;
use corio::io::PoolStats;
use corio::WorkerMetrics;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A counter written by one thread only.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        // Single writer: a load and a store are enough, and cost no bus lock.
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One worker's counters for one listener.
#[derive(Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    /// Clients accepted.
    pub accepted: Counter,
    /// Clients closed because the proxy had no file descriptor for their upstream connection.
    pub fd_limit: Counter,
    /// Bytes copied client → upstream.
    pub bytes_up: Counter,
    /// Bytes copied upstream → client.
    pub bytes_down: Counter,
    /// Clients closed because no upstream could be connected.
    pub no_upstream: Counter,
    /// Pairs closed by the idle timeout.
    pub idle_timeouts: Counter,
    /// Pairs ended by an error or reset on either side.
    pub pair_errors: Counter,
    /// Clients closed before any upstream, by reason (indexed by `Reject as usize`).
    pub refused: [Counter; Reject::ALL.len()],
}

/// A listener's shared state and counters.
pub struct ListenerMetrics {
    pub addr: Listen,
    /// Live clients, across workers.
    pub active: AtomicUsize,
    pub workers: Vec<WorkerCounters>,
}

impl ListenerMetrics {
    pub fn new(addr: Listen, workers: usize) -> ListenerMetrics {
        ListenerMetrics {
            addr,
            active: AtomicUsize::new(0),
            workers: (0..workers).map(|_| WorkerCounters::default()).collect(),
        }
    }

    fn sum(&self, f: impl Fn(&WorkerCounters) -> &Counter) -> u64 {
        self.workers.iter().map(|w| f(w).get()).sum()
    }
}

/// What /metrics shows beyond the listeners: the drain flag, config generations, reloads and
/// takeovers.
#[derive(Default)]
pub struct ProcessState {
    pub draining: AtomicBool,
    /// Set by worker 0 when the drain ends: the other workers stop then.
    pub drain_over: AtomicBool,
    /// The config generation in effect (1 at start; +1 per applied reload or takeover).
    pub generation: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Takeovers this process gave its listeners to (0 or 1), and took them in (0 or 1).
    pub takeovers_given: AtomicU64,
    pub takeovers_taken: AtomicU64,
    /// Accepts that completed as they were cancelled (io_uring), whose clients were served.
    pub accepts_after_cancel: AtomicU64,
}

/// One listener as /metrics sees it.
pub struct ListenerView<'a> {
    pub metrics: &'a ListenerMetrics,
    /// The listener's upstream groups (default route first).
    pub upstreams: &'a [Arc<Upstreams>],
    pub gate: &'a Gate,
    pub accepting: bool,
}

/// Writes one metric family's header.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The Prometheus text (format 0.0.4) for everything.
pub fn render(
    listeners: &[ListenerView<'_>],
    state: &ProcessState,
    process: &Gate,
    workers: &[WorkerMetrics],
    pools: &[PoolStats],
) -> String {
    let mut out = String::with_capacity(8 << 10);
    render_listeners(&mut out, listeners);
    render_limits(&mut out, listeners);
    render_upstreams(&mut out, listeners);
    render_traffic(&mut out, listeners);
    render_operations(&mut out, state, process);
    family(
        &mut out,
        "corio_proxy_draining",
        "gauge",
        "1 while draining after SIGTERM/SIGINT.",
    );
    let draining = state.draining.load(Ordering::Relaxed) as u8;
    let _ = writeln!(out, "corio_proxy_draining {draining}");
    render_workers(&mut out, workers);
    render_pools(&mut out, pools);
    out
}

fn render_listeners(out: &mut String, ls: &[ListenerView<'_>]) {
    type Get = fn(&WorkerCounters) -> &Counter;
    let counters: [(&str, &str, Get); 5] = [
        (
            "corio_proxy_client_connections_total",
            "Clients accepted.",
            |w| &w.accepted,
        ),
        (
            "corio_proxy_fd_limit_total",
            "Clients closed because the proxy was out of file descriptors.",
            |w| &w.fd_limit,
        ),
        (
            "corio_proxy_no_upstream_total",
            "Clients closed because every upstream failed.",
            |w| &w.no_upstream,
        ),
        (
            "corio_proxy_idle_timeouts_total",
            "Pairs closed by the idle timeout.",
            |w| &w.idle_timeouts,
        ),
        (
            "corio_proxy_pair_errors_total",
            "Pairs ended by an error or reset on either side.",
            |w| &w.pair_errors,
        ),
    ];
    family(
        out,
        "corio_proxy_client_connections_active",
        "gauge",
        "Live clients.",
    );
    for l in ls {
        let (addr, n) = (&l.metrics.addr, l.metrics.active.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "corio_proxy_client_connections_active{{listener=\"{addr}\"}} {n}"
        );
    }
    for (name, help, get) in counters {
        family(out, name, "counter", help);
        for l in ls {
            let _ = writeln!(
                out,
                "{name}{{listener=\"{}\"}} {}",
                l.metrics.addr,
                l.metrics.sum(get)
            );
        }
    }
    let name = "corio_proxy_bytes_total";
    family(out, name, "counter", "Bytes copied, by direction.");
    for l in ls {
        let addr = &l.metrics.addr;
        let up = l.metrics.sum(|w| &w.bytes_up);
        let down = l.metrics.sum(|w| &w.bytes_down);
        let _ = writeln!(
            out,
            "{name}{{listener=\"{addr}\",direction=\"client_to_upstream\"}} {up}"
        );
        let _ = writeln!(
            out,
            "{name}{{listener=\"{addr}\",direction=\"upstream_to_client\"}} {down}"
        );
    }
}

/// Limits that queue, per listener.
fn render_limits(out: &mut String, ls: &[ListenerView<'_>]) {
    type Get = fn(&ListenerView<'_>) -> u64;
    let families: [(&str, &str, &str, Get); 3] = [
        (
            "corio_proxy_listener_accepting",
            "gauge",
            "1 while the listener accepts; 0 while paused at its limit or draining.",
            |l| l.accepting as u64,
        ),
        (
            "corio_proxy_listener_paused_total",
            "counter",
            "Times the listener stopped accepting at max-conns (clients wait in the backlog).",
            |l| l.gate.paused.load(Ordering::Relaxed),
        ),
        (
            "corio_proxy_listener_max_conns",
            "gauge",
            "The listener's max-conns (0: only the process-wide limit).",
            |l| l.gate.max().unwrap_or(0) as u64,
        ),
    ];
    for (name, kind, help, get) in families {
        family(out, name, kind, help);
        for l in ls {
            let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.metrics.addr, get(l));
        }
    }
}

/// Config generations, reloads, takeovers.
fn render_operations(out: &mut String, state: &ProcessState, process: &Gate) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let name = "corio_proxy_max_conns";
    family(
        out,
        name,
        "gauge",
        "The process-wide max-conns (all listeners together).",
    );
    let _ = writeln!(out, "{name} {}", process.max().unwrap_or(0));
    family(
        out,
        "corio_proxy_config_generation",
        "gauge",
        "The config generation in effect.",
    );
    let _ = writeln!(
        out,
        "corio_proxy_config_generation {}",
        load(&state.generation)
    );
    let name = "corio_proxy_reloads_total";
    family(out, name, "counter", "SIGHUP reloads, applied or rejected.");
    let _ = writeln!(out, "{name}{{result=\"ok\"}} {}", load(&state.reloads_ok));
    let _ = writeln!(
        out,
        "{name}{{result=\"failed\"}} {}",
        load(&state.reloads_failed)
    );
    let name = "corio_proxy_takeovers_total";
    family(
        out,
        name,
        "counter",
        "Listener hand-overs: given to a successor, taken from a predecessor.",
    );
    let _ = writeln!(
        out,
        "{name}{{role=\"given\"}} {}",
        load(&state.takeovers_given)
    );
    let _ = writeln!(
        out,
        "{name}{{role=\"taken\"}} {}",
        load(&state.takeovers_taken)
    );
    let name = "corio_proxy_accepts_after_cancel_total";
    family(
        out,
        name,
        "counter",
        "Accepts that completed as they were cancelled; the clients were served.",
    );
    let _ = writeln!(out, "{name} {}", load(&state.accepts_after_cancel));
    let name = "corio_proxy_access_log_dropped_total";
    family(
        out,
        name,
        "counter",
        "Access-log lines dropped because the writer fell behind.",
    );
    let dropped = crate::access_log::DROPPED.load(Ordering::Relaxed);
    let _ = writeln!(out, "{name} {dropped}");
}

fn render_upstreams(out: &mut String, ls: &[ListenerView<'_>]) {
    type Get = fn(&Upstreams, &crate::upstream::Server) -> u64;
    let families: [(&str, &str, &str, Get); 5] = [
        (
            "corio_proxy_upstream_connections_active",
            "gauge",
            "Live pairs per upstream, across workers.",
            |_, s| s.active.load(Ordering::Relaxed) as u64,
        ),
        (
            "corio_proxy_upstream_healthy",
            "gauge",
            "0 while the upstream is skipped after failed connects.",
            |g, s| g.is_healthy(s) as u64,
        ),
        (
            "corio_proxy_upstream_up",
            "gauge",
            "0 while active health checks mark the upstream down.",
            |_, s| !s.down.load(Ordering::Relaxed) as u64,
        ),
        (
            "corio_proxy_upstream_connect_errors_total",
            "counter",
            "Failed connects (refused or other errors), timeouts excluded.",
            |_, s| s.connect_errors.load(Ordering::Relaxed),
        ),
        (
            "corio_proxy_upstream_connect_timeouts_total",
            "counter",
            "Connects that timed out.",
            |_, s| s.connect_timeouts.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, get) in families {
        family(out, name, kind, help);
        for l in ls {
            for g in l.upstreams {
                for s in g.servers() {
                    let (la, ua, r) = (&l.metrics.addr, &s.dest, &g.route);
                    let v = get(g, &s);
                    let _ = writeln!(
                        out,
                        "{name}{{listener=\"{la}\",route=\"{r}\",upstream=\"{ua}\"}} {v}"
                    );
                }
            }
        }
    }
}

fn render_workers(out: &mut String, workers: &[WorkerMetrics]) {
    type Get = fn(&WorkerMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 10] = [
        (
            "corio_worker_enters_total",
            "counter",
            "io_uring_enter calls.",
            |w| w.driver.enters,
        ),
        (
            "corio_worker_epoll_waits_total",
            "counter",
            "epoll_wait calls.",
            |w| w.driver.epoll_waits,
        ),
        (
            "corio_worker_ops_submitted_total",
            "counter",
            "Operations started (SQEs, or first attempts on epoll).",
            |w| w.driver.ops_submitted,
        ),
        (
            "corio_worker_completions_total",
            "counter",
            "CQEs reaped.",
            |w| w.driver.completions,
        ),
        (
            "corio_worker_io_syscalls_total",
            "counter",
            "I/O syscalls tried by the epoll driver.",
            |w| w.driver.io_syscalls,
        ),
        (
            "corio_worker_eagain_total",
            "counter",
            "Operations that parked (EAGAIN, or a drained socket).",
            |w| w.driver.eagain,
        ),
        (
            "corio_worker_cancellations_total",
            "counter",
            "Operations cancelled in flight.",
            |w| w.driver.cancellations,
        ),
        (
            "corio_worker_tasks_polled_total",
            "counter",
            "Task polls.",
            |w| w.executor.tasks_polled,
        ),
        (
            "corio_worker_ticks_total",
            "counter",
            "Executor loop turns.",
            |w| w.executor.ticks,
        ),
        (
            "corio_worker_in_flight",
            "gauge",
            "io_uring operations in flight.",
            |w| w.driver.in_flight,
        ),
    ];
    for (name, kind, help, get) in families {
        family(out, name, kind, help);
        for w in workers {
            let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", w.worker, get(w));
        }
    }
}

fn render_pools(out: &mut String, pools: &[PoolStats]) {
    type Get = fn(&PoolStats) -> u64;
    let families: [(&str, &str, Get); 4] = [
        (
            "corio_proxy_buffers_in_use",
            "16 KiB copy buffers held by pairs with bytes in flight.",
            |p| p.buffers_in_use,
        ),
        (
            "corio_proxy_buffers_pooled",
            "Idle copy buffers kept for reuse.",
            |p| p.buffers_pooled,
        ),
        (
            "corio_proxy_pipes_in_use",
            "Splice pipes held by pairs with bytes in flight.",
            |p| p.pipes_in_use,
        ),
        (
            "corio_proxy_pipes_pooled",
            "Idle splice pipes kept for reuse.",
            |p| p.pipes_pooled,
        ),
    ];
    for (name, help, get) in families {
        family(out, name, "gauge", help);
        for (w, p) in pools.iter().enumerate() {
            let _ = writeln!(out, "{name}{{worker=\"{w}\"}} {}", get(p));
        }
    }
}

/// The traffic features' counters: clients refused before any upstream, health checks, and
/// failed host-name lookups.
fn render_traffic(out: &mut String, ls: &[ListenerView<'_>]) {
    let name = "corio_proxy_client_refused_total";
    family(
        out,
        name,
        "counter",
        "Clients closed before any upstream: PROXY header, ACL, per-source limit, SNI.",
    );
    for l in ls {
        for r in Reject::ALL {
            let n = l.metrics.sum(|w| &w.refused[r as usize]);
            let (la, reason) = (&l.metrics.addr, r.label());
            let _ = writeln!(out, "{name}{{listener=\"{la}\",reason=\"{reason}\"}} {n}");
        }
    }
    let name = "corio_proxy_health_checks_total";
    family(out, name, "counter", "Active health checks, by result.");
    for l in ls {
        for g in l.upstreams.iter().filter(|g| g.health.is_some()) {
            for s in g.servers() {
                let (la, ua, r) = (&l.metrics.addr, &s.dest, &g.route);
                for (result, n) in [("passed", &s.checks_ok), ("failed", &s.checks_failed)] {
                    let n = n.load(Ordering::Relaxed);
                    let _ = writeln!(
                        out,
                        "{name}{{listener=\"{la}\",route=\"{r}\",upstream=\"{ua}\",result=\"{result}\"}} {n}"
                    );
                }
            }
        }
    }
    let name = "corio_proxy_route_clients_total";
    family(
        out,
        name,
        "counter",
        "Clients each upstream group took (SNI routes, the default).",
    );
    for l in ls {
        for g in l.upstreams {
            let n = g.clients.load(Ordering::Relaxed);
            let (la, r) = (&l.metrics.addr, &g.route);
            let _ = writeln!(out, "{name}{{listener=\"{la}\",route=\"{r}\"}} {n}");
        }
    }
    let name = "corio_proxy_resolve_failures_total";
    family(
        out,
        name,
        "counter",
        "Host-name lookups that failed (the last addresses stay).",
    );
    for l in ls {
        for g in l.upstreams.iter().filter(|g| g.has_host_names()) {
            let n = g.resolve_failures.load(Ordering::Relaxed);
            let (la, r) = (&l.metrics.addr, &g.route);
            let _ = writeln!(out, "{name}{{listener=\"{la}\",route=\"{r}\"}} {n}");
        }
    }
}
