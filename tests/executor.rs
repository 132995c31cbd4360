//! The executor: spawn/join/abort, panics, the run-queue budget, same- and cross-thread
//! wakes, driver info and counters. Runs under both drivers.

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::{DriverKind, Runtime};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use support::{driver, run_test};

/// Yields once: wakes itself and returns Pending.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

#[test]
fn spawn_join_and_output() {
    run_test(async {
        let handles: Vec<_> = (0..100u64)
            .map(|i| corio::spawn(async move { i * 2 }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, (0..100u64).map(|i| i * 2).sum());
        // Non-Send futures are fine: the executor is single-threaded.
        let rc = std::rc::Rc::new(5);
        let r = rc.clone();
        assert_eq!(corio::spawn(async move { *r + 1 }).await.unwrap(), 6);
    });
}

#[test]
fn abort_and_panic_are_join_errors() {
    run_test(async {
        let h = corio::spawn(corio::time::sleep(Duration::from_secs(3600)));
        assert!(!h.is_finished());
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic());

        let h = corio::spawn(async { panic!("boom") });
        let err = h.await.unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled());
        // The runtime survives a panicking task.
        assert_eq!(corio::spawn(async { 7 }).await.unwrap(), 7);
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    run_test(async {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(corio::spawn(async move {
            corio::time::sleep(Duration::from_millis(10)).await;
            tx.send(1).unwrap();
        }));
        corio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

#[test]
#[should_panic(expected = "within a corio runtime")]
fn nested_runtime_panics() {
    corio::block_on(async {
        corio::block_on(async {});
    });
}

/// A task that is always ready cannot starve timers or I/O: the budget per tick hands the
/// loop back to the driver.
#[test]
fn an_always_ready_task_cannot_starve_io_or_timers() {
    run_test(async {
        let spinner = corio::spawn(async {
            loop {
                yield_now().await;
            }
        });
        let start = Instant::now();
        corio::time::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() < Duration::from_secs(5));

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(async move {
            let c = TcpStream::connect(addr).await.unwrap();
            let (res, _) = c.write_all(&b"hi"[..]).await;
            res.unwrap();
            let (res, buf) = c.read_exact(Vec::with_capacity(2)).await;
            res.unwrap();
            buf
        });
        let (s, _) = listener.accept().await.unwrap();
        let (res, buf) = s.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        let (res, _) = s.write_all(buf).await;
        res.unwrap();
        assert_eq!(client.await.unwrap(), b"hi");
        let stats = corio::current_stats();
        assert!(stats.ticks > 0 && stats.tasks_polled > stats.ticks);
        spinner.abort();
    });
}

/// A wake from the executor's own thread costs no syscall (no eventfd write).
#[test]
fn same_thread_wakes_cost_no_syscall() {
    run_test(async {
        let before = corio::current_stats();
        for _ in 0..1000 {
            yield_now().await;
        }
        let (tx, rx) = std::rc::Rc::new(std::cell::Cell::new(None::<Waker>)).split_pair();
        let waiter = corio::spawn(poll_fn(move |cx| {
            if rx.take().is_some() {
                return Poll::Ready(());
            }
            rx.set(Some(cx.waker().clone()));
            Poll::Pending
        }));
        yield_now().await;
        let w = tx.take().expect("waiter registered");
        tx.set(Some(Waker::noop().clone()));
        w.wake();
        waiter.await.unwrap();
        let after = corio::current_stats();
        assert_eq!(after.remote_wake_writes, before.remote_wake_writes);
        assert_eq!(after.remote_wakes, before.remote_wakes);
    });
}

trait SplitPair: Sized {
    fn split_pair(self) -> (Self, Self);
}
impl<T> SplitPair for std::rc::Rc<T> {
    fn split_pair(self) -> (Self, Self) {
        (self.clone(), self)
    }
}

/// A wake from another thread interrupts the driver's wait; many wakes before the loop runs
/// cost one eventfd write.
#[test]
fn cross_thread_wakes_work_and_are_coalesced() {
    let rt = support::rt();
    rt.block_on(async {
        // One task parked, woken by another thread after a delay.
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let thread = std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(30));
            w.wake();
        });
        let mut sent = Some(tx);
        let mut woken = false;
        let start = Instant::now();
        poll_fn(|cx| {
            if let Some(tx) = sent.take() {
                tx.send(cx.waker().clone()).unwrap();
                return Poll::Pending;
            }
            woken = true;
            Poll::Ready(())
        })
        .await;
        assert!(woken && start.elapsed() >= Duration::from_millis(30));
        thread.join().unwrap();

        // 1000 tasks parked, all woken from one other thread in a burst while the loop sleeps.
        let before = corio::current_stats();
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let tx = tx.clone();
                let mut sent = false;
                corio::spawn(poll_fn(move |cx: &mut Context<'_>| {
                    if !sent {
                        sent = true;
                        tx.send(cx.waker().clone()).unwrap();
                        return Poll::Pending;
                    }
                    Poll::Ready(())
                }))
            })
            .collect();
        drop(tx);
        let thread = std::thread::spawn(move || {
            let wakers: Vec<Waker> = rx.iter().take(1000).collect();
            std::thread::sleep(Duration::from_millis(20));
            wakers.into_iter().for_each(Waker::wake);
        });
        for t in tasks {
            t.await.unwrap();
        }
        thread.join().unwrap();
        let after = corio::current_stats();
        let wakes = after.remote_wakes - before.remote_wakes;
        let writes = after.remote_wake_writes - before.remote_wake_writes;
        assert_eq!(wakes, 1000);
        assert!(
            (1..100).contains(&writes),
            "{writes} eventfd writes for 1000 wakes"
        );
    });
}

#[test]
fn driver_info_and_counters() {
    let rt = support::rt();
    let info = rt.driver_info().clone();
    assert_eq!(info.kind, driver());
    rt.block_on(async {
        for _ in 0..10 {
            corio::op::nop().await.unwrap();
        }
        corio::time::sleep(Duration::from_millis(5)).await;
    });
    let s = rt.driver_stats();
    match info.kind {
        DriverKind::IoUring => {
            assert!(
                s.enters > 0 && s.completions >= 10 && s.ops_submitted >= 10,
                "{s:?}"
            );
            assert!(s.completions_per_enter() > 0.0);
            assert!(!info.setup_flags.is_empty(), "{info}");
        }
        DriverKind::Epoll => {
            assert!(s.epoll_waits > 0, "{s:?}");
            assert!(info.setup_flags.is_empty());
        }
    }
}

#[test]
fn runtime_block_on_and_reuse() {
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.block_on(async { 1 }), 1);
    // A spawned task keeps running across block_on calls on the same runtime.
    #[allow(clippy::async_yields_async)]
    let h = rt.block_on(async { corio::spawn(async { 2 }) });
    assert_eq!(rt.block_on(h).unwrap(), 2);
    let fut: Pin<Box<dyn Future<Output = u8>>> = Box::pin(async { 3 });
    assert_eq!(rt.block_on(fut), 3);
}

/// A runtime made and dropped inside another runtime's task shuts down cleanly, and the
/// outer runtime keeps working.
#[test]
fn dropping_a_runtime_inside_another_is_clean() {
    run_test(async {
        let inner = Runtime::new().unwrap();
        drop(inner);
        corio::time::sleep(Duration::from_millis(1)).await;
        corio::op::nop().await.unwrap();
    });
}
