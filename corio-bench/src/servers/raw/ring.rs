//! The io_uring set-up and submission side both bare completion loops share (echo in
//! `uring.rs`, file reads in `uring_file.rs`).

use io_uring::{squeue, IoUring, SubmissionQueue, Submitter};
use std::io;

/// The submission side: SQEs go straight into the queue; a full queue is flushed with one
/// `io_uring_enter` and the push retried. Shared with the bare file-read loop.
pub(super) struct Sq<'a> {
    submitter: Submitter<'a>,
    sq: SubmissionQueue<'a>,
    pub(super) enters: u64,
    pub(super) ops: u64,
}

impl<'a> Sq<'a> {
    pub(super) fn new(submitter: Submitter<'a>, sq: SubmissionQueue<'a>) -> Sq<'a> {
        Sq {
            submitter,
            sq,
            enters: 0,
            ops: 0,
        }
    }

    /// Hands every queued SQE to the kernel and waits for at least one completion, in one
    /// `io_uring_enter`.
    pub(super) fn submit_and_wait(&mut self) -> io::Result<()> {
        self.sq.sync();
        let res = match self.submitter.submit_and_wait(1) {
            Ok(_) => Ok(()),
            // EINTR: a signal; EBUSY/EAGAIN: completions are backed up, reap them first.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.enters += 1;
        res
    }

    /// # Safety
    /// Every buffer or timespec `sqe` points to stays valid, and unmoved, until its CQE.
    pub(super) unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the caller keeps what `sqe` points to valid until its CQE.
        while unsafe { self.sq.push(sqe) }.is_err() {
            self.sq.sync();
            self.submitter.submit()?;
            self.enters += 1;
            self.sq.sync();
        }
        self.ops += 1;
        Ok(())
    }
}

pub(super) fn build_ring() -> io::Result<IoUring> {
    for flags in (0..=3).rev() {
        let mut b = IoUring::builder();
        if flags >= 1 {
            b.setup_single_issuer();
        }
        if flags >= 2 {
            b.setup_coop_taskrun();
        }
        if flags >= 3 {
            b.setup_defer_taskrun();
        }
        match b.build(4096) {
            Ok(ring) => return Ok(ring),
            // An older kernel refuses a flag it does not know: try with fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && flags > 0 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns on flags == 0")
}
