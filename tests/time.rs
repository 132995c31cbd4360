//! Timers: never early, cheap in numbers, and `timeout` leaves sockets usable. Runs under both
//! drivers.

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::time::{interval, sleep, sleep_until, timeout, Instant};
use corio::DriverKind;
use std::io::ErrorKind;
use std::time::Duration;
use support::run_test;

#[test]
fn sleeps_never_fire_early() {
    run_test(async {
        for us in [0u64, 1, 10, 100, 999, 1000, 1001, 2500, 10_000, 30_000] {
            let d = Duration::from_micros(us);
            let start = Instant::now();
            sleep(d).await;
            assert!(
                start.elapsed() >= d,
                "{d:?} fired after {:?}",
                start.elapsed()
            );
        }
        let deadline = Instant::now() + Duration::from_millis(15);
        sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        // Concurrent sleeps of many lengths, each checked.
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                corio::spawn(async move {
                    let d = Duration::from_micros(i * 137 % 20_000);
                    let start = Instant::now();
                    sleep(d).await;
                    start.elapsed() >= d
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap(), "a sleep fired early");
        }
    });
}

#[test]
fn timeout_elapses_or_passes_through() {
    run_test(async {
        let start = Instant::now();
        let err = timeout(Duration::from_millis(20), std::future::pending::<()>())
            .await
            .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(20));
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), ErrorKind::TimedOut);
        assert_eq!(
            timeout(Duration::from_secs(10), async { 5 }).await.unwrap(),
            5
        );
    });
}

#[test]
fn interval_ticks_on_period_never_early() {
    run_test(async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_millis(10));
        assert_eq!(iv.period(), Duration::from_millis(10));
        let first = iv.tick().await;
        for k in 1..=5u32 {
            let t = iv.tick().await;
            assert!(t >= first + Duration::from_millis(10) * k, "tick {k} early");
            assert!(Instant::now() >= t);
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

/// Ten thousand pending timers cost no kernel operations of their own: the nearest deadline is
/// passed to the driver's wait.
#[test]
fn ten_thousand_timers_are_cheap() {
    run_test(async {
        yield_now().await;
        let before = corio::current_driver_stats();
        let ticks_before = corio::current_stats().ticks;
        let base = corio::time::pending_timers();
        let tasks: Vec<_> = (0..10_000u64)
            .map(|i| corio::spawn(sleep(Duration::from_millis(200 + i % 50))))
            .collect();
        // Every task gets its first poll within a few turns (128 tasks per turn).
        let mut peak = 0;
        for _ in 0..100 {
            yield_now().await;
            peak = peak.max(corio::time::pending_timers());
        }
        assert!(peak >= 9_000, "peak {peak} pending timers");
        for t in tasks {
            t.await.unwrap();
        }
        let after = corio::current_driver_stats();
        assert_eq!(corio::time::pending_timers(), base);
        let ops = after.ops_submitted - before.ops_submitted;
        let waits = (after.enters - before.enters) + (after.epoll_waits - before.epoll_waits);
        assert!(ops < 100, "{ops} kernel ops for 10 000 timers");
        // At most one wait per loop turn: timers add no kernel round trips of their own.
        let ticks = corio::current_stats().ticks - ticks_before;
        assert!(waits <= ticks + 2, "{waits} waits in {ticks} turns");
    });
}

#[test]
fn dropped_sleeps_leave_no_timer() {
    run_test(async {
        let base = corio::time::pending_timers();
        let sleeps: Vec<_> = (0..100)
            .map(|_| Box::pin(sleep(Duration::from_secs(60))))
            .collect();
        for mut s in sleeps {
            let _ = timeout(Duration::ZERO, &mut s).await;
        }
        assert_eq!(corio::time::pending_timers(), base);
    });
}

/// `timeout(d, stream.read(buf))` on an idle socket elapses, and the socket stays usable.
#[test]
fn timeout_around_a_read_keeps_the_socket_usable() {
    run_test(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap();
        for _ in 0..5 {
            let res = timeout(
                Duration::from_millis(10),
                client.read(Vec::with_capacity(8)),
            )
            .await;
            assert!(res.is_err(), "an idle read must time out");
        }
        let (res, _) = server.write_all(&b"after"[..]).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"after");
    });
}

#[test]
fn kernel_sleep_on_each_driver() {
    run_test(async {
        let start = Instant::now();
        corio::op::kernel_sleep(Duration::from_millis(15))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(15));
        if support::driver() == DriverKind::IoUring {
            assert!(corio::current_driver_stats().ops_submitted > 0);
        }
    });
}

/// Yields to the executor once.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

#[test]
fn interval_is_a_stream() {
    use futures_core::Stream;
    run_test(async {
        let mut iv = std::pin::pin!(interval(Duration::from_millis(5)));
        let mut last = None;
        for _ in 0..3 {
            let t = std::future::poll_fn(|cx| iv.as_mut().poll_next(cx))
                .await
                .expect("an interval never ends");
            if let Some(prev) = last {
                assert!(t >= prev + Duration::from_millis(5));
            }
            last = Some(t);
        }
    });
}

/// Sleeps wake in deadline order, whatever order they were created in.
#[test]
fn timers_fire_in_deadline_order() {
    run_test(async {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let delays = [30u64, 5, 20, 1, 25, 10, 15];
        let tasks: Vec<_> = delays
            .iter()
            .map(|&ms| {
                let order = order.clone();
                corio::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut sorted = delays.to_vec();
        sorted.sort();
        assert_eq!(*order.borrow(), sorted);
    });
}
