//! The load generator, built on corio: one thread drives every connection, checks every echoed
//! (or fetched) byte, and records each request's latency. Every loop is bounded in time. The
//! per-mode connection loops are in `modes.rs` (echo) and `fetch.rs` (file servers); the tally
//! and the result in `result.rs`.

mod config;
mod fetch;
mod modes;
mod result;

pub use config::{LoadConfig, Mode};
pub use result::LoadResult;

use config::{connect, IO_TIMEOUT};

use crate::sys;
use corio::net::TcpStream;
use corio::time::{sleep_until, timeout};
use result::{Shared, Tally};
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Of the addresses a host name resolved to, the first that accepts a connection (tried in
/// order, one second each), else the first. One address is taken as it is, untried.
pub fn pick_addr(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    if addrs.len() > 1 {
        let tried = addrs
            .iter()
            .find(|a| std::net::TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok());
        if let Some(&a) = tried {
            return Some(a);
        }
    }
    addrs.first().copied()
}

/// Runs the load and returns the measured figures. Fails only if no connection could be made.
/// `t0` (if given) receives the instant the warm-up starts, once the connections are open.
pub fn run(
    cfg: &LoadConfig,
    t0: Option<std::sync::mpsc::Sender<Instant>>,
) -> io::Result<LoadResult> {
    if cfg.conns == 0 || cfg.size == 0 || cfg.depth == 0 || cfg.secs.is_nan() || cfg.secs <= 0.0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "conns, size, depth and secs must be positive",
        ));
    }
    let rt = corio::Runtime::builder().driver(cfg.driver).build()?;
    rt.block_on(run_async(cfg.clone(), t0))
}

fn connect_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("connect to {addr}: {e}"))
}

/// Opens the connections, all at once (churn opens its own: one is tried to see that the
/// server is there). Err if none could be made; else the streams and the failures.
async fn open(cfg: &LoadConfig) -> io::Result<(Vec<TcpStream>, u64)> {
    if cfg.mode == Mode::Churn {
        connect(cfg.addr)
            .await
            .map_err(|e| connect_error(cfg.addr, e))?;
        return Ok((Vec::new(), 0));
    }
    let attempts: Vec<_> = (0..cfg.conns)
        .map(|_| corio::spawn(connect(cfg.addr)))
        .collect();
    let (mut streams, mut failed, mut last_err) = (Vec::new(), 0, None);
    for a in attempts {
        match a.await {
            Ok(Ok(s)) => streams.push(s),
            Ok(Err(e)) => {
                failed += 1;
                last_err = Some(e);
            }
            Err(_) => failed += 1,
        }
    }
    if streams.is_empty() {
        let e = last_err.unwrap_or_else(|| io::Error::other("no connection"));
        return Err(connect_error(cfg.addr, e));
    }
    Ok((streams, failed))
}

/// Starts one task per connection (churn: per loop), as the mode says.
fn spawn_all(
    cfg: &LoadConfig,
    streams: Vec<TcpStream>,
    tally: &Shared,
) -> Vec<corio::JoinHandle<()>> {
    let n = streams.len();
    if cfg.mode == Mode::Fetch {
        let expect = Rc::new(crate::content::expected(0, cfg.size));
        return streams
            .into_iter()
            .map(|s| corio::spawn(fetch::fetch(s, cfg.clone(), expect.clone(), tally.clone())))
            .collect();
    }
    let each = streams.into_iter().enumerate();
    let (cfg, t) = (cfg.clone(), tally);
    match cfg.mode {
        Mode::PingPong => each
            .map(|(i, s)| corio::spawn(modes::pingpong(s, i as u64, cfg.clone(), t.clone())))
            .collect(),
        Mode::Churn => (0..cfg.conns)
            .map(|i| corio::spawn(modes::churn(i as u64, cfg.clone(), t.clone())))
            .collect(),
        Mode::Bulk => each
            .map(|(i, s)| corio::spawn(modes::bulk(s, i as u64, cfg.clone(), t.clone())))
            .collect(),
        Mode::Fetch => unreachable!("fetch connections are spawned above"),
        Mode::Rate(rate) => each
            .map(|(i, s)| {
                let per_conn = rate / n as f64;
                corio::spawn(modes::open_loop(
                    s,
                    i as u64,
                    per_conn,
                    cfg.clone(),
                    t.clone(),
                ))
            })
            .collect(),
    }
}

async fn run_async(
    cfg: LoadConfig,
    t0_tx: Option<std::sync::mpsc::Sender<Instant>>,
) -> io::Result<LoadResult> {
    let (streams, connect_errors) = open(&cfg).await?;
    let t0 = Instant::now();
    if let Some(tx) = t0_tx {
        // The sampler may be gone (it failed): the load runs on regardless.
        let _ = tx.send(t0);
    }
    let start = t0 + Duration::from_secs_f64(cfg.warmup);
    let end = start + Duration::from_secs_f64(cfg.secs);
    let tally: Shared = Rc::new(RefCell::new(Tally::new(start, end, connect_errors)));
    let tasks = spawn_all(&cfg, streams, &tally);
    let cpu = corio::spawn(thread_use(start, end));
    // Every task stops by itself shortly after `end`; this bound is a backstop.
    let hard_stop = end + IO_TIMEOUT + Duration::from_secs(2);
    for t in tasks {
        let left = hard_stop.saturating_duration_since(Instant::now());
        if timeout(left, t).await.is_err() {
            tally.borrow_mut().errors += 1;
        }
    }
    // Open-loop and bulk connections may finish their last request just before `end`; a run
    // that ends earlier than this lost its connections, and its window ends here.
    let ended_early = Instant::now() + Duration::from_millis(50) < end;
    let window_end = if ended_early { Instant::now() } else { end };
    let (load_cpu_us, load_wait_us) = if ended_early {
        cpu.abort();
        (None, None)
    } else {
        match timeout(Duration::from_secs(1), cpu).await {
            Ok(Ok((c, w))) => (Some(c), w),
            _ => (None, None),
        }
    };
    let t = tally.borrow();
    Ok(LoadResult {
        requests: t.requests,
        bytes: t.bytes,
        secs: window_end.saturating_duration_since(start).as_secs_f64(),
        p50_us: t.quantile_us(0.5),
        p99_us: t.quantile_us(0.99),
        p999_us: t.quantile_us(0.999),
        errors: t.errors,
        corrupt: t.corrupt,
        connect_errors: t.connect_errors,
        load_cpu_us,
        load_wait_us,
    })
}

/// This thread's CPU time and run-queue wait between `start` and `end`, µs.
async fn thread_use(start: Instant, end: Instant) -> (u64, Option<u64>) {
    sleep_until(start).await;
    let (a, wa) = (sys::thread_cpu_us(), sys::thread_wait_us());
    sleep_until(end).await;
    let wait = sys::thread_wait_us()
        .zip(wa)
        .map(|(b, a)| b.saturating_sub(a));
    (sys::thread_cpu_us().saturating_sub(a), wait)
}
