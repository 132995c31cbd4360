//! Handing SQEs to the kernel: the push that never drops an SQE, the enters, and the ring's
//! one fatal state (an enter that fails for good).

use super::Uring;
use io_uring::squeue;
use io_uring::types::{SubmitArgs, Timespec};
use std::io;
use std::time::Duration;

/// From linux/io_uring.h: reap completions (and run deferred task work) in this enter.
const IORING_ENTER_GETEVENTS: u32 = 1;

impl Uring {
    /// Pushes one SQE; when the SQ is full, submits what is queued and retries. Never drops
    /// an SQE silently: it is in the SQ, or the error says the ring is broken (an enter failed
    /// with an error retrying cannot cure) and nothing of the op reached the kernel.
    ///
    /// # Safety
    ///
    /// The pointers in `sqe` must stay valid until its CQE is reaped.
    #[inline(always)]
    pub(super) unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                // A broken ring never submits it: `park` reports the error.
                return Ok(());
            }
            self.check_broken()?;
            self.stats.sq_full += 1;
            // Transient errors (EBUSY/EAGAIN: the reap below makes room; EINTR) are retried;
            // any other marks the ring broken and ends the loop at `check_broken`.
            let res = self.enter(0);
            self.note_enter_error(&res);
            self.reap();
        }
    }

    /// One io_uring_enter: submit everything queued and wait for `want` completions.
    /// GETEVENTS is always set so that deferred task work runs even when we do not wait.
    pub(super) fn enter(&mut self, want: u32) -> io::Result<usize> {
        self.enter_flags(want, IORING_ENTER_GETEVENTS)
    }

    /// A submit-only enter: no wait, no deferred task work.
    pub(super) fn enter_submit_only(&mut self) -> io::Result<usize> {
        self.enter_flags(0, 0)
    }

    fn enter_flags(&mut self, want: u32, flags: u32) -> io::Result<usize> {
        let to_submit = self.ring.submission().len() as u32;
        self.count_enter(to_submit);
        // SAFETY: a plain enter with no extra argument; the SQEs it submits were pushed under
        // `push`'s contract.
        let res = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(to_submit, want, flags, None)
        };
        self.note_submitted();
        res
    }

    /// Submits and waits for one completion, at most `timeout` (IORING_ENTER_EXT_ARG).
    pub(super) fn enter_timeout(&mut self, timeout: Duration) -> io::Result<usize> {
        let to_submit = self.ring.submission().len() as u32;
        self.count_enter(to_submit);
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
        let res = self.ring.submitter().submit_with_args(1, &args);
        self.note_submitted();
        res
    }

    fn count_enter(&mut self, to_submit: u32) {
        self.stats.enters += 1;
        self.stats.max_sq_depth = self.stats.max_sq_depth.max(u64::from(to_submit));
    }

    /// After an enter: once the SQ is empty, every queued MSG_RING has reached the kernel.
    fn note_submitted(&mut self) {
        let empty = self.ring.submission().is_empty();
        self.msg.note_submitted(empty);
    }

    /// Records an enter error that retrying cannot cure (see `Uring::broken`).
    pub(super) fn note_enter_error(&mut self, res: &io::Result<usize>) {
        if let Err(e) = res {
            if !matches!(
                e.raw_os_error(),
                Some(libc::EBUSY | libc::EAGAIN | libc::EINTR | libc::ETIME)
            ) {
                self.broken = Some(e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
    }

    /// The ring's fatal error, if an enter has failed for good.
    pub(super) fn check_broken(&self) -> io::Result<()> {
        match self.broken {
            None => Ok(()),
            Some(errno) => {
                let cause = io::Error::from_raw_os_error(errno);
                Err(io::Error::new(
                    cause.kind(),
                    format!(
                        "io_uring_enter failed: {cause} (a SINGLE_ISSUER ring used from another \
                         task, e.g. after fork?); the ring can no longer submit"
                    ),
                ))
            }
        }
    }
}
