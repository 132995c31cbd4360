//! The io_uring driver: one ring per executor, batched submission, completion reaping.
//!
//! Operations push SQEs as they are first polled; nothing is submitted then. The loop's park
//! hands the whole batch to the kernel and reaps in the same io_uring_enter (GETEVENTS always
//! set, so DEFER_TASKRUN task work runs). The SQ never drops an op: when it is full, what is
//! queued is submitted early and the push retried. The CQ never loses a completion: the ring
//! must have IORING_FEAT_NODROP, and after every reap the overflow flag is checked and the
//! kernel's overflow list flushed with another enter.
//!
//! Slot invariants are in `slots.rs` and docs/architecture.md.

mod setup;
pub(crate) mod slots;

use crate::driver::{DriverStats, Unavailable};
use crate::runtime::remote::Remote;
use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;
use slots::{Lifecycle, Orphan, Slot};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// user_data of the read that keeps the wake eventfd watched.
const WAKE_TOKEN: u64 = u64::MAX;
/// user_data of SQEs whose CQE carries nothing to deliver (cancel requests).
const IGNORE_TOKEN: u64 = u64::MAX - 1;
/// The CQE another thread posts to this ring with IORING_OP_MSG_RING to end its wait: nothing
/// to deliver, the wake-up is the point.
const MSG_TOKEN: u64 = u64::MAX - 2;
/// user_data of our own MSG_RING SQEs: this base plus the key of the target in `msg_sent`.
/// Slot generations skip `u32::MAX`, so no slot's user_data has these top 32 bits.
const MSG_SENT_BASE: u64 = 0xffff_ffff_0000_0000;
/// Test hook: aim every MSG_RING at a bad fd, so each fails and takes the eventfd fallback.
const FORCE_MSG_RING_FAILURE: &str = "CORIO_FORCE_MSG_RING_FAILURE";
/// From linux/io_uring.h: reap completions (and run deferred task work) in this enter.
const IORING_ENTER_GETEVENTS: u32 = 1;
/// How long a returning `block_on` waits for the CQE of a MSG_RING the kernel deferred.
const FLUSH_WAIT: Duration = Duration::from_millis(100);
/// How long `shutdown` waits for cancelled operations before leaking their buffers instead.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The read of the eventfd other threads write to interrupt our wait.
struct WakeRead {
    remote: Arc<Remote>,
    /// Where the kernel writes the counter; boxed so its address is stable.
    buf: Box<u64>,
    in_flight: bool,
}

pub(crate) struct Uring {
    ring: IoUring,
    slots: Slab<Slot>,
    generation: u32,
    wake: WakeRead,
    pub(crate) stats: DriverStats,
    pub(crate) setup_flags: Vec<&'static str>,
    /// IORING_OP_MSG_RING works here (checked at setup).
    msg_ring: bool,
    /// The targets of our MSG_RING SQEs whose own CQE has not been reaped. Holding each
    /// `Remote` keeps the ring fd named in the SQE open (it owns a duplicate); a failed
    /// message falls back to the target's eventfd, so no wake-up is lost.
    msg_sent: Slab<Arc<Remote>>,
    /// A MSG_RING SQE sits in the SQ, not yet submitted: `flush` must push it out before this
    /// executor stops running loop turns, or the other executor may never wake.
    msg_unsubmitted: bool,
    /// `CORIO_FORCE_MSG_RING_FAILURE` is set (test hook).
    msg_force_failure: bool,
    /// `shutdown` has run: what was in flight is done, or leaked.
    shut_down: bool,
    /// io_uring_enter failed with an error that retrying cannot cure (EEXIST: a SINGLE_ISSUER
    /// ring used from a forked child; EBADF, EFAULT...): every later submit and park reports
    /// it instead of retrying forever.
    broken: Option<i32>,
}

impl Uring {
    pub(crate) fn new(entries: u32, eventfd: OwnedFd) -> Result<(Uring, Arc<Remote>), Unavailable> {
        let (mut ring, setup_flags) = setup::build(entries)?;
        setup::check(&ring)?;
        setup::check_cancel_fd(&mut ring)?;
        let msg_ring = setup::msg_ring_into_this_ring_is_safe(&setup_flags)
            && setup::check_msg_ring(&mut ring, MSG_TOKEN);
        let mut remote = Remote::new(eventfd);
        if msg_ring {
            use std::os::fd::{AsRawFd, BorrowedFd};
            // SAFETY: the ring's fd stays open while `ring` lives, past this borrow.
            let fd = unsafe { BorrowedFd::borrow_raw(ring.as_raw_fd()) };
            remote.set_ring_fd(fd).map_err(Unavailable::Error)?;
        }
        let remote = Arc::new(remote);
        let wake = WakeRead {
            remote: remote.clone(),
            buf: Box::new(0),
            in_flight: false,
        };
        let uring = Uring {
            ring,
            slots: Slab::with_capacity(entries as usize),
            generation: 0,
            wake,
            stats: DriverStats::default(),
            setup_flags,
            msg_ring,
            msg_sent: Slab::new(),
            msg_unsubmitted: false,
            msg_force_failure: std::env::var_os(FORCE_MSG_RING_FAILURE).is_some(),
            shut_down: false,
            broken: None,
        };
        Ok((uring, remote))
    }

    /// Starts an operation: pushes `sqe` tagged with a fresh slot. Submitted at the next park.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` must stay valid until the CQE for the returned user_data has been
    /// reaped: the caller keeps the memory's owner alive until `poll_op` returns `Ready`, or
    /// passes it to `orphan`.
    pub(crate) unsafe fn submit(
        &mut self,
        sqe: squeue::Entry,
        cx: &Context<'_>,
    ) -> io::Result<u64> {
        // u32::MAX is skipped: user_data with all-ones top bits belongs to the driver.
        self.generation = match self.generation.wrapping_add(1) {
            u32::MAX => 0,
            g => g,
        };
        let entry = self.slots.vacant_entry();
        let user_data = slots::user_data(entry.key(), self.generation);
        entry.insert(Slot {
            generation: self.generation,
            lifecycle: Lifecycle::Waiting(cx.waker().clone()),
        });
        // SAFETY: forwarded from this function's contract; the slot now exists, so the CQE
        // will find it.
        if let Err(e) = unsafe { self.push(&sqe.user_data(user_data)) } {
            // Never reached the SQ: nothing of the op is in the kernel.
            self.slots.remove(slots::split(user_data).0);
            return Err(e);
        }
        self.stats.ops_submitted += 1;
        Ok(user_data)
    }

    /// Collects the result of an operation, or records the task to wake.
    pub(crate) fn poll_op(&mut self, user_data: u64, cx: &Context<'_>) -> Poll<(i32, u32)> {
        let (key, generation) = slots::split(user_data);
        let slot = match self.slots.get_mut(key) {
            Some(slot) if slot.generation == generation => slot,
            // The op owns its slot until it collects the result; anything else is a bug here.
            _ => unreachable!("op polled with a slot it does not own: {user_data:#x}"),
        };
        match &mut slot.lifecycle {
            Lifecycle::Completed { res, flags } => {
                let out = (*res, *flags);
                self.slots.remove(key);
                Poll::Ready(out)
            }
            Lifecycle::Waiting(waker) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
                Poll::Pending
            }
            state @ Lifecycle::Orphaned(_) => unreachable!("polled an orphaned op: {state:?}"),
        }
    }

    /// The op's future is gone: the slot takes its resources. In flight, the op is cancelled
    /// and the resources wait for its CQE; already completed, the result is handled now.
    pub(crate) fn orphan(&mut self, user_data: u64, data: Box<dyn Orphan>) {
        let (key, generation) = slots::split(user_data);
        let slot = match self.slots.get_mut(key) {
            Some(slot) if slot.generation == generation => slot,
            _ => unreachable!("op dropped with a slot it does not own: {user_data:#x}"),
        };
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Orphaned(data)) {
            Lifecycle::Waiting(_) => self.cancel(user_data),
            Lifecycle::Completed { res, flags } => {
                if let Lifecycle::Orphaned(data) = self.slots.remove(key).lifecycle {
                    self.stats.orphan_completions += 1;
                    data.complete(crate::sys::cqe_result(res), flags);
                }
            }
            state @ Lifecycle::Orphaned(_) => unreachable!("op orphaned twice: {state:?}"),
        }
    }

    /// Asks the kernel to cancel one in-flight op; its CQE still arrives (-ECANCELED, or its
    /// result if the cancel lost the race) and is delivered to the slot as usual.
    pub(crate) fn cancel(&mut self, user_data: u64) {
        self.stats.cancellations += 1;
        let cancel = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(IGNORE_TOKEN);
        // SAFETY: a cancel SQE carries no pointers. If the ring is broken the op stays in
        // flight and its slot keeps its resources (leaked at shutdown, never freed early).
        let _ = unsafe { self.push(&cancel) };
    }

    /// Cancels every operation on `fd` (an explicit close: Go's evict). Their CQEs arrive with
    /// -ECANCELED; the fd itself is closed only when the last of them has let go of it.
    pub(crate) fn cancel_fd(&mut self, fd: std::os::fd::RawFd) {
        let builder = types::CancelBuilder::fd(types::Fd(fd)).all();
        let cancel = opcode::AsyncCancel2::new(builder)
            .build()
            .user_data(IGNORE_TOKEN);
        self.stats.cancellations += 1;
        // SAFETY: a cancel SQE carries no pointers. A broken ring cancels nothing; the ops
        // keep their resources, as above.
        let _ = unsafe { self.push(&cancel) };
    }

    /// Queues a wake-up for another executor's ring: one IORING_OP_MSG_RING, submitted with
    /// this turn's other SQEs. False if this ring cannot send or `target` cannot receive.
    pub(crate) fn msg_ring(&mut self, target: Arc<Remote>) -> bool {
        let Some(fd) = target.ring_fd().filter(|_| self.msg_ring) else {
            return false;
        };
        let fd = if self.msg_force_failure { -1 } else { fd };
        let key = self.msg_sent.insert(target);
        let msg = opcode::MsgRingData::new(types::Fd(fd), 0, MSG_TOKEN, None)
            .build()
            .user_data(MSG_SENT_BASE + key as u64);
        // SAFETY: a MSG_RING SQE carries no pointers; the fd it names stays open while
        // `msg_sent` holds the target, until this SQE's CQE is reaped.
        if unsafe { self.push(&msg) }.is_err() {
            // Not queued: the caller writes the target's eventfd instead.
            self.msg_sent.remove(key);
            return false;
        }
        self.msg_unsubmitted = true;
        true
    }

    /// Hands a queued MSG_RING wake-up to the kernel now, with a submit-only enter (no wait),
    /// when the loop has more work to do before its next park: the target then wakes within
    /// this turn even if the next task blocks its thread. What completed meanwhile is reaped,
    /// so a message that failed takes its eventfd fallback now too. Nothing to do (and no
    /// syscall) when no message is queued.
    pub(crate) fn submit_wakes(&mut self) {
        if !self.msg_unsubmitted {
            return;
        }
        let to_submit = self.ring.submission().len() as u32;
        self.stats.enters += 1;
        self.stats.max_sq_depth = self.stats.max_sq_depth.max(u64::from(to_submit));
        // SAFETY: a plain enter with no extra argument; the SQEs it submits were pushed under
        // `push`'s contract. Errors leave the SQEs queued for the next park.
        let res = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(to_submit, 0, 0, None)
        };
        self.note_enter_error(&res);
        self.note_submitted();
        self.reap();
    }

    /// Whether cross-executor wake-ups to this ring use IORING_OP_MSG_RING.
    pub(crate) fn msg_ring_enabled(&self) -> bool {
        self.msg_ring
    }

    /// Called when a `block_on` returns, since no later turn of this loop may come: submits a
    /// queued MSG_RING wake-up and reaps its CQE, so that a failed message still reaches the
    /// target through its eventfd. Messages normally complete inside the submitting enter; one
    /// the kernel deferred is waited for at most `FLUSH_WAIT`.
    pub(crate) fn flush(&mut self) {
        if (!self.msg_unsubmitted && self.msg_sent.is_empty()) || self.broken.is_some() {
            return;
        }
        let deadline = Instant::now() + FLUSH_WAIT;
        // Errors leave SQEs queued for a later park or flush; the reap below still runs.
        let _ = self.enter(0);
        self.reap();
        while !self.msg_sent.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let _ = self.enter_timeout(deadline - now);
            self.reap();
        }
    }

    /// Number of operations in flight or awaiting collection (the driver's own wake read aside).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Pushes one SQE; when the SQ is full, submits what is queued and retries. Never drops
    /// an SQE silently: it is in the SQ, or the error says the ring is broken (an enter
    /// failed with an error retrying cannot cure), and nothing of the op reached the kernel.
    ///
    /// # Safety
    ///
    /// The pointers in `sqe` must stay valid until its CQE is reaped.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            self.check_broken()?;
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.stats.sq_full += 1;
            // Transient errors (EBUSY/EAGAIN: the reap below makes room; EINTR) are retried;
            // any other marks the ring broken and ends the loop at `check_broken`.
            let res = self.enter(0);
            self.note_enter_error(&res);
            self.reap();
        }
    }

    /// Records an enter error that retrying cannot cure (see `broken`).
    fn note_enter_error(&mut self, res: &io::Result<usize>) {
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
    fn check_broken(&self) -> io::Result<()> {
        match self.broken {
            None => Ok(()),
            Some(errno) => Err(io::Error::new(
                io::Error::from_raw_os_error(errno).kind(),
                format!(
                    "io_uring_enter failed: {} (a SINGLE_ISSUER ring used from another \
                     task, e.g. after fork?); the ring can no longer submit",
                    io::Error::from_raw_os_error(errno)
                ),
            )),
        }
    }

    /// One io_uring_enter: submit everything queued and wait for `want` completions. GETEVENTS
    /// is always set so that deferred task work runs even when we do not wait.
    fn enter(&mut self, want: u32) -> io::Result<usize> {
        let to_submit = self.ring.submission().len() as u32;
        self.stats.enters += 1;
        self.stats.max_sq_depth = self.stats.max_sq_depth.max(u64::from(to_submit));
        let flags = IORING_ENTER_GETEVENTS;
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

    /// After an enter: once the SQ is empty, every MSG_RING SQE has reached the kernel.
    fn note_submitted(&mut self) {
        if self.msg_unsubmitted && self.ring.submission().is_empty() {
            self.msg_unsubmitted = false;
        }
    }

    fn enter_timeout(&mut self, timeout: Duration) -> io::Result<usize> {
        self.stats.enters += 1;
        let depth = self.ring.submission().len() as u64;
        self.stats.max_sq_depth = self.stats.max_sq_depth.max(depth);
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
        let res = self.ring.submitter().submit_with_args(1, &args);
        self.note_submitted();
        res
    }

    /// Keeps a read of the wake eventfd in flight, so a write from another thread completes it.
    fn arm_wake(&mut self) {
        if self.wake.in_flight {
            return;
        }
        let fd = types::Fd(self.wake.remote.eventfd());
        let ptr: *mut u64 = &mut *self.wake.buf;
        let sqe = opcode::Read::new(fd, ptr.cast(), 8)
            .build()
            .user_data(WAKE_TOKEN);
        // SAFETY: `wake.buf` is a Box owned by the driver; it is freed only after its read's
        // CQE was reaped (`shutdown` waits for it, or leaks the box).
        if unsafe { self.push(&sqe) }.is_ok() {
            self.wake.in_flight = true;
        }
    }

    /// Submits, waits (see the module docs), reaps and wakes.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.check_broken()?;
        self.arm_wake();
        let res = match timeout {
            Some(t) if t.is_zero() => self.enter(0),
            Some(t) => self.enter_timeout(t),
            None => self.enter(1),
        };
        match res {
            Ok(_) => {}
            // ETIME: the timeout passed. EINTR: a signal. EBUSY/EAGAIN: the CQ is backed up or
            // the kernel is short of memory for now; reaping below is the remedy for both.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => {
                self.note_enter_error(&Err(e));
                return self.check_broken();
            }
        }
        self.reap();
        self.check_broken()
    }

    /// Reaps every CQE, flushing the kernel's overflow list until it is empty.
    fn reap(&mut self) -> usize {
        let mut total = 0;
        loop {
            let mut n = 0;
            {
                let Uring {
                    ring,
                    slots,
                    wake,
                    stats,
                    msg_sent,
                    ..
                } = self;
                for cqe in ring.completion() {
                    n += 1;
                    if cqe.user_data() >= MSG_SENT_BASE && cqe.user_data() < MSG_TOKEN {
                        message_sent(msg_sent, stats, cqe.user_data(), cqe.result());
                        continue;
                    }
                    complete(
                        slots,
                        wake,
                        stats,
                        cqe.user_data(),
                        cqe.result(),
                        cqe.flags(),
                    );
                }
            }
            total += n;
            if !self.ring.submission().cq_overflow() {
                break;
            }
            // NODROP kept the completions that did not fit; an enter with GETEVENTS moves them
            // into the ring we just emptied.
            self.stats.cq_overflows += 1;
            let res = self.enter(0);
            self.note_enter_error(&res);
            if self.broken.is_some() {
                // The overflow list cannot be flushed; the loop reports the broken ring.
                break;
            }
        }
        self.stats.completions += total as u64;
        self.stats.max_completions_per_enter =
            self.stats.max_completions_per_enter.max(total as u64);
        total
    }

    /// Cancels everything in flight and waits (bounded) for the CQEs; whatever has not
    /// completed by then is leaked rather than freed, so the kernel never writes to freed memory.
    pub(crate) fn shutdown(&mut self) {
        self.shut_down = true;
        let mut targets: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| !matches!(s.lifecycle, Lifecycle::Completed { .. }))
            .map(|(k, s)| slots::user_data(k, s.generation))
            .collect();
        if self.wake.in_flight {
            targets.push(WAKE_TOKEN);
        }
        for user_data in targets {
            let cancel = opcode::AsyncCancel::new(user_data)
                .build()
                .user_data(IGNORE_TOKEN);
            // SAFETY: a cancel SQE carries no pointers.
            if unsafe { self.push(&cancel) }.is_err() {
                break;
            }
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.pending_kernel_work() {
            if self.broken.is_some() {
                // Nothing more will complete: keep the kernel's memory, never free it.
                self.leak_in_flight();
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                self.leak_in_flight();
                return;
            }
            let res = self.enter_timeout(deadline - now);
            self.note_enter_error(&res);
            self.reap();
        }
    }

    fn pending_kernel_work(&self) -> bool {
        self.wake.in_flight
            || !self.msg_sent.is_empty()
            || self
                .slots
                .iter()
                .any(|(_, s)| !matches!(s.lifecycle, Lifecycle::Completed { .. }))
    }

    fn leak_in_flight(&mut self) {
        for (_, slot) in self.slots.iter_mut() {
            if let Lifecycle::Orphaned(_) = slot.lifecycle {
                let Lifecycle::Orphaned(data) = std::mem::replace(
                    &mut slot.lifecycle,
                    Lifecycle::Completed { res: 0, flags: 0 },
                ) else {
                    unreachable!()
                };
                std::mem::forget(data);
            }
        }
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

/// The CQE of one of our MSG_RING SQEs: releases the target; if the message was not posted
/// (the kernel out of memory, or the test hook), wakes the target through its eventfd instead.
fn message_sent(
    msg_sent: &mut Slab<Arc<Remote>>,
    stats: &mut DriverStats,
    user_data: u64,
    res: i32,
) {
    let Some(target) = msg_sent.try_remove((user_data - MSG_SENT_BASE) as usize) else {
        stats.stale_events += 1;
        return;
    };
    if res < 0 {
        stats.msg_ring_failures += 1;
        target.write_eventfd();
    } else {
        target.msg_ring_wakes.fetch_add(1, Ordering::Relaxed);
    }
}

/// Delivers one CQE to its slot.
fn complete(
    slots: &mut Slab<Slot>,
    wake: &mut WakeRead,
    stats: &mut DriverStats,
    user_data: u64,
    res: i32,
    flags: u32,
) {
    match user_data {
        WAKE_TOKEN => {
            wake.in_flight = false;
            return;
        }
        IGNORE_TOKEN | MSG_TOKEN => return,
        _ => {}
    }
    let (key, generation) = slots::split(user_data);
    let Some(slot) = slots.get_mut(key).filter(|s| s.generation == generation) else {
        stats.stale_events += 1;
        return;
    };
    match std::mem::replace(&mut slot.lifecycle, Lifecycle::Completed { res, flags }) {
        Lifecycle::Waiting(waker) => waker.wake(),
        Lifecycle::Orphaned(data) => {
            slots.remove(key);
            stats.orphan_completions += 1;
            data.complete(crate::sys::cqe_result(res), flags);
        }
        Lifecycle::Completed { res: old, .. } => {
            // Single-shot ops get one CQE; a second one is stale. Keep the first result.
            slot.lifecycle = Lifecycle::Completed { res: old, flags };
            stats.stale_events += 1;
        }
    }
}
