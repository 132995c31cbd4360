//! Echo servers: corio on each driver, the bare io_uring and epoll loops, and reference
//! runtimes. All follow the same semantics: accept, set TCP_NODELAY, then per connection read
//! what is available into a 16 KiB buffer and write all of it back, until EOF or an error.
//!
//! A server runs until SIGINT or SIGTERM, then prints one JSON stats line on stdout and exits
//! 0. SIGUSR1 prints the same line without exiting, so a harness can take before/after
//! snapshots around a measured window.

mod corio_echo;
mod monoio_echo;
mod raw_epoll;
mod raw_uring;
mod tokio_echo;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The echo buffer size every server uses.
pub const BUF_SIZE: usize = 16 * 1024;

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    CorioUring,
    CorioEpoll,
    RawUring,
    RawEpoll,
    Tokio,
    Monoio,
}

impl ServerKind {
    pub const ALL: [ServerKind; 6] = [
        ServerKind::CorioUring,
        ServerKind::CorioEpoll,
        ServerKind::RawUring,
        ServerKind::RawEpoll,
        ServerKind::Tokio,
        ServerKind::Monoio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::CorioUring => "corio-uring",
            ServerKind::CorioEpoll => "corio-epoll",
            ServerKind::RawUring => "raw-uring",
            ServerKind::RawEpoll => "raw-epoll",
            ServerKind::Tokio => "tokio",
            ServerKind::Monoio => "monoio",
        }
    }

    pub fn parse(s: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The I/O model the server uses.
    pub fn model(self) -> &'static str {
        match self {
            ServerKind::CorioUring | ServerKind::RawUring | ServerKind::Monoio => "completion",
            _ => "readiness",
        }
    }
}

/// Counters a worker publishes; summed over workers for the stats line.
#[derive(Default)]
pub struct Counters {
    pub enters: AtomicU64,
    pub epoll_waits: AtomicU64,
    pub io_syscalls: AtomicU64,
    pub ops_submitted: AtomicU64,
    pub completions: AtomicU64,
    pub accepted: AtomicU64,
}

/// How a server should run.
pub struct ServeConfig {
    pub kind: ServerKind,
    pub addr: SocketAddr,
    pub workers: usize,
}

const USAGE: &str = "usage: corio-bench serve echo (--driver uring|epoll | --server NAME) --addr HOST:PORT [--workers N]
  NAME: corio-uring, corio-epoll, raw-uring, raw-epoll, tokio, monoio";

/// Runs `corio-bench serve ...` (arguments after `serve`). Returns the process exit code.
pub fn serve_cmd(args: &[String]) -> i32 {
    let cfg = match parse(args) {
        Ok(cfg) => cfg,
        Err(msg) => {
            eprintln!("corio-bench serve: {msg}\n{USAGE}");
            return 2;
        }
    };
    match serve(cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("corio-bench serve: {e}");
            1
        }
    }
}

fn parse(args: &[String]) -> Result<ServeConfig, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("echo") => {}
        Some(other) => return Err(format!("unknown service {other:?} (only `echo`)")),
        None => return Err("missing service (`echo`)".into()),
    }
    let (mut kind, mut addr, mut workers) = (None, None, 1usize);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .cloned()
        };
        match flag.as_str() {
            "--driver" => {
                kind = Some(match value()?.as_str() {
                    "uring" => ServerKind::CorioUring,
                    "epoll" => ServerKind::CorioEpoll,
                    v => return Err(format!("--driver {v:?}: expected uring or epoll")),
                })
            }
            "--server" => {
                let v = value()?;
                kind = Some(ServerKind::parse(&v).ok_or_else(|| format!("unknown server {v:?}"))?)
            }
            "--addr" => {
                let v = value()?;
                addr = Some(
                    v.parse::<SocketAddr>()
                        .map_err(|e| format!("--addr {v:?}: {e}"))?,
                )
            }
            "--workers" => {
                let v = value()?;
                workers = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| format!("--workers {v:?}: expected 1..=1024"))?
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(ServeConfig {
        kind: kind.ok_or("one of --driver or --server is required")?,
        addr: addr.ok_or("--addr is required")?,
        workers,
    })
}

/// Binds a listening socket with SO_REUSEADDR (and SO_REUSEPORT when several workers share
/// the address) and TCP_NODELAY, backlog 4096.
pub fn bind_listener(addr: SocketAddr, reuseport: bool) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned right below.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket(2) just returned this fd and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux; the servers that go
    // through a runtime's API still set it per connection, as an application would.
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the call.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("bind {addr}: {e}")));
    }
    // SAFETY: listen(2) on our own socket.
    if unsafe { libc::listen(fd, 4096) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(owned))
}

pub fn setsockopt(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt reads an i32 that lives for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
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

/// This process's CPU time (user + system), in microseconds.
pub fn process_cpu_us() -> u64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid out pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn stats_line(kind: ServerKind, counters: &[Arc<Counters>], counted: bool) -> String {
    let sum = |f: fn(&Counters) -> &AtomicU64| -> String {
        if counted {
            counters
                .iter()
                .map(|c| f(c).load(Ordering::Relaxed))
                .sum::<u64>()
                .to_string()
        } else {
            "null".into()
        }
    };
    format!(
        "{{\"server\":\"{}\",\"requests_hint\":null,\"cpu_us\":{},\"enters\":{},\"epoll_waits\":{},\"io_syscalls\":{},\"ops_submitted\":{},\"completions\":{},\"accepted\":{}}}",
        kind.name(),
        process_cpu_us(),
        sum(|c| &c.enters),
        sum(|c| &c.epoll_waits),
        sum(|c| &c.io_syscalls),
        sum(|c| &c.ops_submitted),
        sum(|c| &c.completions),
        counters
            .iter()
            .map(|c| c.accepted.load(Ordering::Relaxed))
            .sum::<u64>(),
    )
}

fn serve(cfg: ServeConfig) -> io::Result<()> {
    let set = block_signals();
    let reuseport = cfg.workers > 1;
    let first = bind_listener(cfg.addr, reuseport)?;
    // With port 0 the others must share the port the first one got.
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..cfg.workers {
        listeners.push(bind_listener(bound, reuseport)?);
    }
    // Our own handles on the listening sockets, shut down at exit: an io_uring that holds an
    // ACCEPT is torn down by the kernel after the process is gone, and until then the socket
    // would keep listening (a restart on the same port would fail with EADDRINUSE).
    let mut shut = Vec::new();
    for l in &listeners {
        shut.push(l.try_clone()?);
    }
    // Set once a stop signal arrives: from then on a worker's error (its listener was shut
    // down) is expected and not a failure.
    let stopping = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let mut counters = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let c = Arc::new(Counters::default());
        counters.push(c.clone());
        let (failed, stopping) = (failed.clone(), stopping.clone());
        let kind = cfg.kind;
        std::thread::Builder::new()
            .name(format!("{}-{i}", kind.name()))
            .spawn(move || {
                let res = match kind {
                    ServerKind::CorioUring => {
                        corio_echo::run(corio::DriverChoice::IoUring, listener, c)
                    }
                    ServerKind::CorioEpoll => {
                        corio_echo::run(corio::DriverChoice::Epoll, listener, c)
                    }
                    ServerKind::RawUring => raw_uring::run(listener, c),
                    ServerKind::RawEpoll => raw_epoll::run(listener, c),
                    ServerKind::Tokio => tokio_echo::run(listener, c),
                    ServerKind::Monoio => monoio_echo::run(listener, c),
                };
                if let Err(e) = res {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    eprintln!("corio-bench serve: worker {i} ({}): {e}", kind.name());
                    failed.store(true, Ordering::Release);
                    // A worker that cannot run makes the server useless: stop it all.
                    // SAFETY: kill(2) to our own process with a signal we handle.
                    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                }
            })?;
    }
    let counted = !matches!(cfg.kind, ServerKind::Tokio | ServerKind::Monoio);
    eprintln!(
        "listening on {bound} (server {}, {} worker{})",
        cfg.kind.name(),
        cfg.workers,
        if cfg.workers == 1 { "" } else { "s" }
    );
    loop {
        let mut sig = 0;
        // SAFETY: `set` is the initialised set blocked above; `sig` is a valid out pointer.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            continue;
        }
        if sig != libc::SIGUSR1 {
            stopping.store(true, Ordering::Release);
        }
        use std::io::Write;
        let line = stats_line(cfg.kind, &counters, counted);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if sig != libc::SIGUSR1 {
            break;
        }
    }
    let code = if failed.load(Ordering::Acquire) { 1 } else { 0 };
    for l in &shut {
        // SAFETY: shutdown(2) on a socket we hold open; it stops the listening at once.
        unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
    }
    // Workers are blocked in their loops; exiting the process closes every socket.
    std::process::exit(code);
}
