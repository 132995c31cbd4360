//! The io_uring driver: one ring per executor, batched submission, completion reaping.
//!
//! Operations push SQEs as they are first polled; nothing is submitted then. The loop's park
//! hands the whole batch to the kernel and reaps in the same io_uring_enter (GETEVENTS always
//! set, so DEFER_TASKRUN task work runs). The SQ never drops an op: when it is full, what is
//! queued is submitted early and the push retried (`enter.rs`). The CQ never loses a
//! completion: the ring must have IORING_FEAT_NODROP, and after every reap the overflow flag
//! is checked and the kernel's overflow list flushed with another enter.
//!
//! Slot invariants are in `slots.rs` and docs/architecture.md; MSG_RING in `msg.rs`; shutdown
//! in `shutdown.rs`.

mod bufring;
mod cancel;
mod enter;
mod fallback;
mod msg;
mod registered;
mod setup;
mod shutdown;

use crate::driver::fixed::FixedTable;
use crate::driver::notify::Notifier;
use crate::driver::op::{FileRef, OpFile, OpState, Operation, Orphan};
use crate::driver::opcodes::Native;
use crate::driver::slots::{Delivery, Orphaned, Slots};
use crate::driver::token::RESERVED_BASE;
use crate::driver::{DriverStats, OpResult};
use cancel::{Cancels, Target};
pub(crate) use fallback::NeverRan;
use io_uring::{opcode, types, IoUring};
use msg::{MsgRing, MSG_TOKEN};
use registered::{FIXED_CLOSE_TOKEN, INSTALL_TOKEN};
pub(crate) use setup::Unavailable;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// user_data of the read that keeps the wake eventfd watched.
const WAKE_TOKEN: u64 = u64::MAX;
/// CQEs taken off the ring before they are delivered.
const REAP_BATCH: usize = 64;

/// The read of the eventfd other threads write to interrupt our wait.
struct WakeRead {
    notifier: Arc<Notifier>,
    /// Where the kernel writes the counter; boxed so its address is stable.
    buf: Box<u64>,
    in_flight: bool,
}

pub(crate) struct Uring {
    ring: IoUring,
    slots: Slots,
    wake: WakeRead,
    msg: MsgRing,
    cancels: Cancels,
    stats: DriverStats,
    setup_flags: Vec<&'static str>,
    /// The opcodes this kernel runs (the probe, less what the test hook removed).
    native: Native,
    /// The registered-file table (`Builder::registered_fds`), where the kernel allows it.
    fixed: Option<FixedTable>,
    /// The result of the fd install `install_fixed` waits for.
    installed: Option<i32>,
    /// Provided-buffer rings registered with this ring (`bufring.rs`).
    buf_rings: bufring::BufRings,
    /// CQEs taken off the ring, waiting to be delivered (kept between reaps: not zeroed per
    /// turn).
    reaped: Box<[(u64, i32, u32); REAP_BATCH]>,
    /// `shutdown` has run: what was in flight is done, or leaked.
    shut_down: bool,
    /// io_uring_enter failed with an error that retrying cannot cure (EEXIST: a SINGLE_ISSUER
    /// ring used from a forked child; EBADF, EFAULT...): every later submit and park reports
    /// it instead of retrying forever.
    broken: Option<i32>,
}

impl Uring {
    pub(crate) fn new(
        entries: u32,
        notifier: Notifier,
        registered_fds: bool,
    ) -> Result<(Uring, Arc<Notifier>), Unavailable> {
        let (mut ring, setup_flags) = setup::build(entries)?;
        let native = setup::check(&ring)?;
        let fixed = registered_fds
            .then(|| registered::register_table(&ring, &native))
            .flatten();
        setup::check_cancel_fd(&mut ring)?;
        let msg_ring = setup::msg_ring_into_this_ring_is_safe(&setup_flags)
            && setup::check_msg_ring(&mut ring, MSG_TOKEN);
        let mut notifier = notifier;
        if msg_ring {
            use std::os::fd::{AsRawFd, BorrowedFd};
            // SAFETY: the ring's fd stays open while `ring` lives, past this borrow.
            let fd = unsafe { BorrowedFd::borrow_raw(ring.as_raw_fd()) };
            notifier.set_ring_fd(fd).map_err(Unavailable::Error)?;
        }
        let notifier = Arc::new(notifier);
        let uring = Uring {
            ring,
            slots: Slots::with_capacity(entries as usize),
            wake: WakeRead {
                notifier: notifier.clone(),
                buf: Box::new(0),
                in_flight: false,
            },
            msg: MsgRing::new(msg_ring),
            cancels: Cancels::default(),
            stats: DriverStats::default(),
            setup_flags,
            native,
            fixed,
            installed: None,
            buf_rings: Default::default(),
            reaped: Box::new([(0, 0, 0); REAP_BATCH]),
            shut_down: false,
            broken: None,
        };
        Ok((uring, notifier))
    }

    /// The setup flags the kernel accepted.
    pub(crate) fn setup_flags(&self) -> &[&'static str] {
        &self.setup_flags
    }

    /// The opcodes this ring runs natively.
    pub(crate) fn native(&self) -> &Native {
        &self.native
    }

    /// Whether cross-executor wake-ups to this ring use IORING_OP_MSG_RING.
    pub(crate) fn msg_ring_enabled(&self) -> bool {
        self.msg.enabled()
    }

    pub(crate) fn stats(&self) -> DriverStats {
        DriverStats {
            in_flight: self.slots.len() as u64,
            ..self.stats
        }
    }

    /// Starts an op natively: its SQE is pushed with a fresh slot and submitted at the next
    /// park.
    #[inline(always)]
    pub(crate) fn start<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        // The op's SQE names its files itself, each with its kind's flag (FileRef).
        let file = target.map(|t| t.file);
        let user_data = self.slots.insert(file, cx.waker());
        // Built last, right before it is copied into the SQ.
        let sqe = op.sqe().user_data(user_data);
        // SAFETY: the SQE points into memory `op` owns (Operation contract), and the caller
        // keeps `op` alive until `poll_op` returns Ready, or hands it to `orphan` — so it
        // outlives the kernel's use. The slot exists, so the CQE will find it.
        match unsafe { self.push(&sqe) } {
            Ok(()) => {
                self.stats.ops_submitted += 1;
                *state = OpState::InRing(user_data);
                Poll::Pending
            }
            Err(e) => {
                // Never reached the SQ: nothing of the op is in the kernel.
                self.slots.forget(user_data);
                *state = OpState::Done;
                Poll::Ready((Err(e), 0))
            }
        }
    }

    /// The result of the op in the ring under `user_data`, once its CQE has come.
    #[inline(always)]
    pub(crate) fn collect(&mut self, user_data: u64, cx: &Context<'_>) -> Poll<OpResult> {
        self.slots
            .poll(user_data, cx)
            .map(|(res, flags)| (crate::sys::cqe_result(res), flags))
    }

    /// Starts an op (its SQE is pushed with a fresh slot and submitted at the next park) or
    /// collects its result.
    pub(crate) fn poll_op<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        match *state {
            OpState::Unstarted => self.start(state, op, target, cx),
            OpState::InRing(user_data) => self.collect(user_data, cx),
            OpState::Trying | OpState::Polling(_) => self.poll_readiness(state, op, target, cx),
            s @ (OpState::InPool(_) | OpState::Done) => unreachable!("io_uring op in state {s:?}"),
        }
    }

    /// The op's future is gone: the slot takes its resources. In flight, the op is cancelled
    /// and the resources wait for its CQE; already completed, the result is handled now.
    pub(crate) fn orphan(&mut self, user_data: u64, data: Box<dyn Orphan>) {
        match self.slots.orphan(user_data, data) {
            Orphaned::InFlight => self.cancel(user_data),
            Orphaned::Done(data, res, flags) => {
                self.stats.orphan_completions += 1;
                data.complete(crate::sys::cqe_result(res), flags);
            }
        }
    }

    /// Asks the kernel to cancel one in-flight op; its CQE still arrives (-ECANCELED, or its
    /// result if the cancel lost the race) and is delivered to the slot as usual.
    pub(crate) fn cancel(&mut self, user_data: u64) {
        self.stats.cancellations += 1;
        self.send_cancel(Target::Op(user_data));
    }

    /// Cancels every operation on `file` (an explicit close: Go's evict). Their CQEs arrive
    /// with -ECANCELED; the file itself is closed only when the last of them has let go of it.
    pub(crate) fn cancel_file(&mut self, file: FileRef) {
        self.stats.cancellations += 1;
        self.send_cancel(Target::File(file));
    }

    /// Pushes a cancel request (asked again if the kernel does not find its target: see
    /// `cancel.rs`).
    fn send_cancel(&mut self, target: Target) {
        let (sqe, key) = self.cancels.sqe(target);
        // SAFETY: a cancel SQE carries no pointers. If the ring is broken the ops stay in
        // flight and their slots keep their resources (leaked at shutdown, never freed early).
        if unsafe { self.push(&sqe) }.is_err() {
            self.cancels.unsent(key);
        }
    }

    /// True while the kernel still holds what `target` names.
    fn target_in_flight(&self, target: Target) -> bool {
        match target {
            Target::Op(WAKE_TOKEN) => self.wake.in_flight,
            Target::Op(user_data) => self.slots.is_in_flight(user_data),
            Target::File(file) => self.slots.any_in_flight_on(file),
        }
    }

    /// Sends again the cancels that are due and whose targets are still in flight.
    fn resend_due_cancels(&mut self) {
        let due = self.cancels.due();
        let mut resent = false;
        for target in due {
            if self.target_in_flight(target) {
                self.send_cancel(target);
                resent = true;
            }
        }
        if !resent {
            self.cancels.settled();
        }
    }

    /// Wakes the tasks of the ops waiting on `file`; the ops stay in flight.
    pub(crate) fn wake_file(&mut self, file: FileRef) {
        self.slots.wake_fd(file);
    }

    /// Wakes another executor's ring: one IORING_OP_MSG_RING, submitted now (`submit_wakes`),
    /// since the code that woke the target may block this thread before it returns to the
    /// loop. False if this ring cannot send or `target` cannot receive.
    pub(crate) fn msg_ring(&mut self, target: &Arc<Notifier>) -> bool {
        let Some((sqe, key)) = self.msg.prepare(target) else {
            return false;
        };
        // SAFETY: a MSG_RING SQE carries no pointers; the fd it names stays open while `msg`
        // holds the target, until this SQE's CQE is reaped.
        if unsafe { self.push(&sqe) }.is_err() {
            // Not queued: the caller writes the target's eventfd instead.
            self.msg.unprepare(key);
            return false;
        }
        self.msg.queued();
        self.submit_wakes();
        true
    }

    /// Keeps a read of the wake eventfd in flight, so a write from another thread completes it.
    fn arm_wake(&mut self) {
        if self.wake.in_flight {
            return;
        }
        let fd = types::Fd(self.wake.notifier.eventfd());
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
        self.close_released();
        self.resend_due_cancels();
        // The clock is read only while a cancel waits to be sent again.
        let bound = match self.cancels.retrying() {
            true => self.cancels.wait_bound(Instant::now()),
            false => None,
        };
        let timeout = match (timeout, bound) {
            (Some(t), Some(c)) => Some(t.min(c)),
            (t, c) => t.or(c),
        };
        let res = match timeout {
            Some(t) if t.is_zero() => self.enter(0),
            Some(t) => self.enter_timeout(t),
            None => self.enter(1),
        };
        // ETIME: the timeout passed. EINTR: a signal. EBUSY/EAGAIN: the CQ is backed up or the
        // kernel is short of memory for now; reaping below is the remedy for both. Anything
        // else breaks the ring.
        self.note_enter_error(&res);
        self.check_broken()?;
        self.reap();
        self.check_broken()
    }

    /// Reaps every CQE, flushing the kernel's overflow list until it is empty. CQEs are taken
    /// in batches (the CQ head is published once per batch): an op's CQE is delivered to its
    /// slot as it is read; the driver's own (the reserved tags) are kept and handled after
    /// the batch, when the ring is free again.
    fn reap(&mut self) -> usize {
        let mut total = 0;
        loop {
            let (n, own) = {
                let Uring {
                    ring,
                    slots,
                    stats,
                    reaped,
                    ..
                } = self;
                let mut cq = ring.completion();
                let (mut n, mut own) = (0, 0);
                while n < REAP_BATCH {
                    let Some(cqe) = cq.next() else { break };
                    n += 1;
                    let (user_data, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
                    if user_data < RESERVED_BASE {
                        deliver(slots, stats, user_data, res, flags);
                    } else {
                        reaped[own] = (user_data, res, flags);
                        own += 1;
                    }
                }
                (n, own)
            };
            for i in 0..own {
                let (user_data, res, _) = self.reaped[i];
                self.handle_own_cqe(user_data, res);
            }
            total += n;
            if n == REAP_BATCH {
                continue;
            }
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

    /// A CQE under one of the driver's own tags.
    #[inline(never)]
    fn handle_own_cqe(&mut self, user_data: u64, res: i32) {
        match user_data {
            WAKE_TOKEN => self.wake.in_flight = false,
            MSG_TOKEN => {}
            FIXED_CLOSE_TOKEN => {
                if let Some(table) = &self.fixed {
                    // The slot is free again (or was never taken: either way, not ours).
                    table.unreserve();
                }
            }
            INSTALL_TOKEN => self.installed = Some(res),
            ud if MsgRing::is_ours(ud) => self.msg.on_cqe(ud, res, &mut self.stats),
            ud if Cancels::is_ours(ud) => {
                if let Some(target) = self.cancels.answered(ud, res) {
                    if self.target_in_flight(target) {
                        self.cancels.again(target, Instant::now());
                    }
                }
            }
            // A tag in the reserved range that names nothing of ours.
            _ => self.stats.stale_events += 1,
        }
    }
}

/// Delivers an op's CQE to its slot: wakes the op's task, or hands the result to what a
/// dropped op left. Nothing here touches the ring (the caller holds its CQ): a waker only
/// queues its task, and what an orphan releases goes to the driver's next turn.
#[inline(always)]
fn deliver(slots: &mut Slots, stats: &mut DriverStats, user_data: u64, res: i32, flags: u32) {
    match slots.complete(user_data, res, flags) {
        Delivery::Wake(waker) => waker.wake_by_ref(),
        Delivery::Orphan(data, res, flags) => {
            stats.orphan_completions += 1;
            data.complete(crate::sys::cqe_result(res), flags);
        }
        Delivery::Stale => stats.stale_events += 1,
    }
}
