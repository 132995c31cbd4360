//! Cross-executor wake-ups sent ring to ring (IORING_OP_MSG_RING): what this ring has sent and
//! not yet seen answered.
//!
//! Rules (docs/architecture.md, "Cross-thread wake"):
//! - The fd in a MSG_RING SQE names the target's ring while the kernel may use it: each entry
//!   of `sent` holds the target's `Notifier`, which owns the duplicate of its ring fd, until the
//!   message's own CQE is reaped.
//! - A message that fails still wakes: its CQE's error sends the wake-up through the target's
//!   eventfd instead.
//! - A message leaves when it is queued (`Uring::msg_ring` submits it at once), and is answered
//!   before the loop stops turning (`Uring::flush`); `unsubmitted` says one waits in the SQ.

use crate::driver::notify::Notifier;
use crate::driver::stats::DriverStats;
use crate::driver::token::RESERVED_BASE;
use io_uring::{opcode, squeue, types};
use slab::Slab;
use std::sync::Arc;

/// The CQE another ring posts to this one to end its wait: nothing to deliver.
pub(super) const MSG_TOKEN: u64 = u64::MAX - 2;
/// user_data of our own MSG_RING SQEs: this base plus the target's key in `sent` (below the
/// cancels' range).
const SENT_BASE: u64 = RESERVED_BASE;
/// Test hook: aim every message at a bad fd, so each fails and takes the eventfd fallback.
const FORCE_FAILURE: &str = "CORIO_FORCE_MSG_RING_FAILURE";

pub(super) struct MsgRing {
    /// Messages to and from this ring work (checked at setup).
    enabled: bool,
    /// The targets of our messages whose own CQE has not been reaped.
    sent: Slab<Arc<Notifier>>,
    /// A message sits in the SQ, not yet submitted.
    unsubmitted: bool,
    /// `CORIO_FORCE_MSG_RING_FAILURE` is set.
    force_failure: bool,
}

impl MsgRing {
    pub(super) fn new(enabled: bool) -> MsgRing {
        MsgRing {
            enabled,
            sent: Slab::new(),
            unsubmitted: false,
            force_failure: std::env::var_os(FORCE_FAILURE).is_some(),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The SQE that wakes `target`, recorded as sent; `None` if this ring cannot send or the
    /// target cannot receive.
    pub(super) fn prepare(&mut self, target: &Arc<Notifier>) -> Option<(squeue::Entry, usize)> {
        let fd = target.ring_fd().filter(|_| self.enabled)?;
        let fd = if self.force_failure { -1 } else { fd };
        let key = self.sent.insert(target.clone());
        let sqe = opcode::MsgRingData::new(types::Fd(fd), 0, MSG_TOKEN, None)
            .build()
            .user_data(SENT_BASE + key as u64);
        Some((sqe, key))
    }

    /// The prepared SQE did not reach the SQ: it was never sent.
    pub(super) fn unprepare(&mut self, key: usize) {
        self.sent.remove(key);
    }

    /// The prepared SQE is in the SQ.
    pub(super) fn queued(&mut self) {
        self.unsubmitted = true;
    }

    /// An enter ran; once the SQ is empty, every message has reached the kernel.
    pub(super) fn note_submitted(&mut self, sq_empty: bool) {
        if sq_empty {
            self.unsubmitted = false;
        }
    }

    pub(super) fn unsubmitted(&self) -> bool {
        self.unsubmitted
    }

    /// True while a message is queued or unanswered.
    pub(super) fn pending(&self) -> bool {
        self.unsubmitted || !self.sent.is_empty()
    }

    /// True if `user_data` is the CQE of one of our messages.
    pub(super) fn is_ours(user_data: u64) -> bool {
        (SENT_BASE..super::cancel::CANCEL_BASE).contains(&user_data)
    }

    /// The CQE of one of our messages: releases the target; if the message was not posted
    /// (the kernel out of memory, or the test hook), wakes the target through its eventfd.
    pub(super) fn on_cqe(&mut self, user_data: u64, res: i32, stats: &mut DriverStats) {
        let Some(target) = self.sent.try_remove((user_data - SENT_BASE) as usize) else {
            stats.stale_events += 1;
            return;
        };
        if res < 0 {
            stats.msg_ring_failures += 1;
            target.write_eventfd();
        } else {
            target.count_msg_ring_wake();
        }
    }
}
