//! SIGHUP, without a thread or a timer: a signal handler writes one byte to a socket pair
//! (the self-pipe trick), and worker 0 reads the other end like any socket and hands each
//! SIGHUP to reload.rs, on the blocking pool.
//!
//! Why not the others: a thread waiting in sigwaitinfo would make a one-worker proxy
//! multi-threaded, and glibc then wraps every recv, send and epoll_wait in cancellation-point
//! bookkeeping; polling for a pending SIGHUP keeps a timer armed, and with one armed every
//! park reads the clock (about 300 instructions per proxied request each, one connection on
//! epoll, callgrind as in docs/proxy.md, "Limits").
//!
//! SIGINT and SIGTERM are the runtime's (its signalfd): `block_int_term` blocks them before
//! any thread starts, so that no thread started before the runtime takes one.

use crate::worker::Shared;
use corio::net::UnixStream;
use std::io;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// The write end of the pair, for the handler (-1 until `install`).
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

/// Blocks SIGINT and SIGTERM in this thread, and so in every thread it starts.
pub fn block_int_term() {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid set; pthread_sigmask changes this thread's mask only.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Installs the SIGHUP handler; returns the end worker 0 reads.
pub fn install() -> io::Result<std::os::unix::net::UnixStream> {
    let (read, write) = std::os::unix::net::UnixStream::pair()?;
    write.set_nonblocking(true)?;
    read.set_nonblocking(true)?;
    WRITE_END.store(write.into_raw_fd(), Ordering::Release);
    // SAFETY: sigaction is plain data; all-zero is valid, and the fields are set below.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_hup as extern "C" fn(libc::c_int) as libc::sighandler_t;
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: a handler that only makes async-signal-safe calls (see `on_hup`); `act` lives
    // for the call.
    if unsafe { libc::sigaction(libc::SIGHUP, &act, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(read)
}

/// The handler: one byte to the pair; errno as it was. A full pair (many SIGHUPs unread)
/// drops the byte: one reload covers them all.
extern "C" fn on_hup(_sig: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // SAFETY: __errno_location returns this thread's errno, valid for the thread's life.
    let errno = unsafe { *libc::__errno_location() };
    let byte = 1u8;
    // SAFETY: send(2) is async-signal-safe; it reads one byte of `byte`, which lives for the
    // call, and the fd stays open for the process's life.
    unsafe {
        libc::send(
            fd,
            (&byte as *const u8).cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Worker 0's task: each SIGHUP (several unread at once count as one) is handled on the
/// blocking pool.
pub async fn watch(read: std::os::unix::net::UnixStream, shared: Arc<Shared>) {
    let read = match UnixStream::from_std(read) {
        Ok(r) => r,
        Err(e) => return tracing::error!("SIGHUP watcher: {e}"),
    };
    loop {
        let (res, _) = read.read(Vec::with_capacity(64)).await;
        match res {
            Ok(n) if n > 0 => {
                let s = shared.clone();
                let _ = corio::spawn_blocking(move || crate::reload::on_hup(&s)).await;
            }
            Ok(_) => return,
            Err(e) => return tracing::error!("SIGHUP watcher: {e}"),
        }
    }
}
