//! The in-flight table: one slot per submitted operation, named by the SQE's user_data (the
//! ring's table), or by the tag its blocking-pool job reports back with (the pool's table,
//! `offload.rs`: the pool thread plays the kernel's part, its result the CQE's).
//!
//! Invariants (docs/architecture.md, "Slots" and "Ownership"):
//! - A slot is created when its SQE is pushed and removed only after its CQE has been reaped
//!   (or when the SQE never reached the SQ), so a CQE always finds the slot it was meant for,
//!   never a reused one.
//! - user_data is a [`Token`]: the slab key and a generation bumped by every insert. A CQE whose
//!   generation does not match is stale: reported, never delivered.
//! - While the op's future lives, the future owns the op's resources (buffer, fd, addresses);
//!   if the future is dropped first, the resources move into the slot (`Orphaned`) and are
//!   released by the CQE. Either way they outlive the kernel's use of them.
//! - A slot keeps the waker of the last op that used it (`Slot::waker`), also once free: the
//!   next op in that slot clones its task's waker only if it would not wake the same task
//!   (`will_wake`), and a CQE wakes by reference. Slots are reused last-freed first, so a task
//!   that collects one result and starts its next op gets its own slot back, waker and all. A
//!   kept waker is replaced by the next op's that differs, and dropped with the table.
//!
//! Every transition returns what the caller must do next (`#[must_use]`).

use crate::driver::op::{FileRef, Orphan};
use crate::driver::token::{next_generation, Token};
use std::task::{Context, Poll, Waker};

/// The life of one in-flight operation.
enum Lifecycle {
    /// No operation: the slot is on the free list.
    Free,
    /// Submitted; wake the slot's waker when the CQE arrives.
    Waiting,
    /// The CQE arrived; the result waits for the op's future to collect it.
    Completed { res: i32, flags: u32 },
    /// The future was dropped in flight: the slot owns the op's resources until the CQE.
    Orphaned(Box<dyn Orphan>),
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lifecycle::Free => f.write_str("Free"),
            Lifecycle::Waiting => f.write_str("Waiting"),
            Lifecycle::Completed { res, flags } => write!(f, "Completed({res}, {flags:#x})"),
            Lifecycle::Orphaned(_) => f.write_str("Orphaned"),
        }
    }
}

struct Slot {
    /// Bumped each time the slot is taken: the tag's generation.
    generation: u32,
    /// The next free slot while this one is free (`NONE`: the last).
    next_free: u32,
    /// The file the op works on, so the ops waiting on one file can be found.
    fd: Option<FileRef>,
    lifecycle: Lifecycle,
    /// The waker of the op in the slot, or of the last one (see the module docs): `Some`
    /// whenever the slot is `Waiting`.
    waker: Option<Waker>,
}

/// The end of the free list.
const NONE: u32 = u32::MAX;

/// What a CQE means for its slot.
#[must_use]
pub(crate) enum Delivery<'a> {
    /// Wake this task: its op's result waits in the slot (the slot keeps the waker).
    Wake(&'a Waker),
    /// The op's future is gone: hand the result to what it left (the slot is removed).
    Orphan(Box<dyn Orphan>, i32, u32),
    /// No slot has this user_data (a reused key, a second CQE): nothing to deliver.
    Stale,
}

/// What dropping an op's future means for its slot.
#[must_use]
pub(crate) enum Orphaned {
    /// Still in the kernel: the slot keeps the resources until the CQE; cancel the op.
    InFlight,
    /// Already completed: hand the result to what the op left (the slot is removed).
    Done(Box<dyn Orphan>, i32, u32),
}

/// The table: a vector of slots and a free list through it (a slot is found by its key in one
/// step, and a key is reused only after its slot was freed).
pub(crate) struct Slots {
    slots: Vec<Slot>,
    free: u32,
    used: usize,
}

impl Slots {
    pub(crate) fn with_capacity(n: usize) -> Slots {
        Slots {
            slots: Vec::with_capacity(n),
            free: NONE,
            used: 0,
        }
    }

    /// A new slot for an op on `fd` whose task is `waker`; returns its user_data. The waker is
    /// cloned only if the slot's last one would not wake the same task.
    #[inline(always)]
    pub(crate) fn insert(&mut self, fd: Option<FileRef>, waker: &Waker) -> u64 {
        self.used += 1;
        let key = self.free;
        if let Some(slot) = self.slots.get_mut(key as usize) {
            self.free = slot.next_free;
            slot.generation = next_generation(slot.generation);
            slot.fd = fd;
            // A free slot holds nothing to drop (no drop glue on the hot path).
            let free = std::mem::replace(&mut slot.lifecycle, Lifecycle::Waiting);
            debug_assert!(matches!(free, Lifecycle::Free), "{free:?}");
            std::mem::forget(free);
            match &mut slot.waker {
                Some(kept) if kept.will_wake(waker) => {}
                kept => *kept = Some(waker.clone()),
            }
            return Token::new(key as usize, slot.generation).raw();
        }
        let key = self.slots.len();
        self.slots.push(Slot {
            generation: 0,
            next_free: NONE,
            fd,
            lifecycle: Lifecycle::Waiting,
            waker: Some(waker.clone()),
        });
        Token::new(key, 0).raw()
    }

    /// Frees the slot at `key` (its lifecycle already taken).
    #[inline(always)]
    fn free(&mut self, key: usize) {
        let slot = &mut self.slots[key];
        slot.next_free = self.free;
        slot.fd = None;
        self.free = key as u32;
        self.used -= 1;
    }

    /// The slot `user_data` names, if it holds that op (the generation matches, not free).
    #[inline(always)]
    fn get(&mut self, user_data: u64) -> Option<&mut Slot> {
        let token = Token::from_raw(user_data);
        self.slots.get_mut(token.key()).filter(|s| {
            s.generation == token.generation() && !matches!(s.lifecycle, Lifecycle::Free)
        })
    }

    /// Removes a slot whose SQE never reached the SQ (nothing of it is in the kernel).
    pub(crate) fn forget(&mut self, user_data: u64) {
        if let Some(slot) = self.get(user_data) {
            slot.lifecycle = Lifecycle::Free;
            self.free(Token::from_raw(user_data).key());
        }
    }

    #[inline(always)]
    fn owned(&mut self, user_data: u64) -> &mut Slot {
        match self.get(user_data) {
            Some(slot) => slot,
            // The op owns its slot until it collects the result; anything else is a bug here.
            None => unreachable!("op used a slot it does not own: {user_data:#x}"),
        }
    }

    /// The op's future asks for its result: `Ready` (the slot is removed) or `Pending` with
    /// the task's waker recorded.
    #[inline(always)]
    pub(crate) fn poll(&mut self, user_data: u64, cx: &Context<'_>) -> Poll<(i32, u32)> {
        let token = Token::from_raw(user_data);
        let Slots { slots, free, used } = self;
        let slot = match slots.get_mut(token.key()) {
            Some(slot) if slot.generation == token.generation() => slot,
            // The op owns its slot until it collects the result; anything else is a bug here.
            _ => unreachable!("op used a slot it does not own: {user_data:#x}"),
        };
        match slot.lifecycle {
            Lifecycle::Completed { res, flags } => {
                // A completed slot holds nothing to drop.
                std::mem::forget(std::mem::replace(&mut slot.lifecycle, Lifecycle::Free));
                // `free`, on the slot in hand.
                slot.next_free = *free;
                slot.fd = None;
                *free = token.key() as u32;
                *used -= 1;
                Poll::Ready((res, flags))
            }
            Lifecycle::Waiting => {
                match &mut slot.waker {
                    Some(kept) if kept.will_wake(cx.waker()) => {}
                    kept => *kept = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            ref state @ (Lifecycle::Orphaned(_) | Lifecycle::Free) => {
                unreachable!("polled an op that is not its slot's: {state:?}")
            }
        }
    }

    /// The op's future is gone: the slot takes its resources.
    pub(crate) fn orphan(&mut self, user_data: u64, data: Box<dyn Orphan>) -> Orphaned {
        let slot = self.owned(user_data);
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Orphaned(data)) {
            Lifecycle::Waiting => Orphaned::InFlight,
            Lifecycle::Completed { res, flags } => {
                let Lifecycle::Orphaned(data) =
                    std::mem::replace(&mut slot.lifecycle, Lifecycle::Free)
                else {
                    unreachable!("the slot was just orphaned")
                };
                self.free(Token::from_raw(user_data).key());
                Orphaned::Done(data, res, flags)
            }
            state @ (Lifecycle::Orphaned(_) | Lifecycle::Free) => {
                unreachable!("op orphaned twice: {state:?}")
            }
        }
    }

    /// A CQE arrived for `user_data`.
    #[inline(always)]
    pub(crate) fn complete(&mut self, user_data: u64, res: i32, flags: u32) -> Delivery<'_> {
        let token = Token::from_raw(user_data);
        let Slots { slots, free, used } = self;
        let Some(slot) = slots.get_mut(token.key()) else {
            return Delivery::Stale;
        };
        if slot.generation != token.generation() {
            return Delivery::Stale;
        }
        match slot.lifecycle {
            Lifecycle::Waiting => {
                slot.lifecycle = Lifecycle::Completed { res, flags };
                match &slot.waker {
                    Some(waker) => Delivery::Wake(waker),
                    None => unreachable!("a waiting slot has a waker"),
                }
            }
            Lifecycle::Orphaned(_) => {
                let Lifecycle::Orphaned(data) =
                    std::mem::replace(&mut slot.lifecycle, Lifecycle::Free)
                else {
                    unreachable!("matched Orphaned above")
                };
                // `free`, on the slot in hand.
                slot.next_free = *free;
                slot.fd = None;
                *free = token.key() as u32;
                *used -= 1;
                Delivery::Orphan(data, res, flags)
            }
            // Single-shot ops get one CQE; a second one is stale. The first result (and its
            // flags) stays.
            Lifecycle::Completed { .. } | Lifecycle::Free => Delivery::Stale,
        }
    }

    /// The slots in use, with their tags.
    fn live(&self) -> impl Iterator<Item = (u64, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.lifecycle, Lifecycle::Free))
            .map(|(k, s)| (Token::new(k, s.generation).raw(), s))
    }

    /// Wakes the tasks of the ops waiting on `fd`, leaving the ops in flight (they poll again
    /// and see, say, a deadline that moved).
    pub(crate) fn wake_fd(&self, fd: FileRef) {
        for (_, slot) in self.live() {
            if let (true, Lifecycle::Waiting, Some(waker)) =
                (slot.fd == Some(fd), &slot.lifecycle, &slot.waker)
            {
                waker.wake_by_ref();
            }
        }
    }

    /// user_data of every op the kernel has not answered yet.
    pub(crate) fn in_flight(&self) -> Vec<u64> {
        self.live()
            .filter(|(_, s)| !matches!(s.lifecycle, Lifecycle::Completed { .. }))
            .map(|(ud, _)| ud)
            .collect()
    }

    /// True if the op tagged `user_data` has not been answered by the kernel yet.
    pub(crate) fn is_in_flight(&self, user_data: u64) -> bool {
        let token = Token::from_raw(user_data);
        self.slots.get(token.key()).is_some_and(|s| {
            s.generation == token.generation()
                && matches!(s.lifecycle, Lifecycle::Waiting | Lifecycle::Orphaned(_))
        })
    }

    /// True if an op on `fd` has not been answered by the kernel yet.
    pub(crate) fn any_in_flight_on(&self, fd: FileRef) -> bool {
        self.live().any(|(_, s)| {
            s.fd == Some(fd) && matches!(s.lifecycle, Lifecycle::Waiting | Lifecycle::Orphaned(_))
        })
    }

    pub(crate) fn any_in_flight(&self) -> bool {
        self.live()
            .any(|(_, s)| matches!(s.lifecycle, Lifecycle::Waiting | Lifecycle::Orphaned(_)))
    }

    /// Shutdown gave up waiting: what dropped ops left in the kernel's hands is leaked, never
    /// freed, so a late write by the kernel lands in memory nobody reuses.
    pub(crate) fn leak_orphans(&mut self) {
        for slot in &mut self.slots {
            if let Lifecycle::Orphaned(_) = slot.lifecycle {
                let Lifecycle::Orphaned(data) = std::mem::replace(
                    &mut slot.lifecycle,
                    Lifecycle::Completed { res: 0, flags: 0 },
                ) else {
                    unreachable!("matched Orphaned above")
                };
                std::mem::forget(data);
            }
        }
    }

    /// Slots in use: in flight, or completed and not yet collected.
    pub(crate) fn len(&self) -> usize {
        self.used
    }
}
