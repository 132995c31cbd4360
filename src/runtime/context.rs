//! The thread-local pointer to the executor running on this thread.
//!
//! Invariant: `CURRENT` is non-null only while an [`Enter`] guard lives, and the guard holds an
//! `Rc<Core>`, so the pointer is valid whenever it is non-null.

use super::executor::Core;
use crate::driver::Driver;
use std::cell::Cell;
use std::ptr;
use std::rc::Rc;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Marks `core` as this thread's executor until dropped.
pub(crate) struct Enter {
    core: Rc<Core>,
    /// The executor that was current before (only for `enter_for_shutdown`), restored on drop.
    prev: *const Core,
}

/// Makes `core` current. Panics if another runtime is already running on this thread: a
/// single-threaded executor cannot be nested (`block_on` inside `block_on` would deadlock).
pub(crate) fn enter(core: &Rc<Core>) -> Enter {
    CURRENT.with(|c| {
        assert!(
            c.get().is_null(),
            "cannot start a corio runtime from within a corio runtime"
        );
        c.set(Rc::as_ptr(core));
    });
    Enter {
        core: core.clone(),
        prev: ptr::null(),
    }
}

/// Makes `core` current to shut it down, even inside another runtime's task (a runtime dropped
/// there must not panic); the previous executor is current again when the guard drops. Nothing
/// of the previous executor runs meanwhile, so its pointer stays valid: its own `Enter` guard,
/// further up this thread's stack, outlives this one.
pub(crate) fn enter_for_shutdown(core: &Rc<Core>) -> Enter {
    let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(core)));
    Enter {
        core: core.clone(),
        prev,
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
        let _ = &self.core;
    }
}

/// Runs `f` with this thread's executor, or returns `None` outside a runtime.
#[inline(always)]
pub(crate) fn try_with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null means an `Enter` guard holding an `Rc<Core>` is alive (module invariant).
    Some(f(unsafe { &*p }))
}

/// Runs `f` with this thread's executor and `value`, or `outside` with `value` when no runtime
/// is current.
#[inline(always)]
pub(crate) fn with_core_or<T, R>(
    value: T,
    f: impl FnOnce(&Core, T) -> R,
    outside: impl FnOnce(T) -> R,
) -> R {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return outside(value);
    }
    // SAFETY: non-null means an `Enter` guard holding an `Rc<Core>` is alive (module invariant).
    f(unsafe { &*p }, value)
}

/// Runs `f` with this thread's executor. Panics outside a runtime: that is an API misuse
/// (calling `spawn` or doing I/O with no runtime), not an I/O outcome.
#[inline(always)]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> R {
    try_with_core(f).expect("this operation must be called from within a corio runtime")
}

/// Runs `f` with this thread's executor's id and driver. Panics outside a runtime (an API
/// misuse, as for `with_core`), and if the driver is already in use further up this thread's
/// stack (a bug in corio: nothing calls back into the driver while it runs).
pub(crate) fn with_driver<R>(f: impl FnOnce(u64, &mut Driver) -> R) -> R {
    with_core(|core| f(core.id(), &mut core.driver.borrow_mut()))
}

/// Runs `f` with this thread's executor's id and driver, if there is a runtime here and its
/// driver is free (it is not while the driver delivers a completion that drops an fd, say).
pub(crate) fn try_with_driver<R>(f: impl FnOnce(u64, &mut Driver) -> R) -> Option<R> {
    try_with_core(|core| {
        let mut driver = core.driver.try_borrow_mut().ok()?;
        Some(f(core.id(), &mut driver))
    })
    .flatten()
}
