//! Provided-buffer rings registered with this ring (`driver/provided.rs`): registration, and
//! their release at shutdown.

use super::Uring;
use crate::driver::provided::ProvidedBufs;
use std::rc::Rc;

/// The ring's provided-buffer groups: kept until `shutdown` has unregistered them (each keeps
/// its memory alive while the kernel may pick from it), and the next group id.
#[derive(Default)]
pub(super) struct BufRings {
    groups: Vec<Rc<ProvidedBufs>>,
    next_group: u16,
}

impl Uring {
    /// Registers `bufs` as a provided-buffer ring under a fresh group id, so a recv with
    /// IOSQE_BUFFER_SELECT takes a buffer only when data arrives. Where the kernel refuses
    /// (before Linux 5.19, or no memory for the ring) they stay a free list.
    pub(crate) fn provide(&mut self, mut bufs: ProvidedBufs) -> Rc<ProvidedBufs> {
        let group = self.buf_rings.next_group;
        if self.broken.is_none() && group < u16::MAX {
            if let Ok((addr, entries)) = bufs.make_ring(group) {
                // SAFETY: the ring's memory belongs to `bufs`, which this driver keeps (the
                // `Rc` pushed below) until `release_buf_rings` has unregistered the group.
                let res = unsafe {
                    self.ring
                        .submitter()
                        .register_buf_ring_with_flags(addr, entries, group, 0)
                };
                match res {
                    Ok(()) => self.buf_rings.next_group += 1,
                    Err(_) => bufs.drop_ring(),
                }
            }
        }
        let bufs = Rc::new(bufs);
        if bufs.group().is_some() {
            self.buf_rings.groups.push(bufs.clone());
        }
        bufs
    }

    /// At shutdown, once what was in flight has completed (or been leaked with its own `Rc`
    /// of the buffers): unregisters every group, so the kernel picks from none, and lets go of
    /// this driver's hold on their memory.
    pub(super) fn release_buf_rings(&mut self) {
        for bufs in std::mem::take(&mut self.buf_rings.groups) {
            if let (Some(group), None) = (bufs.group(), self.broken) {
                let _ = self.ring.submitter().unregister_buf_ring(group);
            }
        }
    }
}
