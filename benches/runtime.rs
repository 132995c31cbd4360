//! Micro-benchmarks of the runtime's own overheads: spawn + join, same-thread and cross-thread
//! wake, a nop operation round trip on each driver, timer insert/cancel. No dependencies: each
//! figure is the median of several timed rounds, in ns per operation.
//!
//! `cargo bench` runs them in full; `cargo test --benches` (and `cargo test --all-targets`) runs
//! one tiny round of each as a smoke test.

use corio::{Driver, Runtime};
use std::future::{poll_fn, Future};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

struct Bench {
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
        per_op.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<32} {:>10.1} ns/op   (min {:.1}, max {:.1}, {rounds} rounds of {iters})",
            per_op[per_op.len() / 2],
            per_op[0],
            per_op[per_op.len() - 1]
        );
    }
}

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

fn main() {
    let b = Bench {
        full: std::env::args().any(|a| a == "--bench"),
    };
    for (label, driver) in [("uring", Driver::IoUring), ("epoll", Driver::Epoll)] {
        let rt = match Runtime::builder().driver(driver).build() {
            Ok(rt) => rt,
            Err(e) => {
                println!("{label}: skipped ({e})");
                continue;
            }
        };
        b.run(&format!("spawn+join [{label}]"), 100_000, |n| {
            rt.block_on(async {
                for i in 0..n {
                    assert_eq!(corio::spawn(async move { i }).await.unwrap(), i);
                }
            })
        });
        b.run(&format!("same-thread wake [{label}]"), 1_000_000, |n| {
            rt.block_on(async {
                for _ in 0..n {
                    yield_now().await;
                }
            })
        });
        b.run(&format!("nop op round trip [{label}]"), 100_000, |n| {
            rt.block_on(async {
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
                        let _ = s.as_mut().poll(cx);
                        Poll::Ready(())
                    })
                    .await;
                }
            })
        });
        b.run(&format!("cross-thread wake [{label}]"), 20_000, |n| {
            // A task parks; another thread wakes it; the round trip is timed.
            let (tx, rx) = mpsc::channel::<Waker>();
            let waker_thread = std::thread::spawn(move || {
                for w in rx {
                    w.wake();
                }
            });
            rt.block_on(async {
                for _ in 0..n {
                    let mut sent = false;
                    poll_fn(|cx| {
                        if sent {
                            return Poll::Ready(());
                        }
                        sent = true;
                        tx.send(cx.waker().clone()).unwrap();
                        Poll::Pending
                    })
                    .await;
                }
            });
            drop(tx);
            waker_thread.join().unwrap();
        });
    }
}
