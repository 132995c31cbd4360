//! corio-proxy: an L4 TCP proxy on corio. See docs/proxy.md for every flag and config key,
//! the data path under each driver, how to run it across hosts, and how to operate it
//! (reload, upgrade, limits, logs, status).
//!
//! Start-up does everything that can fail before any worker runs: settings (exit 2 on a bad
//! flag or key, naming it), the runtime and its driver (exit 1, e.g. `--driver uring` where
//! io_uring is refused), a takeover's hand-over, every listening socket, the control socket
//! and the access log (exit 1). Then one worker per core serves until SIGTERM or SIGINT (or a
//! successor's takeover), drains, and the process exits 0. SIGHUP reloads.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod accept;
mod access_log;
mod acl;
mod addr;
mod admin;
mod balance;
mod bind;
mod cli;
mod config;
mod conn;
mod control;
mod copy;
mod hangup;
mod health;
mod idle;
mod inspect;
mod latch;
mod limits;
mod listeners;
mod log;
mod metrics;
mod monitor;
mod pair;
mod proxy_proto;
mod reload;
mod sni;
mod sockdiag;
mod status;
mod steer;
mod takeover;
mod traffic;
mod upstream;
mod worker;

use clap::Parser;
use config::{Copy, DriverChoice, Settings};
use corio::{DriverChoice as Choice, DriverKind, Runtime};
use limits::Gate;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use takeover::Received;
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
    // Before any thread starts (hangup.rs).
    hangup::block_int_term();
    let hangups = match hangup::install() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("corio-proxy: cannot handle SIGHUP: {e}");
            return 1;
        }
    };
    log::init(settings.log_format, settings.log_level.as_deref());
    bind::raise_nofile();
    let workers = settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = match runtime(&settings, workers) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let received = match &args.takeover {
        Some(path) => match rt.block_on(takeover::receive(path)) {
            Ok(r) => Some(r),
            Err(msg) => {
                tracing::error!("{msg}");
                return 1;
            }
        },
        None => None,
    };
    // Before any listener is built: its health checks and resolution start on the monitor
    // thread, on the same driver as the workers.
    monitor::set_driver(settings.driver.map(|d| match d {
        DriverChoice::Auto => Choice::Auto,
        DriverChoice::Uring => Choice::IoUring,
        DriverChoice::Epoll => Choice::Epoll,
    }));
    let shared = match start(settings, args.config.clone(), workers, received) {
        Ok(s) => {
            *s.hangups.lock().unwrap_or_else(|e| e.into_inner()) = Some(hangups);
            Arc::new(s)
        }
        Err(msg) => {
            tracing::error!("{msg}");
            bind::remove_unix_sockets();
            return 1;
        }
    };
    let results = rt.run({
        let shared = shared.clone();
        move |id| worker::run(id, shared.clone())
    });
    access_log::flush();
    bind::remove_unix_sockets();
    match results {
        Ok(results) => {
            let failed = results
                .iter()
                .filter(|r| matches!(r, Err(corio::JoinError::Panic(_))))
                .count();
            if failed > 0 {
                tracing::error!("{failed} workers panicked");
                return 1;
            }
            0
        }
        Err(e) => {
            tracing::error!("cannot start the workers: {e}");
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
        .grace_period(s.drain_timeout + accept::STEER_SETTLE + Duration::from_secs(2));
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
            tracing::error!("cannot start the {which}driver: {e}");
            return Err(1);
        }
    };
    let info = rt.driver_info();
    let kind = match info.kind {
        DriverKind::IoUring => "io_uring",
        DriverKind::Epoll => "epoll",
    };
    tracing::info!("driver {kind} ({})", info.reason);
    Ok(rt)
}

/// Everything before the workers: the listeners (handed over or bound), the admin and
/// control sockets, the access log, the limits. An error names what failed.
fn start(
    settings: Settings,
    config_path: Option<std::path::PathBuf>,
    workers: usize,
    mut received: Option<Received>,
) -> Result<Shared, String> {
    let splice = settings.listeners.iter().any(|l| l.copy == Copy::Splice);
    let fd_default =
        limits::fd_default(limits::nofile(), workers, settings.listeners.len(), splice);
    let max = settings.max_conns.unwrap_or(fd_default);
    let mut opened = Vec::new();
    let mut taken = Vec::new();
    for l in &settings.listeners {
        let from_old = received.as_mut().and_then(|r| r.take(&l.listen));
        if let Some(r) = &from_old {
            taken.push(r.addr.clone());
        }
        opened.push(listeners::open(l, workers, settings.accept, from_old)?);
        if l.idle_timeout.is_none() {
            tracing::warn!(
                "listener {}: idle-timeout is off: a pair whose peers stay silent lives until \
                 one of them closes, and a drain waits for it to the drain timeout",
                l.listen
            );
        }
    }
    let admin = admin_socket(&settings, received.as_mut())?;
    let control = match (&settings.control, &received) {
        // Bound once the old process has let go of the path (takeover::finish).
        (Some(c), Some(r)) if *c == r.path => None,
        (Some(c), _) => Some(control::bind(c)?),
        (None, _) => None,
    };
    if let Some(path) = &settings.access_log {
        access_log::open(path).map_err(|e| format!("--access-log {}: {e}", path.display()))?;
    }
    let admin_taken = admin.as_ref().is_some_and(|a| a.1);
    let generation = received.as_ref().map_or(1, |r| r.generation + 1);
    let takeover_control = received
        .as_ref()
        .is_some_and(|r| settings.control.as_ref() == Some(&r.path));
    let pending = received.map(|r| r.pending(taken, admin_taken, takeover_control));
    let shared = Shared::new(settings, config_path, workers, Gate::new(Some(max)));
    shared.state.generation.store(generation, Ordering::Relaxed);
    *shared.control.lock().unwrap_or_else(|e| e.into_inner()) = control;
    *shared.takeover.lock().unwrap_or_else(|e| e.into_inner()) = pending;
    if let Some((listener, _, addr)) = admin {
        let dup = listener
            .try_clone()
            .map(OwnedFd::from)
            .map_err(|e| format!("admin: {e}"))?;
        *shared.admin_fd.lock().unwrap_or_else(|e| e.into_inner()) = Some((addr, dup));
        *shared.admin.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
        tracing::info!("admin on http://{addr}/metrics");
    }
    for (entry, sockets) in opened {
        shared.start_entry(entry, sockets);
    }
    Ok(shared)
}

/// The admin socket: the predecessor's if it served the same address, else a fresh one.
/// Returns the socket, whether it was handed over, and its address.
fn admin_socket(
    s: &Settings,
    received: Option<&mut Received>,
) -> Result<Option<(std::net::TcpListener, bool, std::net::SocketAddr)>, String> {
    let Some(want) = s.admin else { return Ok(None) };
    if let Some(r) = received {
        if let Some((addr, _)) = &r.admin {
            if *addr == want || (want.port() == 0 && addr.ip() == want.ip()) {
                let (addr, l) = r.admin.take().expect("checked above");
                return Ok(Some((l, true, addr)));
            }
        }
    }
    let (addr, l) = bind::admin(want).map_err(|e| format!("admin {want}: {e}"))?;
    Ok(Some((l, false, addr)))
}
