//! The ring's table of registered files (`Builder::registered_fds`): sockets whose ops name a
//! slot of this table (IOSQE_FIXED_FILE) instead of an fd, sparing the kernel the fd lookup and
//! the file's reference count on every op.
//!
//! Rules (docs/architecture.md, "Registered descriptors"):
//! - The kernel allocates every slot (direct accept and IORING_OP_FILES_UPDATE with
//!   IORING_FILE_INDEX_ALLOC); corio never picks an index itself, so no slot is used twice.
//! - A direct accept that finds the table full loses its connection (the kernel closes the
//!   accepted file when it cannot install it). So corio counts the slots taken, reserving one
//!   for each allocating SQE before it is pushed, and gives the slot back when its close has
//!   completed; an accept that cannot reserve one is a plain accept.
//! - A slot is owned like an fd: by one [`FixedFile`], then by the socket's `SharedFd`, and it
//!   is released only when the last operation on it has let go (the fd layer's rule), so no op
//!   in the kernel names a slot that is being reused.
//! - Releasing needs the ring (IORING_OP_CLOSE with the slot), but a socket may be dropped
//!   where the driver cannot be reached (inside its own completion handling). So a release is
//!   queued here, behind an `Rc` every owner holds, and the ring pushes the closes at its next
//!   park. A table whose ring is gone needs none: closing the ring frees every slot.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// One ring's table: its size, and the slots released and not yet closed.
#[derive(Clone)]
pub(crate) struct FixedTable {
    inner: Rc<Inner>,
}

struct Inner {
    size: u32,
    released: RefCell<Vec<u32>>,
    /// Slots in use, or reserved by an allocating SQE in flight, or released and not yet
    /// closed.
    taken: Cell<u32>,
}

/// A slot of a ring's table, owned: dropping it releases the slot.
pub(crate) struct FixedFile {
    index: u32,
    table: FixedTable,
    /// Cleared by `into_index`: the slot is closed another way.
    armed: bool,
}

impl FixedTable {
    pub(crate) fn new(size: u32) -> FixedTable {
        FixedTable {
            inner: Rc::new(Inner {
                size,
                released: RefCell::new(Vec::new()),
                taken: Cell::new(0),
            }),
        }
    }

    pub(crate) fn size(&self) -> u32 {
        self.inner.size
    }

    /// Reserves a slot for an SQE that will have the kernel allocate one; false if the table
    /// is full (then the op must not allocate).
    pub(crate) fn try_reserve(&self) -> bool {
        let taken = self.inner.taken.get();
        if taken >= self.inner.size {
            return false;
        }
        self.inner.taken.set(taken + 1);
        true
    }

    /// Gives back a reservation whose SQE allocated nothing (it failed), or a slot whose close
    /// has completed.
    pub(crate) fn unreserve(&self) {
        self.inner
            .taken
            .set(self.inner.taken.get().saturating_sub(1));
    }

    /// Takes ownership of slot `index`, which the kernel just allocated under a reservation.
    pub(crate) fn adopt(&self, index: u32) -> FixedFile {
        FixedFile {
            index,
            table: self.clone(),
            armed: true,
        }
    }

    /// The slots released since the last call: the ring closes them.
    pub(crate) fn take_released(&self) -> Vec<u32> {
        std::mem::take(&mut *self.inner.released.borrow_mut())
    }

    fn release(&self, index: u32) {
        self.inner.released.borrow_mut().push(index);
    }
}

impl FixedFile {
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Gives up ownership without releasing the slot: the caller closes it (an explicit
    /// `close()`, with IORING_OP_CLOSE on the slot) and then calls `unreserve` on the table.
    pub(crate) fn into_index(mut self) -> (u32, FixedTable) {
        self.armed = false;
        (self.index, self.table.clone())
    }
}

impl Drop for FixedFile {
    fn drop(&mut self) {
        if self.armed {
            self.table.release(self.index);
        }
    }
}

impl fmt::Debug for FixedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FixedFile({})", self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::FixedTable;

    #[test]
    fn reservations_stop_at_the_table_size_and_come_back_when_closed() {
        let table = FixedTable::new(2);
        assert!(table.try_reserve() && table.try_reserve());
        assert!(!table.try_reserve(), "a third slot in a table of two");
        let a = table.adopt(0);
        let b = table.adopt(1);
        drop(a);
        assert_eq!(table.take_released(), [0]);
        // Released but not yet closed: still taken.
        assert!(!table.try_reserve());
        table.unreserve();
        assert!(table.try_reserve());
        let (index, _) = b.into_index();
        assert_eq!(index, 1);
        assert!(
            table.take_released().is_empty(),
            "into_index does not release"
        );
    }
}
