//! The blocking pool under both drivers: `spawn_blocking`'s results, panics and detached jobs,
//! the bounds of the pool, and the reason it exists — work that blocks (a closure, a file
//! operation that waits) leaves the executor free to serve its sockets.

mod support;

use corio::JoinError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::{builder, each_driver, run_test, tcp_pair};

/// A generous bound on one 64-byte round trip while a blocking job runs: far below the
/// job's 500 ms, far above a loaded machine's scheduling noise.
const RTT_BOUND: Duration = Duration::from_millis(250);

/// Ping-pongs 64 bytes with an echo task on this executor until `done` is set (at most 10 s);
/// returns the slowest round trip and the number of round trips. Each round trip needs the
/// executor: the echo is another task, so every one goes through the run queue and the driver.
async fn ping_pong_until(done: &AtomicBool) -> (Duration, u32) {
    let (client, server) = tcp_pair().await;
    let echo = corio::spawn(support::echo(server));
    let (mut slowest, mut count) = (Duration::ZERO, 0);
    let mut buf = vec![7u8; 64];
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done.load(Ordering::Acquire) && Instant::now() < give_up {
        let start = Instant::now();
        let (res, b) = client.write_all(buf).await;
        res.unwrap();
        let mut b = b;
        b.clear();
        let (res, b) = client.read_exact(b).await;
        res.unwrap();
        buf = b;
        slowest = slowest.max(start.elapsed());
        count += 1;
    }
    drop(client);
    echo.await.unwrap();
    (slowest, count)
}

#[test]
fn a_blocking_job_does_not_delay_the_executor() {
    run_test(|| async {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let started = Instant::now();
        let job = corio::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(500));
            flag.store(true, Ordering::Release);
            42
        });
        // A task awaits the job, so its wake comes from the pool thread.
        let waiter = corio::spawn(job);
        let (slowest, count) = ping_pong_until(&done).await;
        assert_eq!(waiter.await.unwrap().unwrap(), 42);
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(
            count > 1,
            "round trips ran while the job blocked its thread"
        );
        assert!(slowest < RTT_BOUND, "a round trip took {slowest:?}");
        let s = corio::current_stats();
        assert!(
            s.remote_wakes >= 1,
            "the result came back as a cross-thread wake: {s:?}"
        );
    });
}

#[test]
fn a_file_open_that_blocks_does_not_delay_the_executor() {
    run_test(|| async {
        // Opening a FIFO for reading blocks until a writer opens it: on epoll the pool thread
        // waits in open(2). (io_uring's first, non-blocking attempt at the open succeeds, and
        // the kernel then clears O_NONBLOCK: there it does not wait at all.)
        let fifo = std::env::temp_dir().join(format!(
            "corio-fifo-{}-{}",
            std::process::id(),
            support::name(support::choice())
        ));
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path we pass.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let open = corio::spawn({
            let (fifo, done) = (fifo.clone(), done.clone());
            async move {
                let file = corio::fs::File::open(&fifo).await;
                done.store(true, Ordering::Release);
                (file, started.elapsed())
            }
        });
        let writer = std::thread::spawn({
            let fifo = fifo.clone();
            move || {
                std::thread::sleep(Duration::from_millis(400));
                std::fs::OpenOptions::new().write(true).open(fifo).unwrap()
            }
        });
        let (slowest, count) = ping_pong_until(&done).await;
        // Kept open until the writer is in: it waits for a reader.
        let (file, waited) = open.await.unwrap();
        let file = file.unwrap();
        drop(writer.join().unwrap());
        drop(file);
        std::fs::remove_file(&fifo).unwrap();
        if support::driver() == corio::DriverKind::Epoll {
            assert!(
                waited >= Duration::from_millis(300),
                "the open waited for the writer"
            );
        }
        if waited >= Duration::from_millis(300) {
            assert!(count > 1, "round trips ran while the open waited");
        }
        assert!(slowest < RTT_BOUND, "a round trip took {slowest:?}");
    });
}

#[test]
fn a_panic_is_returned_and_a_dropped_handle_detaches() {
    run_test(|| async {
        let err = corio::spawn_blocking(|| -> u32 { panic!("a blocking job panics (expected)") })
            .await
            .unwrap_err();
        assert!(matches!(err, JoinError::Panic(_)), "{err:?}");
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let gate = Arc::new(Barrier::new(2));
        let g = gate.clone();
        let handle = corio::spawn_blocking(move || {
            g.wait();
            flag.store(true, Ordering::Release);
        });
        assert!(!handle.is_finished());
        drop(handle);
        gate.wait();
        for _ in 0..1000 {
            if ran.load(Ordering::Acquire) {
                break;
            }
            corio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(ran.load(Ordering::Acquire), "a detached job still runs");
        // The pool and the runtime carry on.
        assert_eq!(corio::spawn_blocking(|| 5).await.unwrap(), 5);
    });
}

#[test]
fn a_full_pool_runs_the_job_on_the_caller() {
    each_driver(|| {
        let rt = builder()
            .blocking_threads(1)
            .blocking_queue(0)
            .build()
            .unwrap();
        rt.block_on(async {
            let gate = Arc::new(Barrier::new(2));
            let g = gate.clone();
            let busy = corio::spawn_blocking(move || {
                g.wait();
                std::thread::current().id()
            });
            // The only thread is busy and nothing may wait: the next job runs right here.
            let here = std::thread::current().id();
            let inline = corio::spawn_blocking(move || std::thread::current().id());
            assert!(inline.is_finished());
            assert_eq!(inline.await.unwrap(), here);
            gate.wait();
            assert_ne!(busy.await.unwrap(), here);
        });
        let s = rt.blocking_stats();
        assert_eq!((s.threads_started, s.jobs_run_by_caller), (1, 1), "{s:?}");
    });
}

#[test]
fn the_workers_of_a_run_share_one_pool() {
    each_driver(|| {
        let rt = builder()
            .workers(3)
            .pin_cores(false)
            .blocking_threads(2)
            .build()
            .unwrap();
        let out = rt
            .run(|id| async move {
                let mut handles = Vec::new();
                for i in 0..4 {
                    handles.push(corio::spawn_blocking(move || {
                        std::thread::sleep(Duration::from_millis(20));
                        (id, i)
                    }));
                }
                let mut got = Vec::new();
                for h in handles {
                    got.push(h.await.unwrap());
                }
                got.len()
            })
            .unwrap();
        assert!(out.into_iter().all(|r| r.unwrap() == 4));
        let s = rt.blocking_stats();
        assert_eq!(s.jobs_run + s.jobs_run_by_caller, 12, "{s:?}");
        assert!(
            s.threads_started <= 2,
            "one pool of 2 threads for 3 workers: {s:?}"
        );
    });
}

#[test]
fn a_handle_can_be_awaited_on_another_executor() {
    each_driver(|| {
        let rt = builder().workers(2).pin_cores(false).build().unwrap();
        let out = rt
            .run(|id| async move {
                if id == 0 {
                    let handle = corio::spawn_blocking(|| "from the pool");
                    let got = corio::spawn_on(1, async move { handle.await.unwrap() }).await;
                    corio::request_shutdown();
                    got.unwrap()
                } else {
                    corio::shutdown_requested().await;
                    ""
                }
            })
            .unwrap();
        assert_eq!(out[0].as_ref().unwrap(), &"from the pool");
    });
}
