//! [`yield_now`]: give the other tasks of this executor a turn.

use std::future::poll_fn;
use std::task::Poll;

/// Returns `Pending` once, waking itself first: the task goes to the back of the run queue,
/// so the tasks queued before it (and, every 128 polls, the driver) run first.
///
/// ```
/// corio::block_on(async {
///     let other = corio::spawn(async { 1 });
///     corio::task::yield_now().await; // `other` runs now
///     assert!(other.is_finished());
/// });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
