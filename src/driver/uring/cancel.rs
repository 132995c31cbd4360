//! Cancel requests, and asking again when the kernel did not find their target.
//!
//! An IORING_OP_ASYNC_CANCEL only finds an op that sits where the kernel looks: armed on a
//! poll, queued or running in io-wq. An op between two of its own steps — a short send the
//! kernel is retrying, a poll wake-up whose retry waits as task work — is found nowhere, and
//! the cancel answers -ENOENT while the op goes on (a write dropped by a timeout keeps the
//! socket busy; a closed socket stays open under it). So each cancel is tracked until its
//! CQE, and one whose target is still in flight afterwards is sent again, after 1 ms, then
//! doubling up to 64 ms, until the target's own CQE ends it. The retries ride on the loop's
//! enters and bound its wait; they never spin.

use crate::driver::op::FileRef;
use crate::driver::token::RESERVED_BASE;
use io_uring::{opcode, squeue, types};
use slab::Slab;
use std::time::{Duration, Instant};

/// user_data of our cancel SQEs: this base plus the request's key in `sent` (the range above
/// the MSG_RING messages', below the drivers' fixed tags).
pub(super) const CANCEL_BASE: u64 = RESERVED_BASE + (1 << 31);
/// The top sixteen tags are the drivers' fixed ones (the wake read, messages received).
const CANCEL_END: u64 = u64::MAX - 15;
/// The first and the longest wait before asking again.
const RETRY_FIRST: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_millis(64);

/// What a cancel request asks to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// One op, by its user_data.
    Op(u64),
    /// Every op on a file (an explicit close; IORING_ASYNC_CANCEL_FD | ALL, with
    /// IORING_ASYNC_CANCEL_FD_FIXED for a registered slot).
    File(FileRef),
}

#[derive(Default)]
pub(super) struct Cancels {
    /// Cancel requests in the kernel, by key.
    sent: Slab<Target>,
    /// Cancels to send again at `retry_at`.
    retry: Vec<Target>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Cancels {
    /// The SQE that cancels `target`, tracked until its CQE.
    pub(super) fn sqe(&mut self, target: Target) -> (squeue::Entry, usize) {
        let key = self.sent.insert(target);
        let user_data = CANCEL_BASE + key as u64;
        let sqe = match target {
            Target::Op(ud) => opcode::AsyncCancel::new(ud).build(),
            Target::File(FileRef::Fd(fd)) => {
                opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all()).build()
            }
            Target::File(FileRef::Fixed(index)) => {
                let by = types::CancelBuilder::fd(types::Fixed(index)).all();
                opcode::AsyncCancel2::new(by).build()
            }
        };
        (sqe.user_data(user_data), key)
    }

    /// The SQE did not reach the SQ (a broken ring): forget it.
    pub(super) fn unsent(&mut self, key: usize) {
        self.sent.remove(key);
    }

    /// True if `user_data` is the CQE of one of our cancels.
    pub(super) fn is_ours(user_data: u64) -> bool {
        (CANCEL_BASE..CANCEL_END).contains(&user_data)
    }

    /// A cancel's CQE: its target, if the kernel did not find it (then the caller checks
    /// whether the target is still in flight and, if so, calls `again`).
    pub(super) fn answered(&mut self, user_data: u64, res: i32) -> Option<Target> {
        let target = self.sent.try_remove((user_data - CANCEL_BASE) as usize)?;
        // -ENOENT: not found; -EALREADY: running and not interruptible now. For a cancel by
        // fd, a count of 0 or more may still leave ops that it did not find.
        let missed = res < 0 || matches!(target, Target::File(_));
        missed.then_some(target)
    }

    /// Asks for `target` to be cancelled again, after the current backoff.
    pub(super) fn again(&mut self, target: Target, now: Instant) {
        if !self.retry.contains(&target) {
            self.retry.push(target);
        }
        if self.retry_at.is_none() {
            self.backoff = (self.backoff * 2).clamp(RETRY_FIRST, RETRY_MAX);
            self.retry_at = Some(now + self.backoff);
        }
    }

    /// The cancels due now (the caller sends the ones whose target is still in flight). The
    /// clock is read only while a retry waits.
    pub(super) fn due(&mut self) -> Vec<Target> {
        match self.retry_at {
            Some(at) if at <= Instant::now() => {
                self.retry_at = None;
                std::mem::take(&mut self.retry)
            }
            _ => Vec::new(),
        }
    }

    /// Nothing needed asking again: the next miss starts over at the first wait.
    pub(super) fn settled(&mut self) {
        if self.retry.is_empty() && self.retry_at.is_none() {
            self.backoff = Duration::ZERO;
        }
    }

    /// True while cancels wait to be sent again (`wait_bound` has a bound).
    pub(super) fn retrying(&self) -> bool {
        self.retry_at.is_some()
    }

    /// How long the loop may wait before a retry is due.
    pub(super) fn wait_bound(&self, now: Instant) -> Option<Duration> {
        self.retry_at.map(|at| at.saturating_duration_since(now))
    }
}
