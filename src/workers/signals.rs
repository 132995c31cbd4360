//! SIGINT and SIGTERM as a shutdown request: blocked in the workers, read from a signalfd
//! through worker 0's driver (no signal handler).

use crate::fd::SharedFd;
use crate::runtime::request_shutdown;
use std::io;

/// SIGINT and SIGTERM, blocked in the calling thread (and so in the workers it spawns) and read
/// from a signalfd through worker 0's driver.
pub(crate) struct Signals {
    old_mask: libc::sigset_t,
    pub(crate) fd: std::os::fd::OwnedFd,
}

impl Signals {
    pub(crate) fn block() -> io::Result<Signals> {
        use std::os::fd::FromRawFd;
        // SAFETY: sigset_t is plain data, initialised by sigemptyset.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid sets; pthread_sigmask changes this thread's mask only.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        }
        // SAFETY: signalfd with a valid set; the fd is owned right below.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: restores the mask saved above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            return Err(e);
        }
        Ok(Signals {
            old_mask: old,
            // SAFETY: signalfd just returned this fd and nothing else owns it.
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block`, for this thread only.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
    }
}

/// Worker 0's task: waits for SIGINT or SIGTERM on the signalfd, then starts the shutdown.
pub(crate) async fn watch_signals(fd: std::os::fd::OwnedFd) {
    let Ok(fd) = SharedFd::new(fd) else { return };
    loop {
        let buf = Vec::with_capacity(std::mem::size_of::<libc::signalfd_siginfo>());
        let (res, _) = crate::op::read::read(&fd, buf, None).await;
        match res {
            Ok(_) => {
                request_shutdown();
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
