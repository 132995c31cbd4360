//! Loop-order tests that need the executor's insides (black-box tests cannot stop the loop
//! between two of its steps).

use super::{context, spawn, Runtime};
use crate::DriverChoice;
use std::time::{Duration, Instant};

/// Defect 4 of issue 9: the grace period ends (the stop flag is set and the executor
/// notified) while a notification from another thread is still pending and its eventfd write
/// has already ended a park: the two notifications coalesce into one that is already spent.
/// The loop must still see the stop flag before it parks again.
#[test]
fn a_forced_stop_is_seen_when_its_wake_coalesces_with_a_spent_one() {
    for choice in [DriverChoice::IoUring, DriverChoice::Epoll] {
        match Runtime::builder().driver(choice).build() {
            Ok(rt) => forced_stop_on(rt),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                println!("skipped on {choice:?}: {e}")
            }
            Err(e) => panic!("{choice:?}: {e}"),
        }
    }
}

fn forced_stop_on(rt: Runtime) {
    let shutdown = rt.shutdown.clone();
    shutdown.set_remotes(vec![rt.core.remote().clone()]);
    let remote = rt.core.remote().clone();
    // If the loop parks for good, end the park after 5 s so the test fails instead of hanging.
    let rescue = remote.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        rescue.write_eventfd();
    });
    let start = Instant::now();
    let (s, r) = (shutdown.clone(), remote.clone());
    let out = rt.block_on_until(
        async move {
            spawn(async move {
                // A wake from another thread: `notified` is set and the eventfd written...
                std::thread::spawn(move || r.notify()).join().unwrap();
                // ...and a park consumes the eventfd, as a turn of the loop would.
                context::with_core(|core| core.park(false)).unwrap();
                // Now the grace period ends.
                s.force();
            });
            std::future::pending::<()>().await
        },
        &shutdown.forced,
    );
    assert!(out.unwrap().is_none());
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the loop parked past the forced stop ({:?})",
        start.elapsed()
    );
}
