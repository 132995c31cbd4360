//! Listening sockets, all made on the main thread before any worker starts, so a bind error
//! stops the process with nothing started. Each worker then adopts its own
//! (`Acceptor::from_std`).
//!
//! A `unix:` listener is one socket, which every worker accepts on (a dup each: the kernel
//! gives each connection to one waiting accept). Its file is made with `unix-mode`; a stale
//! file (nothing listens) is replaced; a live socket at the path is an error; the file is
//! removed at exit (`remove_unix_sockets`) unless another process took the socket over.

use crate::addr::Listen;
use crate::config::Accept;
use crate::conn::{Conn, StdConn};
use corio::net::{TcpListener, UnixListener};
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A bound listening socket, before a worker adopts it.
#[derive(Debug)]
pub enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Bound {
    /// The socket a predecessor handed over, as the kind `listen` says it is.
    pub fn from_fd(listen: &Listen, fd: OwnedFd) -> Bound {
        match listen {
            Listen::Tcp(_) => Bound::Tcp(fd.into()),
            Listen::Unix(_) => Bound::Unix(fd.into()),
        }
    }

    pub fn try_clone(&self) -> io::Result<Bound> {
        match self {
            Bound::Tcp(l) => l.try_clone().map(Bound::Tcp),
            Bound::Unix(l) => l.try_clone().map(Bound::Unix),
        }
    }

    /// A duplicate of its descriptor (what an entry keeps, and a successor receives).
    pub fn dup(&self) -> io::Result<OwnedFd> {
        match self {
            Bound::Tcp(l) => l.try_clone().map(OwnedFd::from),
            Bound::Unix(l) => l.try_clone().map(OwnedFd::from),
        }
    }
}

/// One connection from a listening socket's queue without waiting, or `None` when the queue
/// is empty (a listener that closes serves what is queued first). `listen` says the kind.
pub fn accept_now(listen: &Listen, fd: RawFd) -> io::Result<Option<(StdConn, Option<SocketAddr>)>> {
    if let Listen::Tcp(_) = listen {
        let got = crate::steer::accept_now(fd)?;
        return Ok(got.map(|(s, peer)| (StdConn::Tcp(s), Some(peer))));
    }
    Ok(crate::steer::accept_fd_now(fd)?.map(|fd| (StdConn::Unix(fd.into()), None)))
}

/// A worker's listening socket.
pub enum Acceptor {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Acceptor {
    /// Adopts `b` on the current worker's runtime.
    pub fn from_std(b: Bound) -> io::Result<Acceptor> {
        match b {
            Bound::Tcp(l) => TcpListener::from_std(l).map(Acceptor::Tcp),
            Bound::Unix(l) => UnixListener::from_std(l).map(Acceptor::Unix),
        }
    }

    /// The next client, and its address (none for a Unix client).
    pub async fn accept(&self) -> io::Result<(Conn, Option<SocketAddr>)> {
        match self {
            Acceptor::Tcp(l) => l.accept().await.map(|(s, a)| (Conn::Tcp(s), Some(a))),
            Acceptor::Unix(l) => l.accept().await.map(|(s, _)| (Conn::Unix(s), None)),
        }
    }

    pub async fn close(&self) -> io::Result<()> {
        match self {
            Acceptor::Tcp(l) => l.close().await,
            Acceptor::Unix(l) => l.close().await,
        }
    }

    /// A deadline for `accept` (a past one cancels an accept in flight).
    pub fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        match self {
            Acceptor::Tcp(l) => l.set_deadline(deadline),
            Acceptor::Unix(l) => l.set_deadline(deadline),
        }
    }
}

impl AsRawFd for Acceptor {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Acceptor::Tcp(l) => l.as_raw_fd(),
            Acceptor::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// Binds a listener: TCP (see `listen`) or Unix (see `listen_unix`); returns the address as
/// bound (port 0 resolved) and one socket per worker that accepts on it.
pub fn bind(
    listen: &Listen,
    workers: usize,
    accept: Accept,
    unix_mode: u32,
) -> io::Result<(Listen, Vec<Bound>)> {
    match listen {
        Listen::Tcp(a) => {
            let (addr, socks) = self::listen(*a, workers, accept)?;
            Ok((
                Listen::Tcp(addr),
                socks.into_iter().map(Bound::Tcp).collect(),
            ))
        }
        Listen::Unix(p) => {
            let l = listen_unix(p, unix_mode)?;
            let mut out = Vec::with_capacity(workers);
            for _ in 1..workers {
                out.push(Bound::Unix(l.try_clone()?));
            }
            out.push(Bound::Unix(l));
            Ok((listen.clone(), out))
        }
    }
}

/// The Unix socket files this process made: (path, device, inode), removed at exit.
static UNIX_PATHS: Mutex<Vec<(PathBuf, u64, u64)>> = Mutex::new(Vec::new());

/// Binds a Unix listener at `path` with permissions `mode`.
fn listen_unix(path: &Path, mode: u32) -> io::Result<std::os::unix::net::UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket; not replacing it",
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "a live socket listens there (another proxy?)",
                ))
            }
            // ECONNREFUSED: a stale file from a process that is gone.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        }
    }
    let l = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    let meta = std::fs::metadata(path)?;
    UNIX_PATHS.lock().unwrap_or_else(|e| e.into_inner()).push((
        path.to_path_buf(),
        meta.dev(),
        meta.ino(),
    ));
    Ok(l)
}

/// Removes the Unix socket files this process made, where they are still the ones it made.
pub fn remove_unix_sockets() {
    let paths = std::mem::take(&mut *UNIX_PATHS.lock().unwrap_or_else(|e| e.into_inner()));
    remove_if_ours(paths);
}

/// Takes `listen`'s socket file (a predecessor made it) as this process's own: removed at
/// exit, if it is still the same file then.
pub fn own_unix_socket(listen: &Listen) {
    let Listen::Unix(p) = listen else { return };
    if let Ok(meta) = std::fs::metadata(p) {
        UNIX_PATHS.lock().unwrap_or_else(|e| e.into_inner()).push((
            p.clone(),
            meta.dev(),
            meta.ino(),
        ));
    }
}

/// Keeps `listen`'s socket file at exit (if it is a `unix:` one this process made): another
/// process accepts on it now (a takeover).
pub fn keep_unix_socket(listen: &Listen) {
    if let Listen::Unix(p) = listen {
        UNIX_PATHS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(q, ..)| q != p);
    }
}

/// Removes `listen`'s socket file now, if this process made it (a reload removed the
/// listener, which has closed).
pub fn remove_unix_socket(listen: &Listen) {
    let Listen::Unix(p) = listen else { return };
    let mut paths = UNIX_PATHS.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, rest): (Vec<_>, Vec<_>) = paths.drain(..).partition(|(q, ..)| q == p);
    *paths = rest;
    drop(paths);
    remove_if_ours(mine);
}

/// Removes each file that is still the socket this process made (same device and inode).
fn remove_if_ours(paths: Vec<(PathBuf, u64, u64)>) {
    for (path, dev, ino) in paths {
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            if m.dev() == dev && m.ino() == ino {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Accept backlog; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

/// The sockets of one listener: one per worker (SO_REUSEPORT), or one for worker 0
/// (balanced hand-off). Port 0 is resolved by the first bind; the rest bind the same port.
pub fn listen(
    addr: SocketAddr,
    workers: usize,
    accept: Accept,
) -> io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    let n = match accept {
        Accept::Reuseport => workers,
        Accept::Balanced => 1,
    };
    let mut addr = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        if accept == Accept::Reuseport {
            s.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.bind(&addr.into())?;
        s.listen(BACKLOG)?;
        if addr.port() == 0 {
            addr = s
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        }
        out.push(s.into());
    }
    Ok((addr, out))
}

/// The admin listener (a plain socket; worker 0 serves it).
pub fn admin(addr: SocketAddr) -> io::Result<(SocketAddr, std::net::TcpListener)> {
    let l = std::net::TcpListener::bind(addr)?;
    Ok((l.local_addr()?, l))
}

/// Raises the soft open-file limit to the hard one: a proxy holds two sockets per client (and
/// two pipe ends per direction in flight with splice).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `lim`, a plain struct that lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads `lim`, which lives for the call. A refusal keeps the old limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}
