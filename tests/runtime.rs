//! The runtime: spawn and JoinHandle (output, abort, panic), nesting, fairness between an
//! always-ready task and I/O or timers, same- and cross-thread wakes and their cost, driver
//! info and counters, and dropping a runtime with work in flight. Runs under both drivers.

mod support;

use corio::net::{TcpListener, TcpStream, UdpSocket};
use corio::{DriverChoice, DriverKind, JoinError};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use support::{driver, each_driver, expect_panic, panic_message, pattern, run_test, tcp_pair};

/// A future that is always ready after waking itself: `yield_now` in a loop keeps a task
/// runnable forever.
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

/// Sets a flag when dropped: shows that a task's future was dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn join_handles_yield_outputs_of_any_type() {
    run_test(|| async {
        let alive0 = corio::current_stats().tasks_alive;
        let s = corio::spawn(async { String::from("text") });
        let v = corio::spawn(async {
            corio::time::sleep(Duration::from_millis(2)).await;
            vec![1u8, 2, 3]
        });
        let r = corio::spawn(async { Err::<(), _>(std::io::Error::other("e")) });
        let unit = corio::spawn(async {});
        // Tasks spawning tasks, three deep.
        let nested = corio::spawn(async {
            corio::spawn(async { corio::spawn(async { 40 }).await.unwrap() + 1 })
                .await
                .unwrap()
                + 1
        });
        assert_eq!(v.await.unwrap(), [1, 2, 3]);
        assert!(
            s.is_finished(),
            "a ready task ran while another was awaited"
        );
        assert_eq!(s.await.unwrap(), "text");
        assert_eq!(r.await.unwrap().unwrap_err().to_string(), "e");
        unit.await.unwrap();
        assert_eq!(nested.await.unwrap(), 42);

        // A non-Send output and a task that is awaited long after it finished.
        let rc = corio::spawn(async { Rc::new(Cell::new(9)) });
        corio::time::sleep(Duration::from_millis(5)).await;
        assert!(rc.is_finished());
        assert_eq!(rc.await.unwrap().get(), 9);

        // Finished tasks leave the registry.
        yield_now().await;
        assert_eq!(corio::current_stats().tasks_alive, alive0);
    });
}

#[test]
fn abort_cancels_tasks_in_every_state() {
    run_test(|| async {
        // Before its first poll: the future never runs, and is dropped.
        let ran = Rc::new(Cell::new(false));
        let dropped = Rc::new(Cell::new(false));
        let (r, d) = (ran.clone(), DropFlag(dropped.clone()));
        let h = corio::spawn(async move {
            let _d = d;
            r.set(true);
        });
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic(), "{err:?}");
        assert_eq!(err.to_string(), "task was cancelled");
        assert!(matches!(err, JoinError::Cancelled));
        assert!(!ran.get() && dropped.get());

        // Parked on a timer: the timer goes with it.
        let timers0 = corio::time::pending_timers();
        let h = corio::spawn(corio::time::sleep(Duration::from_secs(3600)));
        yield_now().await;
        assert_eq!(corio::time::pending_timers(), timers0 + 1);
        assert!(!h.is_finished());
        h.abort();
        h.abort(); // idempotent
        assert!(h.await.unwrap_err().is_cancelled());
        assert_eq!(corio::time::pending_timers(), timers0);

        // After it finished: the output is kept.
        let h = corio::spawn(async { 5 });
        yield_now().await;
        assert!(h.is_finished());
        h.abort();
        assert_eq!(h.await.unwrap(), 5);
    });
}

/// Aborting a task parked in a read cancels the read; the stream (shared with the aborted
/// task) stays usable and loses nothing the peer sends afterwards.
#[test]
fn abort_of_a_task_blocked_in_a_read_keeps_the_stream_usable() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        let b = Rc::new(b);
        let dropped = Rc::new(Cell::new(false));
        let (b2, d) = (b.clone(), DropFlag(dropped.clone()));
        let reader = corio::spawn(async move {
            let _d = d;
            let (res, buf) = b2.read(Vec::with_capacity(64)).await;
            (res.map_err(|e| e.kind()), buf)
        });
        corio::time::sleep(Duration::from_millis(10)).await;
        assert!(!reader.is_finished());
        reader.abort();
        assert!(reader.await.unwrap_err().is_cancelled());
        assert!(dropped.get());

        let data = pattern(3, 100_000);
        let (res, _) = a.write_all(data.clone()).await;
        res.unwrap();
        let (res, got) = b.read_exact(Vec::with_capacity(data.len())).await;
        res.unwrap();
        assert!(got == data, "bytes lost or reordered after an aborted read");
    });
}

#[test]
fn a_panicking_task_is_a_join_error_and_the_runtime_survives() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        let ticker = corio::spawn(async {
            let mut n = 0;
            for _ in 0..20 {
                corio::time::sleep(Duration::from_millis(1)).await;
                n += 1;
            }
            n
        });
        // The panicking task owns a socket: it is closed as the task unwinds.
        let h = corio::spawn(async move {
            let _owned = a;
            corio::time::sleep(Duration::from_millis(2)).await;
            panic!("boom {}", std::hint::black_box(7));
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.to_string(), "task panicked");
        let JoinError::Panic(payload) = err else {
            unreachable!()
        };
        assert_eq!(panic_message(&*payload), "boom 7");
        let (res, _) = b.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0, "the panicked task's socket was not closed");

        // A &str payload.
        let err = corio::spawn(async { panic!("static") }).await.unwrap_err();
        let JoinError::Panic(payload) = err else {
            unreachable!()
        };
        assert_eq!(panic_message(&*payload), "static");

        // Other tasks kept running, and new ones run.
        assert_eq!(ticker.await.unwrap(), 20);
        assert_eq!(corio::spawn(async { 1 }).await.unwrap(), 1);
        corio::op::nop().await.unwrap();
    });
}

#[test]
fn block_on_inside_block_on_panics() {
    each_driver(|| {
        let rt = support::rt();
        expect_panic("from within a corio runtime", || {
            rt.block_on(async { corio::block_on(async {}) })
        });
        // The runtime survives the refused nesting.
        assert_eq!(rt.block_on(async { 5 }), 5);
    });
}

#[test]
fn another_runtimes_block_on_inside_a_task_panics() {
    each_driver(|| {
        let outer = support::rt();
        let inner = support::rt();
        let err = outer
            .block_on(async { corio::spawn(async move { inner.block_on(async {}) }).await })
            .unwrap_err();
        let JoinError::Panic(payload) = err else {
            panic!("the task was cancelled, not refused");
        };
        let msg = panic_message(&*payload);
        assert!(msg.contains("from within a corio runtime"), "{msg}");
    });
}

#[test]
#[should_panic(expected = "within a corio runtime")]
fn spawn_outside_a_runtime_panics() {
    drop(corio::spawn(async {}));
}

/// Three tasks that are always ready cannot keep timers, I/O or the main future from running.
#[test]
fn always_ready_tasks_cannot_starve_timers_or_io() {
    run_test(|| async {
        let spins = Rc::new(Cell::new(0u64));
        let spinners: Vec<_> = (0..3)
            .map(|_| {
                let spins = spins.clone();
                corio::spawn(async move {
                    loop {
                        spins.set(spins.get() + 1);
                        yield_now().await;
                    }
                })
            })
            .collect();

        for _ in 0..3 {
            let start = Instant::now();
            corio::time::sleep(Duration::from_millis(10)).await;
            let e = start.elapsed();
            assert!(
                e >= Duration::from_millis(10) && e < Duration::from_secs(5),
                "{e:?}"
            );
        }
        let start = Instant::now();
        corio::op::kernel_sleep(Duration::from_millis(5))
            .await
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));

        // A TCP echo round trip, with the echo side in a task too.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = corio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (res, buf) = s.read_exact(Vec::with_capacity(65536)).await;
            res.unwrap();
            let (res, _) = s.write_all(buf).await;
            res.unwrap();
        });
        let start = Instant::now();
        let c = TcpStream::connect(addr).await.unwrap();
        let data = pattern(9, 65536);
        let (res, _) = c.write_all(data.clone()).await;
        res.unwrap();
        let (res, back) = c.read_exact(Vec::with_capacity(65536)).await;
        res.unwrap();
        assert!(back == data);
        echo.await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));

        assert!(
            spins.get() > 100,
            "the spinners hardly ran: {}",
            spins.get()
        );
        for s in spinners {
            s.abort();
            assert!(s.await.unwrap_err().is_cancelled());
        }
    });
}

/// A waker sent to another thread wakes the task (and the main future) through the eventfd.
#[test]
fn wakes_from_another_thread_complete_tasks() {
    run_test(|| async {
        let before = corio::current_stats();
        // A spawned task parked until another thread wakes it 20 ms later.
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let thread = std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            f.store(true, Ordering::Release);
            w.wake();
        });
        let start = Instant::now();
        let task = corio::spawn(poll_fn(move |cx| {
            if flag.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        }));
        task.await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(20));
        thread.join().unwrap();

        // The main future itself, woken from another thread (no task involved).
        let flag = Arc::new(AtomicBool::new(false));
        let mut sent = false;
        let mut thread = None;
        poll_fn(|cx| {
            if flag.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if !sent {
                sent = true;
                let (w, f) = (cx.waker().clone(), flag.clone());
                thread = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    f.store(true, Ordering::Release);
                    w.wake();
                }));
            }
            Poll::Pending
        })
        .await;
        thread.unwrap().join().unwrap();

        let after = corio::current_stats();
        assert!(after.remote_wakes > before.remote_wakes);
        assert!(after.remote_wake_writes >= before.remote_wake_writes + 2);
    });
}

/// A wake sent by a task of another runtime whose `block_on` returns right after sending (the
/// runtime stays alive, idle): the wake must still arrive. Under io_uring with MSG_RING the
/// message sits in the sender's SQ until something submits it; `block_on` flushes it on return.
#[test]
fn a_wake_sent_just_before_block_on_returns_arrives() {
    each_driver(|| {
        for _ in 0..20 {
            let (tx, rx) = corio::sync::oneshot::channel::<u32>();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let builder = support::builder();
            let sender = std::thread::spawn(move || {
                let rt = builder.build().unwrap();
                rt.block_on(async move {
                    // Let the receiver park first.
                    corio::time::sleep(Duration::from_millis(5)).await;
                    tx.send(7).unwrap();
                });
                // Keep the runtime (and its ring) alive and idle until the receiver is done.
                let _ = done_rx.recv_timeout(Duration::from_secs(30));
                drop(rt);
            });
            // The timer is polled first: a value found only because the timer woke us is a lost
            // wake, not a pass.
            let got = support::rt().block_on(async {
                let mut limit = std::pin::pin!(corio::time::sleep(Duration::from_secs(3)));
                let mut rx = std::pin::pin!(rx);
                poll_fn(|cx| {
                    if limit.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    rx.as_mut().poll(cx).map(Some)
                })
                .await
            });
            done_tx.send(()).unwrap();
            sender.join().unwrap();
            assert_eq!(got.expect("the wake never arrived").unwrap(), 7);
        }
    });
}

/// Many wakes from several threads: every task completes, and eventfd writes are coalesced
/// (never more writes than wakes; a burst costs far fewer).
#[test]
fn cross_thread_wakes_are_coalesced() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 250;
    run_test(|| async {
        let before = corio::current_stats();
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let go = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..THREADS * PER_THREAD)
            .map(|_| {
                let tx = tx.clone();
                let go = go.clone();
                corio::spawn(poll_fn(move |cx| {
                    if go.load(Ordering::Acquire) {
                        return Poll::Ready(());
                    }
                    tx.send(cx.waker().clone()).unwrap();
                    Poll::Pending
                }))
            })
            .collect();
        drop(tx);
        let wakers: Vec<Waker> = {
            // Let every task park and hand over its waker.
            let mut v = Vec::new();
            while v.len() < THREADS * PER_THREAD {
                match rx.try_recv() {
                    Ok(w) => v.push(w),
                    Err(_) => yield_now().await,
                }
            }
            v
        };
        go.store(true, Ordering::Release);
        let mut chunks = wakers.into_iter();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let mine: Vec<Waker> = chunks.by_ref().take(PER_THREAD).collect();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    for w in mine {
                        w.wake();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        let after = corio::current_stats();
        let wakes = after.remote_wakes - before.remote_wakes;
        let writes = after.remote_wake_writes - before.remote_wake_writes;
        println!("{wakes} remote wakes, {writes} eventfd writes");
        assert_eq!(wakes, (THREADS * PER_THREAD) as u64);
        assert!(
            writes >= 1 && writes <= wakes,
            "{writes} writes for {wakes} wakes"
        );
        assert!(
            writes < wakes / 2,
            "not coalesced: {writes} writes for {wakes} wakes"
        );

        // One task woken 10 000 times in a row from another thread while it waits for a
        // counter: repeated wakes of a queued task are absorbed, never more writes than wakes.
        let before = corio::current_stats();
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let c = count.clone();
        let waiter = corio::spawn(poll_fn(move |cx| {
            if c.load(Ordering::Acquire) == 10_000 {
                return Poll::Ready(());
            }
            let _ = tx.send(cx.waker().clone());
            Poll::Pending
        }));
        let c = count.clone();
        let thread = std::thread::spawn(move || {
            let mut w = rx.recv().unwrap();
            for _ in 0..10_000 {
                c.fetch_add(1, Ordering::AcqRel);
                while let Ok(newer) = rx.try_recv() {
                    w = newer;
                }
                w.wake_by_ref();
            }
        });
        waiter.await.unwrap();
        thread.join().unwrap();
        let after = corio::current_stats();
        let writes = after.remote_wake_writes - before.remote_wake_writes;
        let wakes = after.remote_wakes - before.remote_wakes;
        assert!((1..=10_000).contains(&wakes), "{wakes}");
        assert!(writes <= wakes, "{writes} writes for {wakes} wakes");
    });
}

/// Wakes on the executor's own thread go straight onto the run queue: no eventfd write, no
/// remote wake, whatever the number.
#[test]
fn same_thread_wakes_cost_no_syscall() {
    run_test(|| async {
        let before = corio::current_stats();
        // Self-wakes.
        for _ in 0..1000 {
            yield_now().await;
        }
        // Task-to-task wakes: a ping-pong of 500 rounds through shared wakers.
        let turn = Rc::new(Cell::new(0u32));
        let other: Rc<Cell<Option<Waker>>> = Rc::new(Cell::new(None));
        let (t2, o2) = (turn.clone(), other.clone());
        let pong = corio::spawn(poll_fn(move |cx| {
            if t2.get() >= 1000 {
                return Poll::Ready(());
            }
            if !t2.get().is_multiple_of(2) {
                t2.set(t2.get() + 1);
                if let Some(w) = o2.take() {
                    w.wake();
                }
                if t2.get() >= 1000 {
                    return Poll::Ready(());
                }
            }
            o2.set(Some(cx.waker().clone()));
            Poll::Pending
        }));
        poll_fn(|cx| {
            if turn.get() >= 1000 {
                return Poll::Ready(());
            }
            if turn.get().is_multiple_of(2) {
                turn.set(turn.get() + 1);
                if let Some(w) = other.take() {
                    w.wake();
                }
            }
            other.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        pong.await.unwrap();
        let after = corio::current_stats();
        assert_eq!(after.remote_wake_writes, before.remote_wake_writes);
        assert_eq!(after.remote_wakes, before.remote_wakes);
        assert!(after.tasks_polled - before.tasks_polled >= 500);
    });
}

#[test]
fn driver_info_reports_the_requested_driver() {
    each_driver(|| {
        let rt = support::rt();
        let info = rt.driver_info().clone();
        let shown = info.to_string();
        assert_eq!(info.kind, driver(), "{shown}");
        assert_eq!(info.requested, support::choice(), "{shown}");
        assert_eq!(info.reason, "requested", "{shown}");
        match info.kind {
            DriverKind::IoUring => {
                assert!(!info.setup_flags.is_empty(), "{shown}");
                assert!(shown.contains("driver=IoUring"), "{shown}");
            }
            DriverKind::Epoll => {
                assert!(info.setup_flags.is_empty(), "{shown}");
                assert!(shown.contains("driver=Epoll"), "{shown}");
            }
        }

        // Ring sizes outside 1..=32768 are refused, not clamped, whichever the driver.
        for bad in [0, 32769, u32::MAX] {
            let err = support::builder().ring_entries(bad).build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
        }
        let rt = support::builder().ring_entries(8).build().unwrap();
        // A tiny ring still runs more operations than it has entries.
        rt.block_on(async {
            let hs: Vec<_> = (0..100).map(|_| corio::spawn(corio::op::nop())).collect();
            for h in hs {
                h.await.unwrap().unwrap();
            }
        });
    });
    // (The builder's choice over CORIO_DRIVER is checked in fallback.rs, in a child with it
    // set.)
    assert_eq!(DriverChoice::parse("uring"), Some(DriverChoice::IoUring));
    assert_eq!(DriverChoice::parse(" EPOLL "), Some(DriverChoice::Epoll));
    assert_eq!(DriverChoice::parse(""), Some(DriverChoice::Auto));
    assert_eq!(DriverChoice::parse("kqueue"), None);
}

#[test]
fn driver_counters_grow_with_work() {
    each_driver(|| {
        let rt = support::rt();
        let s0 = rt.driver_stats();
        let e0 = rt.stats();
        rt.block_on(async {
            let (a, b) = tcp_pair().await;
            for i in 0..20u8 {
                let (res, _) = a.write_all(vec![i; 100]).await;
                res.unwrap();
                let (res, buf) = b.read_exact(Vec::with_capacity(100)).await;
                res.unwrap();
                assert_eq!(buf, [i; 100]);
            }
            corio::op::nop().await.unwrap();
            corio::time::sleep(Duration::from_millis(2)).await;
        });
        let s = rt.driver_stats();
        let e = rt.stats();
        assert!(
            e.ticks > e0.ticks && e.tasks_spawned > e0.tasks_spawned,
            "{e:?}"
        );
        match rt.driver_info().kind {
            DriverKind::IoUring => {
                assert!(s.enters > s0.enters, "{s:?}");
                assert!(s.completions >= s0.completions + 40, "{s:?}");
                assert!(s.ops_submitted >= s0.ops_submitted + 40, "{s:?}");
                assert!(s.max_completions_per_enter >= 1);
                assert_eq!(s.epoll_waits, 0);
            }
            DriverKind::Epoll => {
                assert!(s.epoll_waits > s0.epoll_waits, "{s:?}");
                assert!(s.io_syscalls >= s0.io_syscalls + 40, "{s:?}");
                assert_eq!(s.enters, 0);
            }
        }
        // The free function sees the same counters from inside.
        let inside = rt.block_on(async { corio::current_driver_stats() });
        assert!(inside.ops_submitted >= s.ops_submitted);
    });
}

/// Work survives between `block_on` calls: a task spawned in one runs during the next.
#[test]
fn tasks_outlive_the_block_on_that_spawned_them() {
    each_driver(|| {
        let rt = support::rt();
        let done = Rc::new(Cell::new(0));
        let d = done.clone();
        #[allow(clippy::async_yields_async)]
        let h = rt.block_on(async move {
            corio::spawn(async move {
                corio::time::sleep(Duration::from_millis(20)).await;
                d.set(1);
                "late"
            })
        });
        assert_eq!(done.get(), 0);
        assert_eq!(rt.block_on(h).unwrap(), "late");
        assert_eq!(done.get(), 1);
    });
}

/// Dropping a runtime with tasks parked on reads, accepts, writes to a full socket, timers and
/// kernel timeouts returns promptly, drops every task, cancels their join handles and closes
/// every fd.
#[test]
fn dropping_a_busy_runtime_is_prompt_and_leaks_no_fds() {
    let _fds = support::counting_fds();
    each_driver(|| {
        let baseline = support::open_fds();
        let rt = support::rt();
        let dropped = Rc::new(Cell::new(0usize));
        let handles = rt.block_on(async {
            let mut handles = Vec::new();
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            for _ in 0..20 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (s, _) = listener.accept().await.unwrap();
                // Both ends read; nobody writes.
                for stream in [c, s] {
                    let d = DropCount(dropped.clone());
                    handles.push(corio::spawn(async move {
                        let _d = d;
                        let (res, _) = stream.read(Vec::with_capacity(4096)).await;
                        res.map(drop).map_err(|e| e.kind())
                    }));
                }
            }
            // A writer stuck on a peer that never reads (the socket buffers fill up).
            let c = TcpStream::connect(addr).await.unwrap();
            let (peer, _) = listener.accept().await.unwrap();
            handles.push(corio::spawn(async move {
                let _peer = peer;
                let (res, _) = c.write_all(vec![0u8; 32 << 20]).await;
                res.map_err(|e| e.kind())
            }));
            // An accept nobody will satisfy.
            let l = listener.clone();
            handles.push(corio::spawn(async move {
                l.accept().await.map(drop).map_err(|e| e.kind())
            }));
            // A UDP receive, a long sleep and a long kernel sleep.
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            handles.push(corio::spawn(async move {
                let (res, _) = udp.recv_from(Vec::with_capacity(64)).await;
                res.map(drop).map_err(|e| e.kind())
            }));
            handles.push(corio::spawn(async {
                corio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }));
            handles.push(corio::spawn(async {
                corio::op::kernel_sleep(Duration::from_secs(3600))
                    .await
                    .map_err(|e| e.kind())
            }));
            // Let every task start and park.
            corio::time::sleep(Duration::from_millis(50)).await;
            assert!(handles.iter().all(|h| !h.is_finished()));
            handles
        });
        let start = Instant::now();
        drop(rt);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "dropping the runtime took {took:?}"
        );
        assert_eq!(dropped.get(), 40, "not every task's future was dropped");

        // The handles report cancellation; polling them needs no runtime.
        let mut cx = Context::from_waker(Waker::noop());
        for mut h in handles {
            assert!(h.is_finished());
            match Pin::new(&mut h).poll(&mut cx) {
                Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{e:?}"),
                Poll::Ready(Ok(r)) => panic!("a task finished: {r:?}"),
                Poll::Pending => panic!("a handle of a dropped runtime is pending"),
            }
        }
        // The last handle (holding the executor's wake eventfd alive for stray wakers) is gone.
        assert_eq!(
            support::open_fds(),
            baseline,
            "fds leaked by dropping a busy runtime"
        );
    });
}

/// Counts drops: shows that tasks' futures were dropped.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    run_test(|| async {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(corio::spawn(async move {
            corio::time::sleep(Duration::from_millis(10)).await;
            tx.send(1).unwrap();
        }));
        corio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

/// A runtime made and dropped inside another runtime's task shuts down cleanly, and the
/// outer runtime keeps working.
#[test]
fn dropping_a_runtime_inside_another_is_clean() {
    run_test(|| async {
        let inner = support::rt();
        drop(inner);
        corio::time::sleep(Duration::from_millis(1)).await;
        corio::op::nop().await.unwrap();
    });
}
