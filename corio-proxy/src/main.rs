//! corio-proxy: an L4 TCP proxy on corio. See docs/proxy.md for every flag and config key,
//! the data path under each driver, and how to run it across hosts.
//!
//! Start-up does everything that can fail before any worker runs: settings (exit 2 on a bad
//! flag or key, naming it), the runtime and its driver (exit 1, e.g. `--driver uring` where
//! io_uring is refused), every listening socket (exit 1). Then one worker per core serves
//! until SIGTERM or SIGINT, drains, and the process exits 0.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod acl;
mod addr;
mod admin;
mod balance;
mod bind;
mod cli;
mod config;
mod conn;
mod copy;
mod health;
mod inspect;
mod log;
mod metrics;
mod monitor;
mod pair;
mod pool;
mod proxy_proto;
mod sni;
mod traffic;
mod upstream;
mod worker;

use clap::Parser;
use config::{DriverChoice, Settings};
use corio::{DriverChoice as Choice, DriverKind, Runtime};
use metrics::{ListenerMetrics, ProcessState};
use pair::Listener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker::Shared;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("corio-proxy: {e}");
            return 2;
        }
    };
    bind::raise_nofile();
    let workers = settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = match runtime(&settings, workers) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    monitor::set_driver(settings.driver.map(|d| match d {
        DriverChoice::Auto => Choice::Auto,
        DriverChoice::Uring => Choice::IoUring,
        DriverChoice::Epoll => Choice::Epoll,
    }));
    let shared = match bind_all(&settings, workers) {
        Ok(s) => Arc::new(s),
        Err(msg) => {
            eprintln!("corio-proxy: {msg}");
            bind::remove_unix_sockets();
            return 1;
        }
    };
    let results = rt.run(move |id| worker::run(id, shared.clone()));
    bind::remove_unix_sockets();
    match results {
        Ok(results) => {
            let failed = results
                .iter()
                .filter(|r| matches!(r, Err(corio::JoinError::Panic(_))))
                .count();
            if failed > 0 {
                eprintln!("corio-proxy: {failed} workers panicked");
                return 1;
            }
            0
        }
        Err(e) => {
            eprintln!("corio-proxy: cannot start the workers: {e}");
            1
        }
    }
}

/// Builds worker 0's runtime (the other workers build theirs the same way), and reports the
/// driver it got.
fn runtime(s: &Settings, workers: usize) -> Result<Runtime, i32> {
    let mut b = Runtime::builder();
    // The runtime's own grace period is a backstop: the drain ends the workers first.
    b.handle_signals(true)
        .grace_period(s.drain_timeout + Duration::from_secs(2));
    b.workers(workers);
    match s.driver {
        Some(DriverChoice::Auto) => drop(b.driver(Choice::Auto)),
        Some(DriverChoice::Uring) => drop(b.driver(Choice::IoUring)),
        Some(DriverChoice::Epoll) => drop(b.driver(Choice::Epoll)),
        None => {}
    }
    let rt = match b.build() {
        Ok(rt) => rt,
        Err(e) => {
            let which = match s.driver {
                Some(DriverChoice::Uring) => "io_uring ",
                Some(DriverChoice::Epoll) => "epoll ",
                _ => "",
            };
            eprintln!("corio-proxy: cannot start the {which}driver: {e}");
            return Err(1);
        }
    };
    let info = rt.driver_info();
    let kind = match info.kind {
        DriverKind::IoUring => "io_uring",
        DriverKind::Epoll => "epoll",
    };
    eprintln!("corio-proxy: driver {kind} ({})", info.reason);
    Ok(rt)
}

/// Binds every listener and the admin socket; an error names the address.
fn bind_all(s: &Settings, workers: usize) -> Result<Shared, String> {
    let mut listeners = Vec::new();
    let mut sockets = Vec::new();
    for l in &s.listeners {
        let (addr, socks) = bind::bind(&l.listen, workers, s.accept, l.traffic.unix_mode)
            .map_err(|e| format!("listen {}: {e}", l.listen))?;
        sockets.push(Mutex::new(socks.into_iter().map(Some).collect()));
        let metrics = ListenerMetrics::new(addr.clone(), workers);
        let listener =
            Listener::new(l.clone(), metrics).map_err(|e| format!("listener {addr}: {e}"))?;
        listeners.push(Arc::new(listener));
    }
    let admin = match s.admin {
        Some(a) => {
            let (addr, l) = bind::admin(a).map_err(|e| format!("admin {a}: {e}"))?;
            eprintln!("corio-proxy: admin on http://{addr}/metrics");
            Some(l)
        }
        None => None,
    };
    Ok(Shared {
        listeners,
        sockets,
        admin: Mutex::new(admin),
        drain_timeout: s.drain_timeout,
        accept: s.accept,
        state: ProcessState::default(),
    })
}
