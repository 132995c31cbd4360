//! The waker of a task: a `RawWaker` over its `Arc<Task>`, so that the executor can hand a
//! task its waker for one poll without touching the reference count (`waker_ref`), and
//! only a clone — kept by a socket, a timer, a channel — pays for one.

use super::Task;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for `task` borrowed for the length of one poll: no reference is taken or given
/// back; a clone of it is a full waker.
pub(crate) struct WakerRef<'a> {
    waker: ManuallyDrop<Waker>,
    _task: PhantomData<&'a Arc<Task>>,
}

impl Deref for WakerRef<'_> {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

pub(crate) fn waker_ref(task: &Arc<Task>) -> WakerRef<'_> {
    let raw = RawWaker::new(Arc::as_ptr(task).cast(), &VTABLE);
    // SAFETY: the vtable's functions keep the `Arc<Task>` contract (clone adds a reference,
    // wake and drop give one back); this waker is never dropped (ManuallyDrop) and lives no
    // longer than the borrow of `task`, which holds the reference it stands for.
    let waker = unsafe { Waker::from_raw(raw) };
    WakerRef {
        waker: ManuallyDrop::new(waker),
        _task: PhantomData,
    }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from an `Arc<Task>` whose reference the calling waker holds.
    unsafe { Arc::increment_strong_count(data.cast::<Task>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: the waker owned one reference; it moves into this Arc.
    let task = unsafe { Arc::from_raw(data.cast::<Task>()) };
    task.wake();
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker holds a reference for as long as this call; ManuallyDrop keeps it.
    let task = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Task>()) });
    task.wake_by_ref();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker owned one reference; it is given back here.
    drop(unsafe { Arc::from_raw(data.cast::<Task>()) });
}
