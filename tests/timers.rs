//! Timers: sleep / sleep_until never early, timeout (elapsed or passed through), interval,
//! many pending timers at the cost of one wait, timeouts around reads, kernel_sleep, and the
//! pending-timer count. Runs under both drivers.

mod support;

use corio::buf::IoBuf;
use corio::time::{self, Elapsed, Instant};
use corio::DriverKind;
use std::future::{pending, poll_fn, Future};
use std::io::{self, ErrorKind};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use support::{driver, pattern, run_test, tcp_pair};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Timers pending before the test's own: the time limit of `support::run_test` is one, and it
/// is registered once the test's future first returns Pending, hence the yield.
async fn base_timers() -> usize {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
    time::pending_timers()
}

/// Concurrent sleeps of many durations: each one measured from before it was created.
#[test]
fn sleeps_of_many_durations_never_fire_early() {
    run_test(|| async {
        let durations: Vec<Duration> = [0u64, 1, 2, 3, 4, 5, 7, 9, 11, 13, 17, 20, 25, 33, 50, 80]
            .iter()
            .map(|&m| ms(m))
            .chain([Duration::from_micros(1), Duration::from_micros(250)])
            .chain([Duration::from_nanos(1), Duration::from_micros(1500)])
            .collect();
        let handles: Vec<_> = durations
            .iter()
            .map(|&d| {
                corio::spawn(async move {
                    let start = std::time::Instant::now();
                    time::sleep(d).await;
                    start.elapsed()
                })
            })
            .collect();
        for (d, h) in durations.iter().zip(handles) {
            let elapsed = h.await.unwrap();
            assert!(elapsed >= *d, "sleep({d:?}) woke after {elapsed:?}");
            assert!(elapsed < *d + Duration::from_secs(5), "{d:?}: {elapsed:?}");
        }
        // The same, one after another.
        for m in [1u64, 2, 5, 10] {
            let start = std::time::Instant::now();
            time::sleep(ms(m)).await;
            assert!(start.elapsed() >= ms(m));
        }
    });
}

#[test]
fn sleep_until_never_fires_early_and_past_deadlines_are_ready() {
    run_test(|| async {
        let base = base_timers().await;
        for m in [1u64, 3, 10, 30] {
            let deadline = Instant::now() + ms(m);
            let s = time::sleep_until(deadline);
            assert_eq!(s.deadline(), deadline);
            s.await;
            assert!(Instant::now() >= deadline);
        }
        // A deadline in the past, or zero duration, completes on the first poll.
        let past = Instant::now()
            .checked_sub(ms(5))
            .unwrap_or_else(Instant::now);
        let mut polls = 0;
        let mut s = pin!(time::sleep_until(past));
        poll_fn(|cx| {
            polls += 1;
            s.as_mut().poll(cx)
        })
        .await;
        assert_eq!(polls, 1);
        let mut z = pin!(time::sleep(Duration::ZERO));
        assert!(poll_fn(|cx| Poll::Ready(z.as_mut().poll(cx)))
            .await
            .is_ready());
        assert_eq!(time::pending_timers() - base, 0);
    });
}

#[test]
fn sleep_reset_moves_the_deadline() {
    run_test(|| async {
        let base = base_timers().await;
        let start = Instant::now();
        let mut s = time::sleep(Duration::from_secs(3600));
        // Register it, then move it close.
        let mut p = pin!(&mut s);
        assert!(poll_fn(|cx| Poll::Ready(p.as_mut().poll(cx)))
            .await
            .is_pending());
        assert_eq!(time::pending_timers() - base, 1);
        s.reset(start + ms(20));
        assert_eq!(s.deadline(), start + ms(20));
        (&mut s).await;
        assert!(start.elapsed() >= ms(20) && start.elapsed() < Duration::from_secs(5));
        // A completed sleep can be re-armed.
        let again = Instant::now() + ms(5);
        s.reset(again);
        s.await;
        assert!(Instant::now() >= again);
        assert_eq!(time::pending_timers() - base, 0);
    });
}

#[test]
fn timeout_elapses_on_a_pending_future() {
    run_test(|| async {
        let base = base_timers().await;
        for m in [0u64, 1, 10, 25] {
            let start = std::time::Instant::now();
            let res = time::timeout(ms(m), pending::<()>()).await;
            let elapsed = start.elapsed();
            let err: Elapsed = res.unwrap_err();
            assert!(
                elapsed >= ms(m),
                "timeout({m} ms) elapsed after {elapsed:?}"
            );
            assert_eq!(err.to_string(), "deadline has elapsed");
            let io_err: io::Error = err.into();
            assert_eq!(io_err.kind(), ErrorKind::TimedOut);
            // `?` converts it inside an io::Result function.
            let f = || -> io::Result<()> { Err(err)? };
            assert_eq!(f().unwrap_err().kind(), ErrorKind::TimedOut);
        }
        assert_eq!(time::pending_timers() - base, 0);
    });
}

#[test]
fn timeout_passes_through_a_future_that_completes_first() {
    run_test(|| async {
        let base = base_timers().await;
        // Ready at once, even with a zero duration: the future is polled before the timer.
        assert_eq!(time::timeout(Duration::ZERO, async { 5 }).await, Ok(5));
        // Completes after a short sleep, well before a long deadline.
        let start = Instant::now();
        let v = time::timeout(Duration::from_secs(10), async {
            time::sleep(ms(10)).await;
            "done"
        })
        .await;
        assert_eq!(v, Ok("done"));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Its timer is gone, so nothing fires later.
        assert_eq!(time::pending_timers() - base, 0);
        // Nested: the inner (shorter) one elapses, the outer passes its result through.
        let r = time::timeout(
            Duration::from_secs(10),
            time::timeout(ms(5), pending::<()>()),
        )
        .await;
        assert!(matches!(r, Ok(Err(_))), "{r:?}");
        // The output of an I/O future comes through as is.
        let (a, b) = tcp_pair().await;
        let (res, _) = a.write_all(&b"ping"[..]).await;
        res.unwrap();
        let (res, buf) =
            time::timeout(Duration::from_secs(10), b.read_exact(Vec::with_capacity(4)))
                .await
                .unwrap();
        res.unwrap();
        assert_eq!(buf, b"ping");
    });
}

#[test]
fn interval_ticks_on_period_and_never_early() {
    run_test(|| async {
        let period = ms(10);
        let mut iv = time::interval(period);
        assert_eq!(iv.period(), period);
        let first = iv.tick().await;
        assert!(Instant::now() >= first);
        let mut prev = first;
        for k in 1..=8u32 {
            let at = iv.tick().await;
            assert!(Instant::now() >= at, "tick {k} returned before its instant");
            // On the grid, and never before its slot (a late wake may skip slots).
            assert_eq!(
                (at - first).as_nanos() % period.as_nanos(),
                0,
                "tick {k} off grid"
            );
            assert!(at >= first + period * k);
            assert!(at > prev);
            prev = at;
        }
        assert!(first.elapsed() >= period * 8);

        // A stall of several periods: missed ticks are skipped, not bunched, and the grid is kept.
        std::thread::sleep(period * 4 + ms(3));
        let before_late = Instant::now();
        // The one tick that was due during the stall, at once: on the grid, inside the stall
        // (prev + period as a rule, one slot later where the last tick itself woke more than a
        // period late on a busy machine).
        let late = iv.tick().await;
        assert!(
            late >= prev + period && late <= before_late,
            "{late:?} {prev:?}"
        );
        assert_eq!((late - first).as_nanos() % period.as_nanos(), 0);
        let next = iv.tick().await;
        assert!(Instant::now() >= next);
        assert_eq!((next - first).as_nanos() % period.as_nanos(), 0);
        // The ticks missed during the stall were skipped: the next one is after the stall.
        assert!(next > before_late, "bunched tick");
        assert!(next - late >= period * 4);
    });
}

#[test]
#[should_panic(expected = "non-zero")]
fn interval_of_zero_panics() {
    let _ = time::interval(Duration::ZERO);
}

/// 10 000 pending sleeps (on 40 distinct deadlines) complete, and the kernel sees one wait per
/// loop turn, never one timer each: no SQE per sleep on io_uring, and far fewer waits than
/// timers on either driver.
#[test]
fn ten_thousand_sleeps_cost_few_kernel_waits() {
    const N: u64 = 10_000;
    run_test(|| async {
        let base = base_timers().await;
        let d0 = corio::current_driver_stats();
        let e0 = corio::current_stats();
        let done = Rc::new(std::cell::Cell::new(0u64));
        let start = Instant::now();
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let done = done.clone();
                // 40 distinct deadlines, 1..=40 ms after a common start.
                let deadline = start + ms(1 + i % 40);
                corio::spawn(async move {
                    time::sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline);
                    done.set(done.get() + 1);
                })
            })
            .collect();
        assert!(time::pending_timers() - base <= N as usize);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(done.get(), N);
        assert_eq!(time::pending_timers() - base, 0);
        let elapsed = start.elapsed();
        let d1 = corio::current_driver_stats();
        let e1 = corio::current_stats();
        let ticks = e1.ticks - e0.ticks;
        println!("{N} sleeps: {ticks} loop turns in {elapsed:?}; driver {d0:?} -> {d1:?}");
        assert!(
            ticks < N / 10,
            "{ticks} loop turns for {N} sleeps in {elapsed:?}"
        );
        match driver() {
            DriverKind::IoUring => {
                let submitted = d1.ops_submitted - d0.ops_submitted;
                let enters = d1.enters - d0.enters;
                assert!(submitted < 100, "{submitted} SQEs for {N} sleeps");
                assert!(enters < N / 10, "{enters} enters for {N} sleeps");
            }
            DriverKind::Epoll => {
                let waits = d1.epoll_waits - d0.epoll_waits;
                assert!(waits < N / 10, "{waits} epoll_waits for {N} sleeps");
                assert_eq!(d1.ops_submitted, d0.ops_submitted);
            }
        }
    });
}

/// Sleeps dropped before they fire (by timeouts, by aborted tasks, or polled once and
/// dropped) leave no timer behind.
#[test]
fn pending_timers_return_to_zero() {
    run_test(|| async {
        let base = base_timers().await;
        assert_eq!(time::pending_timers() - base, 0);
        // Polled once (registered), then dropped.
        {
            let mut sleeps: Vec<_> = (0..100)
                .map(|i| Box::pin(time::sleep(Duration::from_secs(100 + i))))
                .collect();
            poll_fn(|cx| {
                for s in &mut sleeps {
                    assert!(s.as_mut().poll(cx).is_pending());
                }
                Poll::Ready(())
            })
            .await;
            assert_eq!(time::pending_timers() - base, 100);
        }
        assert_eq!(time::pending_timers() - base, 0);

        // Timeouts whose futures win drop their sleeps.
        for _ in 0..50 {
            let v = time::timeout(Duration::from_secs(60), async {
                time::sleep(ms(1)).await;
                1
            })
            .await;
            assert_eq!(v, Ok(1));
        }
        assert_eq!(time::pending_timers() - base, 0);

        // Tasks sleeping for an hour, aborted.
        let tasks: Vec<_> = (0..50)
            .map(|_| corio::spawn(time::sleep(Duration::from_secs(3600))))
            .collect();
        time::sleep(ms(5)).await;
        assert_eq!(time::pending_timers() - base, 50);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            assert!(t.await.unwrap_err().is_cancelled());
        }
        assert_eq!(time::pending_timers() - base, 0);

        // A re-polled sleep keeps one timer, not one per poll.
        let mut s = pin!(time::sleep(Duration::from_secs(60)));
        for _ in 0..10 {
            assert!(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx)))
                .await
                .is_pending());
        }
        assert_eq!(time::pending_timers() - base, 1);
    });
}

/// A timeout around a read on an idle socket elapses; the socket stays usable and the next
/// read gets exactly what the peer sends afterwards.
#[test]
fn timeout_around_an_idle_read_leaves_the_socket_usable() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        for m in [1u64, 5, 20] {
            let start = std::time::Instant::now();
            let r = time::timeout(ms(m), b.read(Vec::with_capacity(64))).await;
            assert!(
                r.is_err(),
                "a read on an idle socket completed: {:?}",
                r.map(|x| x.0)
            );
            assert!(start.elapsed() >= ms(m));
        }
        let (res, _) = a.write_all(&b"late data"[..]).await;
        res.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(9)).await;
        res.unwrap();
        assert_eq!(buf, b"late data");
        // Both directions still work.
        let (res, _) = b.write_all(&b"reply"[..]).await;
        res.unwrap();
        let (res, buf) = a.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"reply");
    });
}

/// Reads repeatedly cut short by tiny timeouts while data streams in lose no byte and
/// duplicate none: cancelled reads are lossless on both drivers.
#[test]
fn reads_interrupted_by_timeouts_lose_no_bytes() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        let data = pattern(7, 256 * 1024);
        let expected = data.clone();
        let writer = corio::spawn(async move {
            let mut data = data;
            let mut off = 0;
            let mut i = 0u64;
            while off < data.len() {
                let n = (1 + (i * 7919) % 9000) as usize;
                let end = (off + n).min(data.len());
                let (res, d) = a.write_all(data.slice(off..end)).await;
                res.unwrap();
                data = d.into_inner();
                off = end;
                i += 1;
                if i.is_multiple_of(8) {
                    time::sleep(ms(1)).await;
                }
            }
            a
        });
        let mut got = Vec::with_capacity(expected.len());
        let mut timeouts = 0;
        while got.len() < expected.len() {
            let buf = Vec::with_capacity(4096);
            match time::timeout(Duration::from_micros(200), b.read(buf)).await {
                Ok((res, buf)) => {
                    let n = res.unwrap();
                    assert!(n > 0, "EOF after {} bytes", got.len());
                    got.extend_from_slice(&buf);
                }
                Err(_) => timeouts += 1,
            }
        }
        let _a = writer.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "stream corrupted ({timeouts} timeouts)");
        println!("{timeouts} reads timed out");
    });
}

#[test]
fn kernel_sleep_never_fires_early_on_either_driver() {
    run_test(|| async {
        let base = base_timers().await;
        for m in [0u64, 1, 5, 20] {
            let start = std::time::Instant::now();
            corio::op::kernel_sleep(ms(m)).await.unwrap();
            let elapsed = start.elapsed();
            assert!(elapsed >= ms(m), "kernel_sleep({m} ms) after {elapsed:?}");
            assert!(elapsed < Duration::from_secs(5));
        }
        // Many at once, each timed by the kernel.
        let d0 = corio::current_driver_stats();
        let handles: Vec<_> = (0..50u64)
            .map(|i| {
                corio::spawn(async move {
                    let d = ms(1 + i % 10);
                    let start = std::time::Instant::now();
                    corio::op::kernel_sleep(d).await.unwrap();
                    assert!(start.elapsed() >= d);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let d1 = corio::current_driver_stats();
        if driver() == DriverKind::IoUring {
            // One IORING_OP_TIMEOUT SQE each, unlike `sleep`.
            assert!(d1.ops_submitted - d0.ops_submitted >= 50, "{d0:?} {d1:?}");
        }
        // A kernel sleep dropped in flight is cancelled cleanly.
        let r = time::timeout(ms(5), corio::op::kernel_sleep(Duration::from_secs(3600))).await;
        assert!(r.is_err());
        corio::op::kernel_sleep(ms(1)).await.unwrap();
        assert_eq!(time::pending_timers() - base, 0);
    });
}

#[test]
fn interval_is_a_stream() {
    use futures_core::Stream;
    run_test(|| async {
        let mut iv = std::pin::pin!(corio::time::interval(Duration::from_millis(5)));
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
    run_test(|| async {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let delays = [30u64, 5, 20, 1, 25, 10, 15];
        let tasks: Vec<_> = delays
            .iter()
            .map(|&ms| {
                let order = order.clone();
                corio::spawn(async move {
                    corio::time::sleep(Duration::from_millis(ms)).await;
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
