//! `GET /status`: what the process is doing now, as one JSON object — its config generation,
//! whether it drains, each listener (live clients, whether it accepts, its limit) and each
//! upstream (state, live pairs, failed connects in a row).

use crate::addr::Listen;
use crate::worker::Shared;
use serde::Serialize;
use std::sync::atomic::Ordering;

#[derive(Serialize)]
struct Status {
    pid: u32,
    generation: u64,
    draining: bool,
    /// The process-wide max-conns.
    max_conns: Option<usize>,
    listeners: Vec<ListenerStatus>,
    upstreams: Vec<UpstreamStatus>,
}

#[derive(Serialize)]
struct ListenerStatus {
    listen: Listen,
    live: usize,
    /// False while paused at its limit (or the process's) or draining.
    accepting: bool,
    /// Its own limit, else the process-wide one.
    max_conns: Option<usize>,
}

#[derive(Serialize)]
struct UpstreamStatus {
    listener: Listen,
    /// `default`, or the SNI route's first name.
    route: String,
    /// IP:PORT (a host name's each address) or unix:/path.
    addr: String,
    /// `up`, `down` (marked by active health checks), or `skipped` after `max-fails` failed
    /// connects in a row.
    state: &'static str,
    weight: u32,
    backup: bool,
    live: usize,
    fails: u32,
}

/// The body of `GET /status`.
pub fn render(shared: &Shared) -> String {
    let mut listeners = Vec::new();
    let mut upstreams = Vec::new();
    for e in shared.entries() {
        let l = e.current();
        let addr = e.addr();
        listeners.push(ListenerStatus {
            listen: addr.clone(),
            live: l.metrics.active.load(Ordering::Relaxed),
            accepting: e.accepting(shared.process_room()),
            max_conns: e.gate.max().or(shared.gate.max()),
        });
        for g in &l.upstreams {
            for u in g.servers() {
                upstreams.push(UpstreamStatus {
                    listener: addr.clone(),
                    route: g.route.clone(),
                    addr: u.dest.to_string(),
                    state: g.state(&u),
                    weight: u.weight,
                    backup: u.backup,
                    live: u.active.load(Ordering::Relaxed),
                    fails: u.fails(),
                });
            }
        }
    }
    let status = Status {
        pid: std::process::id(),
        generation: shared.state.generation.load(Ordering::Relaxed),
        draining: shared.state.draining.load(Ordering::Relaxed),
        max_conns: shared.gate.max(),
        listeners,
        upstreams,
    };
    let mut body = serde_json::to_string_pretty(&status).unwrap_or_default();
    body.push('\n');
    body
}
