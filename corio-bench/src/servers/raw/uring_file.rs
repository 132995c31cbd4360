//! The bare completion loop for files: the io-uring crate, one thread, no runtime — the floor
//! the runtimes' file-read runners are measured against.
//!
//! `depth` slots, each with its own 4 KiB buffer and exactly one READ in flight (plain fd and
//! buffer, no registered files or buffers, as the runtimes use). Every completion is checked
//! and its slot's next READ queued; all of a turn's SQEs reach the kernel in the next
//! `io_uring_enter`, which also waits for the next completion (`submit_and_wait(1)`). A
//! page-cache read completes inline in the enter that submits it. The ring is set up like the
//! bare echo loop's (SINGLE_ISSUER, COOP_TASKRUN, DEFER_TASKRUN where accepted).
//!
//! Ownership: a slot's buffer is a boxed slice that never moves and is touched only between
//! its READ's CQE and the next READ's submission. On stop, no new READ is queued and the loop
//! reaps until nothing is in flight; if an enter fails with reads in flight, the buffers are
//! leaked rather than freed under the kernel.

use super::ring::{build_ring, Sq};
use crate::content::BLOCK;
use crate::servers::reader::{Meter, ReadJob, Reader};
use io_uring::{opcode, squeue, types, CompletionQueue};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct Slot {
    buf: Box<[u8]>,
    off: u64,
    reader: Reader,
}

fn read_sqe(fd: RawFd, slot: &mut Slot, index: usize) -> squeue::Entry {
    opcode::Read::new(types::Fd(fd), slot.buf.as_mut_ptr(), BLOCK as u32)
        .offset(slot.off)
        .build()
        .user_data(index as u64)
}

pub(super) fn run(job: &ReadJob, meter: &Arc<Meter>) -> io::Result<()> {
    let file = std::fs::File::open(&job.file)?;
    let fd = file.as_raw_fd();
    let mut ring = build_ring()?;
    let (submitter, sq, mut cq) = ring.split();
    let mut sq = Sq::new(submitter, sq);
    let mut slots: Vec<Slot> = (0..job.depth)
        .map(|i| Slot {
            buf: vec![0u8; BLOCK].into_boxed_slice(),
            off: 0,
            reader: Reader::new(i, job),
        })
        .collect();
    let mut inflight = 0usize;
    let res = (|| {
        for (i, slot) in slots.iter_mut().enumerate() {
            slot.off = slot.reader.next_offset();
            // SAFETY: the slot's buffer stays put, untouched, until this READ's CQE.
            unsafe { sq.push(&read_sqe(fd, slot, i)) }?;
            inflight += 1;
        }
        meter.start();
        let mut completions = 0u64;
        while inflight > 0 {
            sq.submit_and_wait()?;
            reap(
                &mut cq,
                &mut sq,
                &mut slots,
                fd,
                meter,
                &mut inflight,
                &mut completions,
            )?;
            let c = &meter.counters;
            c.enters.store(sq.enters, Ordering::Relaxed);
            c.ops_submitted.store(sq.ops, Ordering::Relaxed);
            c.completions.store(completions, Ordering::Relaxed);
        }
        Ok(())
    })();
    if res.is_err() && inflight > 0 {
        // The kernel may still write into them.
        std::mem::forget(slots);
    }
    drop(file);
    res
}

/// Checks every completion and queues its slot's next READ, unless told to stop.
fn reap(
    cq: &mut CompletionQueue<'_>,
    sq: &mut Sq<'_>,
    slots: &mut [Slot],
    fd: RawFd,
    meter: &Meter,
    inflight: &mut usize,
    completions: &mut u64,
) -> io::Result<()> {
    cq.sync();
    for cqe in &mut *cq {
        *completions += 1;
        *inflight -= 1;
        let i = cqe.user_data() as usize;
        let slot = &mut slots[i];
        let res = cqe.result();
        let (res, n) = if res < 0 {
            (Err(io::Error::from_raw_os_error(-res)), 0)
        } else {
            (Ok(res as usize), (res as usize).min(BLOCK))
        };
        if slot.reader.done(meter, slot.off, res, &slot.buf[..n]) {
            slot.off = slot.reader.next_offset();
            // SAFETY: the slot's buffer stays put, untouched, until this READ's CQE.
            unsafe { sq.push(&read_sqe(fd, slot, i)) }?;
            *inflight += 1;
        }
    }
    // Publish the consumed head before the next enter waits (see uring.rs).
    cq.sync();
    Ok(())
}
