//! The child side of a run: every process the suite starts from its own binary.
//!
//! `corio-bench serve echo|file|http` (this file): binds the listeners, starts one worker
//! thread per listener running the service (one thread with all the cores for a server whose
//! runtime spreads itself, tokio's multi-thread scheduler), waits until every worker's runtime
//! is up, says which driver it got, then serves until SIGINT or SIGTERM. Signals are blocked
//! in every thread and taken by `sigwait` in this one, so a runtime's own signal handling never
//! sees them. The stats line it prints is `stats.rs`; `file-read` is `file_read.rs`;
//! `tokio-proxy` (the proxy workload's tokio proxy) is `tokio_proxy.rs`; `syscall-probe` (what
//! one syscall costs under a syscall-cost level) is `syscall_probe.rs`.

mod file_read;
mod net;
mod stats;
mod syscall_probe;
mod tokio_proxy;

pub use file_read::{file_read_cmd, ReadConfig, ReadReport};
pub use stats::StatsLine;
pub use syscall_probe::{syscall_probe_cmd, ProbeReport};
pub use tokio_proxy::tokio_proxy_cmd;

use crate::servers::contract::{Counters, Ready, ServerSpec, ServiceFn, Start, Threads, Worker};
use crate::servers::{self, CORIO_AUTO};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the workers may take to build their runtimes.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which of a server's services runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Echo,
    /// The static file server (the file is `ServeConfig::file`).
    File,
    Http,
}

impl ServiceKind {
    /// The word after `serve`.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::File => "file",
            ServiceKind::Http => "http",
        }
    }

    /// `spec`'s function for this service, if it has one.
    pub fn of(self, spec: &ServerSpec) -> Option<ServiceFn> {
        match self {
            ServiceKind::Echo => spec.echo,
            ServiceKind::File => spec.file,
            ServiceKind::Http => spec.http,
        }
    }
}

/// How a server should run.
pub struct ServeConfig {
    pub spec: &'static ServerSpec,
    pub service: ServiceKind,
    /// The addresses `--addr` resolved to: the first that binds is used.
    pub addrs: Vec<SocketAddr>,
    pub workers: usize,
    /// The file the file service serves.
    pub file: Option<PathBuf>,
}

/// Runs the server. Returns the process exit code: 0 after a stop signal, 1 if it could not
/// start or a worker failed.
pub fn serve_cmd(cfg: ServeConfig) -> i32 {
    match serve(cfg) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("corio-bench serve: {e}");
            1
        }
    }
}

/// Set once a stop signal arrives: from then on a worker's error (its listener was shut down)
/// is expected and not a failure.
#[derive(Default)]
struct Flags {
    stopping: AtomicBool,
    failed: AtomicBool,
}

fn serve(cfg: ServeConfig) -> io::Result<i32> {
    let set = block_signals();
    let listeners = bind_all(&cfg)?;
    let bound = listeners[0].local_addr()?;
    // Our own handles on the listening sockets, shut down at exit: an io_uring that holds an
    // ACCEPT is torn down by the kernel after the process is gone, and until then the socket
    // would keep listening (a restart on the same port would fail with EADDRINUSE).
    let shut = listeners
        .iter()
        .map(|l| l.try_clone())
        .collect::<io::Result<Vec<_>>>()?;
    let flags = Arc::new(Flags::default());
    let service = cfg.service.of(cfg.spec).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} has no {} service", cfg.spec.name, cfg.service.name()),
        )
    })?;
    let (tx, rx) = mpsc::channel();
    let mut counters = Vec::new();
    let mut handles = Vec::new();
    let threads = match cfg.spec.threads {
        Threads::PerWorker => 1,
        Threads::Shared => cfg.workers,
    };
    for (i, listener) in listeners.into_iter().enumerate() {
        let c = Arc::new(Counters::default());
        counters.push(c.clone());
        let worker = Worker {
            listener,
            threads,
            counters: c,
            ready: Ready::new(i, tx.clone()),
            file: cfg.file.clone(),
        };
        handles.push(Some(spawn_worker(
            cfg.spec,
            service,
            i,
            worker,
            flags.clone(),
        )?));
    }
    drop(tx);
    let Ok(driver) = wait_started(&rx, &mut handles) else {
        return Ok(1);
    };
    let name = announce(&cfg, driver.as_ref(), bound);
    let requests = cfg.service == ServiceKind::Http;
    serve_signals(&set, cfg.spec, name, requests, &counters, &flags);
    for l in &shut {
        // SAFETY: shutdown(2) on a socket we hold open; it stops the listening at once.
        unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
    }
    // Workers are blocked in their loops; exiting the process closes every socket.
    std::process::exit(if flags.failed.load(Ordering::Acquire) {
        1
    } else {
        0
    });
}

/// One listener per worker (one in all for a `Threads::Shared` server): the first on the first
/// resolved address that binds, the others on the address it got (with port 0 they must share
/// the port the first one was given).
fn bind_all(cfg: &ServeConfig) -> io::Result<Vec<std::net::TcpListener>> {
    let listeners = match cfg.spec.threads {
        Threads::PerWorker => cfg.workers,
        Threads::Shared => 1,
    };
    let reuseport = listeners > 1;
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "--addr resolved to nothing");
    let mut first = None;
    for &addr in &cfg.addrs {
        match net::bind_listener(addr, reuseport) {
            Ok(l) => {
                first = Some(l);
                break;
            }
            Err(e) => last = e,
        }
    }
    let first = first.ok_or(last)?;
    let bound = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..listeners {
        out.push(net::bind_listener(bound, reuseport)?);
    }
    Ok(out)
}

fn spawn_worker(
    spec: &'static ServerSpec,
    service: ServiceFn,
    i: usize,
    worker: Worker,
    flags: Arc<Flags>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("{}-{i}", spec.name))
        .spawn(move || {
            let Err(e) = service(worker) else { return };
            if flags.stopping.load(Ordering::Acquire) {
                return;
            }
            eprintln!("corio-bench serve: worker {i} ({}): {e}", spec.name);
            flags.failed.store(true, Ordering::Release);
            // A worker that cannot run makes the server useless: stop it all.
            // SAFETY: kill(2) to our own process with a signal we handle.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        })
}

/// Waits until every worker is up; returns the driver worker 0 reported. Err once a worker
/// failed (its thread has printed why) or the start took too long.
fn wait_started(
    rx: &mpsc::Receiver<(usize, Start)>,
    handles: &mut [Option<JoinHandle<()>>],
) -> Result<Option<corio::DriverInfo>, ()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut up = vec![false; handles.len()];
    let mut driver = None;
    while up.contains(&false) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, Start::Up(d))) => {
                up[i] = true;
                if i == 0 {
                    driver = d;
                }
            }
            Ok((i, Start::Failed)) => {
                // Its thread prints the error right after: let it finish first.
                if let Some(h) = handles[i].take() {
                    let _ = h.join();
                }
                return Err(());
            }
            Err(_) => {
                eprintln!("corio-bench serve: the workers did not start within {START_TIMEOUT:?}");
                return Err(());
            }
        }
    }
    Ok(driver)
}

/// Prints the driver a corio server got (and why) and the "listening on" line, on stderr;
/// returns the server's name as it runs.
fn announce(
    cfg: &ServeConfig,
    driver: Option<&corio::DriverInfo>,
    bound: SocketAddr,
) -> &'static str {
    let mut name = cfg.spec.name;
    if let Some(info) = driver {
        if *cfg.spec == CORIO_AUTO {
            name = servers::name_for(info.kind);
        }
        eprintln!(
            "corio-bench serve: driver {} (asked for {}: {})",
            servers::kind_name(info.kind),
            servers::driver_name(info.requested),
            info.reason
        );
    }
    let plural = if cfg.workers == 1 { "" } else { "s" };
    eprintln!(
        "listening on {bound} (server {name}, service {}, {} worker{plural})",
        cfg.service.name(),
        cfg.workers
    );
    name
}

/// Answers SIGUSR1 with a stats line, and returns after printing the last one on SIGINT or
/// SIGTERM. `requests`: the service counts its requests (the line's `requests_hint`).
fn serve_signals(
    set: &libc::sigset_t,
    spec: &ServerSpec,
    name: &str,
    requests: bool,
    counters: &[Arc<Counters>],
    flags: &Flags,
) {
    loop {
        let mut sig = 0;
        // SAFETY: `set` is the initialised set blocked above; `sig` is a valid out pointer.
        if unsafe { libc::sigwait(set, &mut sig) } != 0 {
            continue;
        }
        if sig != libc::SIGUSR1 {
            flags.stopping.store(true, Ordering::Release);
        }
        let line = StatsLine::now(spec, name, requests, counters).to_line();
        let mut out = io::stdout().lock();
        // A closed stdout only loses the figures; the server still stops as asked.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if sig != libc::SIGUSR1 {
            return;
        }
    }
}

/// Blocks SIGINT, SIGTERM and SIGUSR1 in this thread (and so in threads spawned after), so
/// that only `sigwait` in the main thread sees them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is a valid local; pthread_sigmask changes only this thread's mask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    set
}
