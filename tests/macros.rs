//! The `macros` feature: #[corio::test] under both drivers (and one named driver, and
//! workers), select! (biased, random, preconditions, patterns, else), join!, try_join!.
#![cfg(feature = "macros")]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

thread_local! {
    /// The drivers `records_its_driver` ran under, on this test thread.
    static SEEN: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Which driver runs this executor: after a timed park, epoll counts an epoll_wait, io_uring
/// an enter.
async fn driver_in_use() -> &'static str {
    corio::time::sleep(Duration::from_millis(1)).await;
    let s = corio::current_driver_stats();
    assert!((s.epoll_waits > 0) != (s.enters > 0), "{s:?}");
    if s.epoll_waits > 0 {
        "epoll"
    } else {
        "uring"
    }
}

#[corio::test]
async fn records_its_driver() {
    let d = driver_in_use().await;
    SEEN.with(|s| s.borrow_mut().push(d));
}

#[test]
fn a_test_without_a_driver_runs_under_both() {
    records_its_driver();
    let seen = SEEN.with(|s| s.take());
    match std::env::var("CORIO_DRIVER").ok().as_deref() {
        Some("uring") => assert_eq!(seen, ["uring"]),
        Some("epoll") => assert_eq!(seen, ["epoll"]),
        // Where the kernel refuses io_uring, its pass is skipped with a printed reason.
        _ => assert!(seen == ["uring", "epoll"] || seen == ["epoll"], "{seen:?}"),
    }
}

#[corio::test(driver = "epoll")]
async fn a_named_driver_is_the_one_used() -> std::io::Result<()> {
    assert_eq!(driver_in_use().await, "epoll");
    Ok(())
}

#[corio::test(workers = 2)]
async fn workers_serve_spawn_on() {
    assert_eq!(corio::worker_count(), 2);
    let on = corio::spawn_on(1, async { corio::worker_id() })
        .await
        .unwrap();
    assert_eq!(on, 1);
}

#[corio::test]
async fn biased_select_takes_the_first_ready_branch_in_order() {
    for _ in 0..20 {
        let v = corio::select! {
            biased;
            v = async { 1 } => v,
            v = async { 2 } => v,
        };
        assert_eq!(v, 1);
    }
}

#[corio::test]
async fn random_select_takes_every_ready_branch_sometimes() {
    let mut seen = [false; 3];
    for _ in 0..200 {
        let i = corio::select! {
            _ = async {} => 0,
            _ = async {} => 1,
            _ = async {} => 2,
        };
        seen[i] = true;
    }
    assert_eq!(seen, [true; 3]);
}

#[corio::test]
async fn select_skips_disabled_and_unmatched_branches_and_else_runs_when_all_are() {
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let v = corio::select! {
        _ = async move { p.set(true) }, if false => "disabled",
        Some(x) = async { None::<u8> } => { let _ = x; "unmatched" }
        Ok(mut x) = async { Ok::<u8, ()>(4) } => { x += 1; if x == 5 { "matched" } else { "?" } }
        else => "else",
    };
    assert_eq!(v, "matched");
    assert!(!polled.get(), "a disabled branch's future is never polled");
    let v = corio::select! {
        Some(_) = async { None::<u8> } => 1,
        else => 2,
    };
    assert_eq!(v, 2);
}

#[corio::test]
async fn a_read_that_loses_a_select_loses_no_bytes() {
    let (a, b) = corio::net::UnixStream::pair().unwrap();
    let lost = corio::select! {
        r = b.read(Vec::with_capacity(8)) => r.0.unwrap(),
        _ = corio::time::sleep(Duration::from_millis(5)) => 0,
    };
    assert_eq!(lost, 0);
    let (res, _) = a.write_all(&b"kept"[..]).await;
    res.unwrap();
    let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
    res.unwrap();
    assert_eq!(buf, b"kept");
}

#[corio::test]
async fn join_waits_for_all_and_try_join_stops_at_the_first_error() {
    let slow = async {
        corio::time::sleep(Duration::from_millis(10)).await;
        "slow"
    };
    let (a, b, c) = corio::join!(slow, async { 2 }, async { 3u8 });
    assert_eq!((a, b, c), ("slow", 2, 3));
    let ok: Result<(u8, &str), ()> = corio::try_join!(async { Ok(1) }, async { Ok("x") });
    assert_eq!(ok, Ok((1, "x")));
    let never = std::future::pending::<Result<u8, &str>>();
    let err: Result<(u8, u8), &str> = corio::try_join!(never, async { Err("fail") });
    assert_eq!(err, Err("fail"));
}
