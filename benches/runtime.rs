//! Micro-benchmarks of the runtime's own overheads: spawn + join, same-thread and cross-thread
//! wake, a nop operation round trip on each driver, timer insert/cancel. No dependencies: each
//! figure is the median of several timed rounds, in ns per operation.
//!
//! `cargo bench -p corio` runs them in full; `cargo test --benches` (and `cargo test
//! --all-targets`) runs one tiny round of each as a smoke test (no `--bench` argument).
//!
//! What each one measures (see docs/architecture.md for the loop it goes through):
//! - `spawn+join`: a task spawns a child and awaits it. The child runs and wakes its parent on
//!   the same thread, in the same pass over the run queue; a driver park (one non-blocking
//!   io_uring_enter or epoll_wait) happens once per `BUDGET` polls, not once per spawn.
//! - `same-thread wake`: a task wakes itself and returns `Pending`: its waker pushes it on the
//!   local run queue (no lock, no syscall) and the executor polls it again.
//! - `cross-thread wake`: a task parks; a spinning std thread takes its waker and wakes it.
//!   The wake goes through the executor's locked remote queue and one eventfd write, which ends
//!   the executor's blocking wait in the driver. The figure is the whole round trip.
//! - `nop op`: `corio::op::nop()`. On io_uring, an SQE and its CQE: one io_uring_enter per op,
//!   since the task waits for each CQE before pushing the next SQE. On epoll a nop has no
//!   syscall to try (`Nop::legacy_call` returns at once), so this is the cost of the `Op`
//!   future alone.
//! - `timer insert+cancel`: a far-future `sleep` polled once (inserted in the executor's
//!   timer map) and dropped (removed); no syscall.
//! - `spawn_on round trip`: two workers; worker 0 runs a trivial future on worker 1 with
//!   `spawn_on` and awaits it. Two cross-worker wake-ups per iteration (the job, then the
//!   result): IORING_OP_MSG_RING between io_uring workers, eventfd writes on epoll or with
//!   `CORIO_DISABLE_MSG_RING=1` set (run the bench twice to compare the two paths on io_uring).
//!   On io_uring it also prints worker 0's io_uring_enter calls per round trip: each message
//!   is submitted when it is sent (docs/architecture.md, "Cross-thread wake").
//! - `ping-pong under a blocking job`: a task waits on `spawn_blocking` of a 500 ms sleep while
//!   a 64-byte ping-pong runs on the same executor (an echo task on a loopback pair); the
//!   figures are the round trips' p50 / p99 / max during the job. A job that blocked the
//!   executor would show as one round trip of about 500 ms.

use corio::{DriverChoice, Runtime};
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

struct Bench {
    /// Full timing (`cargo bench`) or one tiny smoke round (`cargo test`).
    full: bool,
}

impl Bench {
    /// Times `rounds` calls of `f(iters)` and prints the median ns per iteration.
    fn run(&self, name: &str, iters: u64, mut f: impl FnMut(u64)) {
        let (rounds, iters) = if self.full { (7, iters) } else { (1, 10) };
        let mut per_op: Vec<f64> = (0..rounds)
            .map(|_| {
                let start = Instant::now();
                f(iters);
                start.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect();
        if !self.full {
            println!("{name:<34} ok (smoke run; timings need `cargo bench`)");
            return;
        }
        per_op.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<34} {:>9.1} ns/op   (min {:.1}, max {:.1}; {rounds} rounds of {iters})",
            per_op[per_op.len() / 2],
            per_op[0],
            per_op[per_op.len() - 1]
        );
    }
}

/// Runs `body` as a spawned task (so its wakes take the task path, not `block_on`'s own waker).
fn in_task<F>(rt: &Runtime, body: F)
where
    F: Future<Output = ()> + 'static,
{
    rt.block_on(async { corio::spawn(body).await.unwrap() })
}

/// Wakes itself once and returns `Pending`, then completes.
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

/// A std thread that spins until a waker is handed over, then wakes it from its own thread.
struct SpinningWaker {
    slot: Arc<Mutex<Option<Waker>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpinningWaker {
    fn start() -> SpinningWaker {
        let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (slot, stop) = (slot.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let taken = slot.lock().unwrap().take();
                    match taken {
                        Some(w) => w.wake(),
                        None => std::hint::spin_loop(),
                    }
                }
            })
        };
        SpinningWaker {
            slot,
            stop,
            thread: Some(thread),
        }
    }

    /// Parks the calling task until the other thread has woken it.
    async fn round_trip(&self) {
        let mut handed = false;
        poll_fn(|cx| {
            if handed {
                return Poll::Ready(());
            }
            handed = true;
            *self.slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for SpinningWaker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Round-trip times of a 64-byte ping-pong on this executor while a blocking job of `job`
/// runs on the pool; sorted.
async fn ping_pong_during_blocking_job(job: Duration) -> Vec<Duration> {
    use corio::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    let client = connect.await.unwrap();
    let echo = corio::spawn(async move {
        let mut buf = Vec::with_capacity(64);
        loop {
            buf.clear();
            let (res, b) = server.read(buf).await;
            if !matches!(res, Ok(n) if n > 0) {
                return;
            }
            let (res, b) = server.write_all(b).await;
            res.unwrap();
            buf = b;
        }
    });
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let waiter = corio::spawn(corio::spawn_blocking(move || {
        std::thread::sleep(job);
        flag.store(true, Ordering::Release);
    }));
    let mut rtts = Vec::new();
    let mut buf = vec![1u8; 64];
    while !done.load(Ordering::Acquire) {
        let start = Instant::now();
        let (res, b) = client.write_all(buf).await;
        res.unwrap();
        let mut b = b;
        b.clear();
        let (res, b) = client.read_exact(b).await;
        res.unwrap();
        buf = b;
        rtts.push(start.elapsed());
    }
    waiter.await.unwrap().unwrap();
    drop(client);
    echo.await.unwrap();
    rtts.sort();
    rtts
}

fn main() {
    let b = Bench {
        full: std::env::args().any(|a| a == "--bench"),
    };
    for (label, driver) in [
        ("uring", DriverChoice::IoUring),
        ("epoll", DriverChoice::Epoll),
    ] {
        let rt = match Runtime::builder().driver(driver).build() {
            Ok(rt) => rt,
            Err(e) => {
                println!("{label}: skipped ({e})");
                continue;
            }
        };
        b.run(&format!("spawn+join [{label}]"), 200_000, |n| {
            in_task(&rt, async move {
                for i in 0..n {
                    assert_eq!(corio::spawn(async move { i }).await.unwrap(), i);
                }
            })
        });
        b.run(&format!("same-thread wake [{label}]"), 1_000_000, |n| {
            in_task(&rt, async move {
                for _ in 0..n {
                    yield_now().await;
                }
            })
        });
        b.run(&format!("cross-thread wake [{label}]"), 20_000, |n| {
            let other = Arc::new(SpinningWaker::start());
            let o = other.clone();
            in_task(&rt, async move {
                for _ in 0..n {
                    o.round_trip().await;
                }
            });
            drop(other);
        });
        let nop_name = match driver {
            DriverChoice::Epoll => format!("nop op (no syscall) [{label}]"),
            _ => format!("nop op round trip [{label}]"),
        };
        b.run(&nop_name, 100_000, |n| {
            in_task(&rt, async move {
                for _ in 0..n {
                    corio::op::nop().await.unwrap();
                }
            })
        });
        b.run(&format!("timer insert+cancel [{label}]"), 1_000_000, |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let mut s = std::pin::pin!(corio::time::sleep(Duration::from_secs(3600)));
                    // Poll once (inserts the timer), then drop it (removes it).
                    poll_fn(|cx| {
                        assert!(s.as_mut().poll(cx).is_pending());
                        Poll::Ready(())
                    })
                    .await;
                }
                assert_eq!(corio::time::pending_timers(), 0);
            })
        });
        let enters = std::cell::Cell::new(Vec::new());
        b.run(&format!("spawn_on round trip [{label}]"), 20_000, |n| {
            let workers = Runtime::builder()
                .driver(driver)
                .workers(2)
                .build()
                .expect("a runtime like the one above");
            let out = workers
                .run(move |id| async move {
                    if id == 0 {
                        let before = corio::current_driver_stats().enters;
                        for i in 0..n {
                            assert_eq!(corio::spawn_on(1, async move { i }).await.unwrap(), i);
                        }
                        corio::request_shutdown();
                        Some((corio::current_driver_stats().enters - before) as f64 / n as f64)
                    } else {
                        corio::shutdown_requested().await;
                        None
                    }
                })
                .expect("workers start");
            let mut e = enters.take();
            e.extend(out.into_iter().next().and_then(Result::ok).flatten());
            enters.set(e);
        });
        if b.full && driver == DriverChoice::IoUring {
            let mut e = enters.take();
            e.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  [{label}] io_uring_enter calls of worker 0 per spawn_on round trip: median {:.2} \
                 (min {:.2}, max {:.2})",
                e[e.len() / 2],
                e[0],
                e[e.len() - 1]
            );
        }
        let job = if b.full { 500 } else { 20 };
        let rtts = rt.block_on(ping_pong_during_blocking_job(Duration::from_millis(job)));
        let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize];
        if b.full {
            println!(
                "{:<34} p50 {:?}  p99 {:?}  max {:?}  ({} round trips during a {job} ms job)",
                format!("ping-pong under a blocking job [{label}]"),
                at(0.5),
                at(0.99),
                rtts[rtts.len() - 1],
                rtts.len()
            );
        } else {
            println!("ping-pong under a blocking job [{label}] ok (smoke run)");
        }
        let s = rt.stats();
        println!(
            "  [{label}] after all rounds: {} cross-thread wakes, {} eventfd writes",
            s.remote_wakes, s.remote_wake_writes
        );
    }
}
