//! Binary upgrade by listener hand-over, the new process's side (`--takeover PATH`), and the
//! messages both sides exchange over the old process's control socket (control.rs).
//!
//! 1. new → old: `Hello` (what it is, protocol version).
//! 2. old → new: `Offer` (each listener: its configured and bound address, how many sockets),
//!    then each listener's sockets as SCM_RIGHTS messages (`UnixStream::send_fds`), then the
//!    admin socket's.
//! 3. The new process keeps the listeners its own config has (matched by listen address),
//!    opens the others fresh, and starts accepting on all of them.
//! 4. new → old: `Drain` (the listeners it took); old → new: `Ack`. The old process stops
//!    accepting on what was taken, closes what was not, drains its pairs and exits 0.
//!
//! Each message is a 4-byte big-endian length and a JSON object. No listening socket is
//! closed at any point: until step 4 both processes accept on the shared sockets.

use crate::addr::Listen;
use crate::bind::Bound;
use crate::worker::Shared;
use corio::net::UnixStream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const HELLO: &str = "corio-proxy takeover";
pub const VERSION: u32 = 1;
/// The largest message either side accepts.
const MAX_FRAME: usize = 1 << 20;
/// The most descriptors in one SCM_RIGHTS message (the kernel's SCM_MAX_FD).
const FDS_PER_MESSAGE: usize = 253;
/// How long the new process waits for each answer of the old one.
const ANSWER: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    pub hello: String,
    pub version: u32,
    pub pid: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Offer {
    pub version: u32,
    pub pid: u32,
    pub generation: u64,
    pub listeners: Vec<Offered>,
    /// The admin socket's address, if its socket follows the listeners'.
    pub admin: Option<SocketAddr>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Offered {
    /// As configured (what the successor matches its own `listen` on): IP:PORT or unix:/path.
    pub listen: Listen,
    /// As bound.
    pub addr: Listen,
    pub sockets: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Drain {
    /// The bound addresses of the listeners the successor accepts on.
    pub taken: Vec<Listen>,
    /// The successor serves the admin address on the socket it was given.
    pub admin: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Ack {
    pub pid: u32,
}

/// Writes one message.
pub async fn write_frame<T: Serialize>(conn: &UnixStream, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.write_all(frame).await.0
}

/// Reads one message.
pub async fn read_frame<T: DeserializeOwned>(conn: &UnixStream) -> io::Result<T> {
    let (res, len) = conn.read_exact(Vec::with_capacity(4)).await;
    res?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a takeover message of {len} bytes"),
        ));
    }
    let (res, body) = conn.read_exact(Vec::with_capacity(len)).await;
    res?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Sends descriptors, at most `FDS_PER_MESSAGE` a message, each message one byte.
pub async fn send_sockets(conn: &UnixStream, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    for chunk in fds.chunks(FDS_PER_MESSAGE) {
        let (res, _) = conn.send_fds(vec![b'S'], chunk).await;
        if res? != 1 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Receives `n` descriptors sent by `send_sockets`.
pub async fn recv_sockets(conn: &UnixStream, n: usize) -> io::Result<Vec<OwnedFd>> {
    let mut fds = Vec::with_capacity(n);
    while fds.len() < n {
        let want = (n - fds.len()).min(FDS_PER_MESSAGE);
        let (res, _) = conn.recv_fds(Vec::with_capacity(1), want).await;
        let (got, more) = res?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if more.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a takeover message without its sockets",
            ));
        }
        fds.extend(more);
    }
    Ok(fds)
}

/// The sockets of one listener of the old process.
pub struct ReceivedListener {
    pub listen: Listen,
    pub addr: Listen,
    pub sockets: Vec<Bound>,
}

/// What the old process handed over, before the new one starts accepting.
pub struct Received {
    pub path: PathBuf,
    pub old_pid: u32,
    pub generation: u64,
    pub listeners: Vec<ReceivedListener>,
    pub admin: Option<(SocketAddr, std::net::TcpListener)>,
    /// Out of the runtime that received (deregistered there), for worker 0 to adopt.
    conn: std::os::unix::net::UnixStream,
}

/// The takeover's last step, run by worker 0 once every worker accepts.
pub struct Pending {
    path: PathBuf,
    old_pid: u32,
    conn: std::os::unix::net::UnixStream,
    taken: Vec<Listen>,
    admin: bool,
    /// Bind the control socket at `path` once the old process let go of it.
    control: bool,
}

impl Received {
    /// The old process's listener whose address `listen` names (its configured address or
    /// the one it bound), taken out.
    pub fn take(&mut self, listen: &Listen) -> Option<ReceivedListener> {
        let i = self
            .listeners
            .iter()
            .position(|l| l.listen == *listen || l.addr == *listen)?;
        Some(self.listeners.remove(i))
    }

    /// What worker 0 needs to finish: which listeners were taken (their bound addresses).
    pub fn pending(self, taken: Vec<Listen>, admin: bool, control: bool) -> Pending {
        Pending {
            path: self.path,
            old_pid: self.old_pid,
            conn: self.conn,
            taken,
            admin,
            control,
        }
    }
}

/// Connects to the old process at `path` and receives its sockets (steps 1 and 2).
pub async fn receive(path: &Path) -> Result<Received, String> {
    let shown = path.display();
    let conn = UnixStream::connect(path)
        .await
        .map_err(|e| format!("--takeover {shown}: no corio-proxy control socket there: {e}"))?;
    conn.set_deadline(Some(Instant::now() + ANSWER));
    let talk = async {
        let hello = Hello {
            hello: HELLO.into(),
            version: VERSION,
            pid: std::process::id(),
        };
        write_frame(&conn, &hello).await?;
        let offer: Offer = read_frame(&conn).await?;
        let mut listeners = Vec::new();
        for l in offer.listeners {
            let fds = recv_sockets(&conn, l.sockets).await?;
            let sockets = fds
                .into_iter()
                .map(|fd| Bound::from_fd(&l.addr, fd))
                .collect();
            listeners.push(ReceivedListener {
                listen: l.listen,
                addr: l.addr,
                sockets,
            });
        }
        let admin = match offer.admin {
            Some(addr) => {
                let fd = recv_sockets(&conn, 1).await?.pop();
                fd.map(|fd| (addr, std::net::TcpListener::from(fd)))
            }
            None => None,
        };
        Ok::<_, io::Error>((offer.pid, offer.generation, listeners, admin))
    };
    let (old_pid, generation, listeners, admin) = talk
        .await
        .map_err(|e| format!("--takeover {shown}: the hand-over failed: {e}"))?;
    conn.set_deadline(None);
    // Inside the runtime, so that its epoll registration goes too.
    let conn = conn
        .into_std()
        .map_err(|e| format!("--takeover {shown}: {e}"))?;
    Ok(Received {
        path: path.to_owned(),
        old_pid,
        generation,
        listeners,
        admin,
        conn,
    })
}

/// Step 4: every worker accepts now; tell the old process to drain, then bind the control
/// socket in its place.
pub async fn finish(p: Pending, shared: &Arc<Shared>) {
    let old = p.old_pid;
    let res = async {
        let conn = UnixStream::from_std(p.conn)?;
        conn.set_deadline(Some(Instant::now() + ANSWER));
        let drain = Drain {
            taken: p.taken.clone(),
            admin: p.admin,
        };
        write_frame(&conn, &drain).await?;
        read_frame::<Ack>(&conn).await
    }
    .await;
    match res {
        Ok(_) => {
            shared.state.takeovers_taken.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "takeover: accepting on {} listeners taken from pid {old}, which drains now",
                p.taken.len()
            );
        }
        Err(e) => tracing::error!(
            "takeover: pid {old} did not confirm the drain ({e}); both processes accept until \
             it is stopped"
        ),
    }
    if p.control {
        crate::control::bind_in_place(shared, &p.path);
    }
}
