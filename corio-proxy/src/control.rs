//! The control socket (`--control PATH`), the old process's side of a binary upgrade: a Unix
//! socket on worker 0 where a successor started with `--takeover PATH` receives every
//! listening socket (takeover.rs has the exchange), after which this process drains.
//!
//! The socket file: a fresh start refuses a PATH where a live proxy answers (use --takeover)
//! and replaces a stale file; a successor binds a new socket beside PATH and renames it over
//! PATH (atomic), so upgrades chain; at exit a process removes PATH only if it is still its
//! own and it did not hand over. The file is mode 0600 before it appears at PATH (bound
//! beside it, then renamed), and a peer of another user (SO_PEERCRED) is refused, root aside:
//! whoever may connect can take the listeners and make this process drain.

use crate::listeners::Stop;
use crate::takeover::{self, Ack, Drain, Hello, Offer, Offered};
use crate::worker::{select, Shared};
use corio::net::{UnixListener, UnixStream};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a successor has to say what it took once it has the sockets (it starts its
/// workers meanwhile).
const DRAIN_WAIT: Duration = Duration::from_secs(60);
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// How long the admin loop has to stop accepting once a successor took the admin socket.
const ADMIN_STOP_WAIT: Duration = Duration::from_secs(1);

/// The bound control socket and the file it is at.
pub struct Control {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    /// The file's device and inode, to remove it at exit only if it is still ours.
    id: (u64, u64),
}

fn file_id(path: &Path) -> io::Result<(u64, u64)> {
    let m = std::fs::symlink_metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Binds PATH before the workers start. A live proxy there is an error (its successor must
/// take over instead); a stale file is replaced.
pub fn bind(path: &Path) -> Result<Control, String> {
    let shown = path.display();
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "--control {shown}: a corio-proxy already listens there; start with --takeover \
                 {shown} to take its listeners over"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("--control {shown}: cannot replace the stale file: {e}"))?;
    }
    place(path).map_err(|e| format!("--control {shown}: {e}"))
}

/// Binds a socket beside `path`, makes it 0600, and renames it over `path` (atomic: the path
/// always names a live socket, ours or the one we replace).
fn place(path: &Path) -> io::Result<Control> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.new", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let placed = std::os::unix::net::UnixListener::bind(&tmp).and_then(|listener| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(Control {
            listener,
            path: path.to_owned(),
            id: file_id(path)?,
        })
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

/// A successor's bind once the old process let go of PATH.
pub fn bind_in_place(shared: &Arc<Shared>, path: &Path) {
    match place(path) {
        Ok(c) => *shared.control.lock().unwrap_or_else(|e| e.into_inner()) = Some(c),
        Err(e) => tracing::error!(
            "--control {}: cannot bind: {e}; no further upgrade by takeover",
            path.display()
        ),
    }
}

/// The peer's uid must be ours, or root's.
fn check_peer(conn: &UnixStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: ucred is plain data; all-zero is valid.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which lives for the call.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if cred.uid == me || cred.uid == 0 {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "pid {} of uid {} may not take over (ours is {me})",
            cred.pid, cred.uid
        ),
    ))
}

/// Worker 0: serves the control socket, if there is one.
pub fn start(shared: &Arc<Shared>) {
    let control = shared
        .control
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|c| (c.listener.try_clone(), c.path.clone()));
    let Some((listener, path)) = control else {
        return;
    };
    let listener = listener.and_then(|l| {
        l.set_nonblocking(true)?;
        UnixListener::from_std(l)
    });
    match listener {
        Ok(l) => {
            tracing::info!("control socket at {}", path.display());
            drop(corio::spawn(serve(l, shared.clone())));
        }
        Err(e) => tracing::error!("control socket {}: {e}", path.display()),
    }
}

/// At exit: removes the file if it is still ours and no successor took it over.
pub fn remove(shared: &Shared) {
    if shared.state.takeovers_given.load(Ordering::Relaxed) > 0 {
        return;
    }
    if let Some(c) = shared
        .control
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        if file_id(&c.path).ok() == Some(c.id) {
            let _ = std::fs::remove_file(&c.path);
        }
    }
}

/// One successor at a time; after a hand-over, nothing more.
async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let conn = match listener.accept().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                crate::log::error(format_args!("control: accept: {e}"));
                corio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if shared.state.draining.load(Ordering::Relaxed) {
            continue;
        }
        match hand_over(&conn, &shared).await {
            Ok(pid) => {
                tracing::info!("takeover: pid {pid} took the listeners over; draining");
                shared.state.takeovers_given.fetch_add(1, Ordering::Relaxed);
                corio::request_shutdown();
                return;
            }
            Err(e) => tracing::warn!("takeover: a successor gave up ({e}); still serving"),
        }
    }
}

/// Steps 2 and 4 of takeover.rs; the successor's pid once it accepts on what it took.
async fn hand_over(conn: &UnixStream, shared: &Arc<Shared>) -> io::Result<u32> {
    check_peer(conn)?;
    conn.set_deadline(Some(Instant::now() + HELLO_WAIT));
    let hello: Hello = takeover::read_frame(conn).await?;
    if hello.hello != takeover::HELLO || hello.version != takeover::VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "unknown takeover protocol {:?} version {}",
                hello.hello, hello.version
            ),
        ));
    }
    let entries = shared.entries();
    // Our own duplicates, so no lock is held while sending.
    let mut sockets: Vec<Vec<OwnedFd>> = Vec::new();
    for e in &entries {
        let dups = e.with_sockets(|s| {
            s.iter()
                .map(|f| f.try_clone())
                .collect::<io::Result<Vec<_>>>()
        })?;
        sockets.push(dups);
    }
    let admin = shared
        .admin_fd
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(a, f)| (*a, f.try_clone()))
        .map(|(a, f)| f.map(|f| (a, f)))
        .transpose()?;
    let offer = Offer {
        version: takeover::VERSION,
        pid: std::process::id(),
        generation: shared.state.generation.load(Ordering::Relaxed),
        listeners: entries
            .iter()
            .zip(&sockets)
            .map(|(e, s)| Offered {
                listen: e.listen.clone(),
                addr: e.addr(),
                sockets: s.len(),
            })
            .collect(),
        admin: admin.as_ref().map(|(a, _)| *a),
    };
    takeover::write_frame(conn, &offer).await?;
    for s in &sockets {
        let fds: Vec<BorrowedFd<'_>> = s.iter().map(|f| f.as_fd()).collect();
        takeover::send_sockets(conn, &fds).await?;
    }
    if let Some((_, fd)) = &admin {
        takeover::send_sockets(conn, &[fd.as_fd()]).await?;
    }
    conn.set_deadline(Some(Instant::now() + DRAIN_WAIT));
    let drain: Drain = takeover::read_frame(conn).await?;
    for e in &entries {
        if drain.taken.contains(&e.addr()) {
            e.stop(Stop::HandedOver);
            // A Unix listener's file is the successor's now: not removed at our exit.
            crate::bind::keep_unix_socket(&e.addr());
        }
    }
    if drain.admin {
        shared.admin_stop.set();
        // The successor says it has taken over once we answer: from then on /status must be
        // its own, so answer once our admin loop accepts no more (bounded, in case it never
        // ran).
        select(
            pin!(shared.admin_stopped.stopped()),
            pin!(corio::time::sleep(ADMIN_STOP_WAIT)),
        )
        .await;
    }
    takeover::write_frame(
        conn,
        &Ack {
            pid: std::process::id(),
        },
    )
    .await?;
    Ok(hello.pid)
}
