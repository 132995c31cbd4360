//! Making sure things leave: wake-ups for other executors, at once (`submit_wakes`) and
//! answered before the loop stops (`flush`), and everything in flight when the executor shuts
//! down (`shutdown`, and the `Drop` that runs it if nothing else did).

use super::{Target, Uring, WAKE_TOKEN};
use std::time::{Duration, Instant};

/// How long a returning `block_on` waits for the CQE of a MSG_RING the kernel deferred.
const FLUSH_WAIT: Duration = Duration::from_millis(100);
/// How long `shutdown` waits for cancelled operations before leaking their buffers instead.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl Uring {
    /// Hands a queued MSG_RING wake-up to the kernel now, with a submit-only enter (no wait),
    /// so the target wakes even if the code that woke it then blocks this thread (issue 21
    /// defect 5). What completed meanwhile is reaped, so a message that failed takes its
    /// eventfd fallback now too (a full SQ's push reaps the same way). Nothing to do (and no
    /// syscall) when no message is queued.
    pub(super) fn submit_wakes(&mut self) {
        if !self.msg.unsubmitted() {
            return;
        }
        let res = self.enter_submit_only();
        self.note_enter_error(&res);
        self.reap();
    }

    /// Called when a `block_on` returns, since no later turn of this loop may come: submits a
    /// queued MSG_RING wake-up and reaps its CQE, so that a failed message still reaches the
    /// target through its eventfd. Messages normally complete inside the submitting enter; one
    /// the kernel deferred is waited for at most `FLUSH_WAIT`.
    pub(crate) fn flush(&mut self) {
        if !self.msg.pending() || self.broken.is_some() {
            return;
        }
        let deadline = Instant::now() + FLUSH_WAIT;
        // Errors leave SQEs queued for a later park or flush; the reap below still runs.
        let res = self.enter(0);
        self.note_enter_error(&res);
        self.reap();
        while self.msg.pending() && self.broken.is_none() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let res = self.enter_timeout(deadline - now);
            self.note_enter_error(&res);
            self.reap();
        }
    }

    /// Cancels everything in flight and waits (bounded) for the CQEs; whatever has not
    /// completed by then is leaked rather than freed, so the kernel never writes to freed
    /// memory.
    pub(crate) fn shutdown(&mut self) {
        self.shut_down = true;
        let mut targets = self.slots.in_flight();
        if self.wake.in_flight {
            targets.push(WAKE_TOKEN);
        }
        for user_data in targets {
            self.send_cancel(Target::Op(user_data));
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.pending_kernel_work() {
            let now = Instant::now();
            if self.broken.is_some() || now >= deadline {
                // Nothing more will complete, or we stop waiting: keep the kernel's memory,
                // never free it.
                self.leak_in_flight();
                self.release_buf_rings();
                return;
            }
            self.resend_due_cancels();
            let wait = self.cancels.wait_bound(now).unwrap_or(deadline - now);
            let res = self.enter_timeout(wait.min(deadline - now).max(Duration::from_micros(100)));
            self.note_enter_error(&res);
            self.reap();
        }
        self.release_buf_rings();
    }

    fn pending_kernel_work(&self) -> bool {
        self.wake.in_flight || self.msg.pending() || self.slots.any_in_flight()
    }

    fn leak_in_flight(&mut self) {
        crate::trace::event!(
            warn,
            "ring shutdown: operations still in the kernel after the grace period; their buffers are leaked, not freed"
        );
        self.slots.leak_orphans();
        if self.wake.in_flight {
            std::mem::forget(std::mem::replace(&mut self.wake.buf, Box::new(0)));
        }
    }
}

impl Drop for Uring {
    /// A ring dropped without `shutdown` (the executor's shutdown was cut short) still never
    /// frees memory the kernel may write: cancel, wait (bounded), leak the rest.
    fn drop(&mut self) {
        if !self.shut_down {
            self.shutdown();
        }
    }
}
