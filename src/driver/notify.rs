//! The wake target a driver owns: how another thread (or another executor's ring) ends this
//! driver's wait.
//!
//! Every driver has an eventfd: a write from any thread completes the read the io_uring driver
//! keeps in flight on it, or makes the epoll driver's `epoll_wait` return. An io_uring driver
//! that takes IORING_OP_MSG_RING messages also exposes a duplicate of its ring fd, where other
//! io_uring drivers post a CQE instead (no syscall of their own: it leaves with their next
//! submission). Which of the two a wake-up takes is the caller's business (the runtime's
//! cross-thread queue); this type only owns the fds and counts what they carried.

use crate::sys::syscall;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct Notifier {
    eventfd: OwnedFd,
    /// A duplicate of the owner's ring fd, where other rings post wake-ups with MSG_RING;
    /// `None` on epoll or without MSG_RING. Owned here so the number stays valid (and names
    /// this ring) while any sender holds the `Notifier`: a sender keeps it until its message's
    /// CQE.
    ring_fd: Option<OwnedFd>,
    /// eventfd writes performed.
    wake_writes: AtomicU64,
    /// Wake-ups other rings posted here with MSG_RING (counted by the sender when its CQE says
    /// the message was posted).
    msg_ring_wakes: AtomicU64,
}

impl Notifier {
    /// A notifier around a new eventfd: non-blocking for epoll (its loop reads it after an
    /// event), blocking for io_uring (which keeps a read of it in flight).
    pub(crate) fn new(nonblocking: bool) -> io::Result<Notifier> {
        let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
        let fd = syscall!(eventfd(0, flags))?;
        Ok(Notifier {
            // SAFETY: eventfd just returned this fd and nothing else owns it.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            ring_fd: None,
            wake_writes: AtomicU64::new(0),
            msg_ring_wakes: AtomicU64::new(0),
        })
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Lets other io_uring drivers wake this one through `ring` (a duplicate is kept).
    pub(crate) fn set_ring_fd(&mut self, ring: BorrowedFd<'_>) -> io::Result<()> {
        self.ring_fd = Some(ring.try_clone_to_owned()?);
        Ok(())
    }

    /// The ring fd MSG_RING wake-ups are sent to, if this driver takes them.
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        self.ring_fd.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Ends the owner's wait with one eventfd write.
    pub(crate) fn write_eventfd(&self) {
        self.wake_writes.fetch_add(1, Ordering::Relaxed);
        let one: u64 = 1;
        // EAGAIN means the counter is saturated: the owner is woken anyway, nothing is lost.
        // SAFETY: writes 8 bytes from a live local u64 to our own eventfd.
        unsafe { libc::write(self.eventfd(), (&one as *const u64).cast(), 8) };
    }

    /// A MSG_RING wake-up to this driver was posted (the sender saw its CQE succeed).
    pub(crate) fn count_msg_ring_wake(&self) {
        self.msg_ring_wakes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wake_writes(&self) -> u64 {
        self.wake_writes.load(Ordering::Relaxed)
    }

    pub(crate) fn msg_ring_wakes(&self) -> u64 {
        self.msg_ring_wakes.load(Ordering::Relaxed)
    }
}
