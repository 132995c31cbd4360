//! What makes the porting toolkit worth using, measured: `copy_bidirectional` buffered
//! against spliced on each driver, and the local against the thread-safe semaphore.
//! No dependencies; each figure is the median of interleaved rounds.
//!
//! `cargo bench -p corio --bench toolkit` runs them in full; `cargo test --benches` runs one
//! tiny round of each as a smoke test.
//!
//! - `copy`: a client sends `BYTES` through a proxy to a sink and the sink's total is checked.
//!   The proxy is one executor on its own thread running `copy_bidirectional_with` (splice
//!   `Never` or `Always`); client and sink share a second thread. The figure is the proxy
//!   thread's CPU time per GiB moved (getrusage RUSAGE_THREAD) and the wall-clock rate. Rounds
//!   alternate buffered / spliced, per driver.
//! - `semaphore`: one task acquires and releases a permit `N` times (uncontended), and 64
//!   tasks share 8 permits, each acquiring, yielding, releasing (contended): ns per
//!   acquire+release, `sync::local::Semaphore` against `sync::Semaphore`.

use corio::io::{copy_bidirectional_with, CopyOptions, Splice};
use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass; all-zero is a valid initial value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rt(driver: DriverChoice) -> Runtime {
    Runtime::builder().driver(driver).build().expect("runtime")
}

/// One proxied transfer of `bytes`; returns (proxy CPU, wall).
fn copy_round(driver: DriverChoice, splice: Splice, bytes: usize) -> (Duration, Duration) {
    let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let back = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (faddr, baddr) = (front.local_addr().unwrap(), back.local_addr().unwrap());
    let proxy = std::thread::spawn(move || {
        rt(driver).block_on(async move {
            let front = TcpListener::from_std(front).unwrap();
            let (mut client, _) = front.accept().await.unwrap();
            let mut upstream = TcpStream::connect(baddr).await.unwrap();
            let cpu = thread_cpu();
            let options = CopyOptions {
                splice,
                ..CopyOptions::default()
            };
            let (up, _) = copy_bidirectional_with(&mut client, &mut upstream, &options)
                .await
                .unwrap();
            assert_eq!(up, bytes as u64);
            thread_cpu() - cpu
        })
    });
    let start = Instant::now();
    rt(driver).block_on(async move {
        let back = TcpListener::from_std(back).unwrap();
        let sink = corio::spawn(async move {
            let (conn, _) = back.accept().await.unwrap();
            let mut total = 0;
            let mut buf = Vec::with_capacity(256 << 10);
            loop {
                buf.clear();
                let (res, b) = conn.read(buf).await;
                buf = b;
                match res.unwrap() {
                    0 => break,
                    n => total += n,
                }
            }
            conn.shutdown(std::net::Shutdown::Write).await.unwrap();
            total
        });
        let client = TcpStream::connect(faddr).await.unwrap();
        let chunk = vec![7u8; 256 << 10];
        let mut sent = 0;
        let mut chunk = chunk;
        while sent < bytes {
            let n = chunk.len().min(bytes - sent);
            let (res, c) = client.write_all(chunk.slice(0..n)).await;
            chunk = c.into_inner();
            res.unwrap();
            sent += n;
        }
        client.shutdown(std::net::Shutdown::Write).await.unwrap();
        let (n, _) = client.read(Vec::with_capacity(1)).await;
        assert_eq!(n.unwrap(), 0);
        assert_eq!(sink.await.unwrap(), bytes);
    });
    let wall = start.elapsed();
    (proxy.join().unwrap(), wall)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

use corio::buf::IoBuf;

fn copy_bench(full: bool) {
    let (rounds, bytes) = if full {
        (7, 1usize << 30)
    } else {
        (1, 1 << 20)
    };
    let gib = bytes as f64 / (1u64 << 30) as f64;
    for driver in [DriverChoice::IoUring, DriverChoice::Epoll] {
        if Runtime::builder().driver(driver).build().is_err() {
            println!("copy on {driver:?}: skipped (driver unavailable)");
            continue;
        }
        let mut cpu = [Vec::new(), Vec::new()];
        let mut rate = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, splice) in [Splice::Never, Splice::Always].into_iter().enumerate() {
                let (c, w) = copy_round(driver, splice, bytes);
                cpu[i].push(c.as_secs_f64() * 1e3 / gib);
                rate[i].push(gib / w.as_secs_f64());
            }
        }
        if !full {
            println!("copy on {driver:?}: ok (smoke run; timings need `cargo bench`)");
            continue;
        }
        let (b, s) = (median(cpu[0].clone()), median(cpu[1].clone()));
        println!(
            "copy on {driver:?}: buffered {b:.0} ms CPU/GiB ({:.2} GiB/s), spliced {s:.0} ms CPU/GiB ({:.2} GiB/s): spliced/buffered CPU = {:.2}",
            median(rate[0].clone()),
            median(rate[1].clone()),
            s / b
        );
    }
}

fn semaphore_bench(full: bool) {
    let (rounds, n) = if full { (7, 2_000_000u64) } else { (1, 100) };
    let rt = rt(DriverChoice::Auto);
    let mut figures: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        rt.block_on(async {
            let local = corio::sync::local::Semaphore::new(1);
            let start = Instant::now();
            for _ in 0..n {
                drop(local.acquire().await.unwrap());
            }
            figures[0].push(start.elapsed().as_nanos() as f64 / n as f64);
            let shared = corio::sync::Semaphore::new(1);
            let start = Instant::now();
            for _ in 0..n {
                drop(shared.acquire().await.unwrap());
            }
            figures[1].push(start.elapsed().as_nanos() as f64 / n as f64);

            let per = n / 64;
            let local = Rc::new(corio::sync::local::Semaphore::new(8));
            let start = Instant::now();
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let s = local.clone();
                    corio::spawn(async move {
                        for _ in 0..per {
                            let p = s.acquire().await.unwrap();
                            corio::task::yield_now().await;
                            drop(p);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            figures[2].push(start.elapsed().as_nanos() as f64 / (per * 64) as f64);
            let shared = Arc::new(corio::sync::Semaphore::new(8));
            let start = Instant::now();
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let s = shared.clone();
                    corio::spawn(async move {
                        for _ in 0..per {
                            let p = s.acquire().await.unwrap();
                            corio::task::yield_now().await;
                            drop(p);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            figures[3].push(start.elapsed().as_nanos() as f64 / (per * 64) as f64);
        });
    }
    if !full {
        println!("semaphore: ok (smoke run; timings need `cargo bench`)");
        return;
    }
    let m: Vec<f64> = figures.iter().map(|f| median(f.clone())).collect();
    println!(
        "semaphore uncontended: local {:.1} ns, thread-safe {:.1} ns per acquire+release (thread-safe/local = {:.2})",
        m[0],
        m[1],
        m[1] / m[0]
    );
    println!(
        "semaphore 64 tasks / 8 permits (with a yield each): local {:.1} ns, thread-safe {:.1} ns (thread-safe/local = {:.2})",
        m[2],
        m[3],
        m[3] / m[2]
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| "semaphore".contains(o)) {
        semaphore_bench(full);
    }
    if only.as_deref().is_none_or(|o| "copy".contains(o)) {
        copy_bench(full);
    }
}
