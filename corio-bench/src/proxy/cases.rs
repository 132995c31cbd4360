//! The proxy workload's cases and one run of a case against one proxy.
//!
//! Every run has the same shape, whatever the proxy: a fresh echo upstream (`corio-bench serve
//! echo --server raw-epoll`, the cheapest echo server) and this process's load generator share
//! the load core; the proxy, fresh too, has the proxy core to itself. Timed cases drive the
//! load generator (every echoed byte checked) through the proxy and read the proxy's CPU time
//! (schedstat, all its threads) at the start and the end of the measured window. The idle case
//! opens pairs through the proxy, proves each one reaches the upstream (one byte echoed), and
//! reads the proxy's resident memory before and after.

use super::proxies::{ProxySpec, Running};
use crate::child::Server;
use crate::load::{self, LoadConfig, LoadResult, Mode};
use crate::servers;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One 64 B or 4 KiB request in flight per connection.
    PingPong,
    /// Full duplex streaming per connection; counted in megabytes.
    Bulk,
    /// Pairs held open doing nothing; memory per pair.
    Idle,
}

#[derive(Debug, Clone)]
pub struct ProxyCase {
    pub name: &'static str,
    pub pattern: Pattern,
    pub conns: usize,
    pub size: usize,
}

/// The cases, in table order; `idle_pairs` for the idle case.
pub fn cases(idle_pairs: usize) -> Vec<ProxyCase> {
    let c = |name, pattern, conns, size| ProxyCase {
        name,
        pattern,
        conns,
        size,
    };
    vec![
        c("64B c=50", Pattern::PingPong, 50, 64),
        c("64B c=500", Pattern::PingPong, 500, 64),
        c("4KiB c=50", Pattern::PingPong, 50, 4096),
        c("bulk c=2 64KiB", Pattern::Bulk, 2, 64 * 1024),
        c("idle", Pattern::Idle, idle_pairs, 1),
    ]
}

/// Whether a proxy runs this case: splice proxies run bulk only (their point).
pub fn runs(case: &ProxyCase, proxy: &ProxySpec) -> bool {
    !proxy.splice() || case.pattern == Pattern::Bulk
}

/// Where a run goes.
pub struct Cores {
    pub load: usize,
    pub proxy: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub enum Measured {
    Timed {
        load: LoadResult,
        /// The proxy's CPU over the measured window, µs.
        proxy_cpu_us: u64,
    },
    Idle {
        pairs: usize,
        rss_before_kib: u64,
        rss_after_kib: u64,
    },
}

impl Measured {
    /// Proxy CPU per unit (µs per request; ms per GB in bulk).
    pub fn cpu_per_unit(&self, case: &ProxyCase) -> Option<f64> {
        let Measured::Timed { load, proxy_cpu_us } = self else {
            return None;
        };
        let units = match case.pattern {
            Pattern::Bulk => load.bytes as f64 / 1e9,
            _ => load.requests as f64,
        };
        let per = *proxy_cpu_us as f64 / units;
        // ms per GB in bulk, µs per request otherwise.
        (units > 0.0).then_some(if case.pattern == Pattern::Bulk {
            per / 1000.0
        } else {
            per
        })
    }

    /// KiB of proxy memory per idle pair.
    pub fn kib_per_pair(&self) -> Option<f64> {
        let Measured::Idle {
            pairs,
            rss_before_kib,
            rss_after_kib,
        } = *self
        else {
            return None;
        };
        (pairs > 0).then(|| rss_after_kib.saturating_sub(rss_before_kib) as f64 / pairs as f64)
    }
}

/// Seconds of a timed run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub secs: f64,
    pub warmup: f64,
}

/// One run of `case` against `proxy`; Err with the reason (never a panic or a hang).
pub fn run(
    case: &ProxyCase,
    proxy: &ProxySpec,
    cores: &Cores,
    timing: Timing,
    dir: &Path,
) -> Result<Measured, String> {
    let echo = servers::find("raw-epoll").ok_or("the raw-epoll echo server is not registered")?;
    let mut upstream = Server::start(echo, &["echo"], Some(cores.load))?;
    let upstream_addr: SocketAddr = ([127, 0, 0, 1], upstream.port).into();
    let mut running = proxy.start(upstream_addr, cores.proxy, dir)?;
    let out = match case.pattern {
        Pattern::Idle => idle(case.conns, &running),
        _ => timed(case, &running, timing),
    };
    let complaint = running.stop();
    upstream.stop();
    match (out, complaint) {
        (Ok(m), None) => Ok(m),
        (Ok(_), Some(c)) => Err(c),
        (Err(e), _) => Err(e),
    }
}

fn timed(case: &ProxyCase, proxy: &Running, timing: Timing) -> Result<Measured, String> {
    let cfg = LoadConfig {
        addr: proxy.addr,
        conns: case.conns,
        size: case.size,
        depth: 1,
        secs: timing.secs,
        warmup: timing.warmup,
        mode: match case.pattern {
            Pattern::Bulk => Mode::Bulk,
            _ => Mode::PingPong,
        },
        driver: corio::DriverChoice::Auto,
    };
    let (t0_tx, t0_rx) = mpsc::channel::<Instant>();
    let pid = proxy.pid();
    let sampler = {
        let read = move || Running::cpu_us_of(pid);
        let (warmup, secs) = (timing.warmup, timing.secs);
        std::thread::spawn(move || {
            let start = t0_rx.recv().ok()? + Duration::from_secs_f64(warmup);
            std::thread::sleep(start.saturating_duration_since(Instant::now()));
            let a = read()?;
            let end = start + Duration::from_secs_f64(secs);
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            Some(read()?.saturating_sub(a))
        })
    };
    let load = load::run(&cfg, Some(t0_tx)).map_err(|e| format!("load: {e}"))?;
    let proxy_cpu_us = sampler
        .join()
        .ok()
        .flatten()
        .ok_or("the proxy's CPU time could not be read")?;
    if load.corrupt > 0 {
        return Err(format!(
            "{} corrupt responses through the proxy",
            load.corrupt
        ));
    }
    Ok(Measured::Timed { load, proxy_cpu_us })
}

/// How many idle pairs are opened at once.
const IDLE_BATCH: usize = 200;

/// Opens `pairs` connections through the proxy, each echoing one byte (so the proxy holds its
/// upstream connection too), waits for the proxy to settle, reads its RSS, then checks that
/// every pair still echoes.
fn idle(pairs: usize, proxy: &Running) -> Result<Measured, String> {
    let rt = corio::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
    let addr = proxy.addr;
    // The baseline: the proxy after one pair has come and gone.
    rt.block_on(async {
        let s = connect_echo(addr, 0).await?;
        s.shutdown(std::net::Shutdown::Write).await.ok();
        let _ = corio::time::timeout(Duration::from_secs(2), s.read(Vec::with_capacity(1))).await;
        Ok::<_, String>(())
    })?;
    std::thread::sleep(Duration::from_millis(300));
    let before = proxy.rss_kib().ok_or("the proxy's RSS could not be read")?;
    let (streams, after) = rt.block_on(async {
        let mut streams = Vec::with_capacity(pairs);
        while streams.len() < pairs {
            let batch = IDLE_BATCH.min(pairs - streams.len());
            let tasks: Vec<_> = (0..batch)
                .map(|i| corio::spawn(connect_echo(addr, (streams.len() + i) as u8)))
                .collect();
            for t in tasks {
                streams.push(t.await.map_err(|e| format!("task: {e}"))??);
            }
        }
        corio::time::sleep(Duration::from_secs(1)).await;
        let after = proxy.rss_kib().ok_or("the proxy's RSS could not be read")?;
        // Every pair is still there: one more byte each, in batches.
        let mut streams = streams;
        let mut kept = Vec::with_capacity(pairs);
        while !streams.is_empty() {
            let batch: Vec<_> = streams.drain(..IDLE_BATCH.min(streams.len())).collect();
            let tasks: Vec<_> = batch
                .into_iter()
                .enumerate()
                .map(|(i, s)| corio::spawn(echo_one(s, i as u8)))
                .collect();
            for t in tasks {
                kept.push(t.await.map_err(|e| format!("task: {e}"))??);
            }
        }
        Ok::<_, String>((kept, after))
    })?;
    drop(streams);
    Ok(Measured::Idle {
        pairs,
        rss_before_kib: before,
        rss_after_kib: after,
    })
}

/// Connects through the proxy and echoes one byte.
async fn connect_echo(addr: SocketAddr, byte: u8) -> Result<corio::net::TcpStream, String> {
    let s = corio::time::timeout(Duration::from_secs(5), corio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect to {addr}: timed out"))?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    echo_one(s, byte).await
}

/// Writes one byte and reads it back, within 5 s.
async fn echo_one(s: corio::net::TcpStream, byte: u8) -> Result<corio::net::TcpStream, String> {
    let (r, _) = s.write_all(vec![byte]).await;
    r.map_err(|e| format!("write through the proxy: {e}"))?;
    let (r, buf) =
        corio::time::timeout(Duration::from_secs(5), s.read_exact(Vec::with_capacity(1)))
            .await
            .map_err(|_| "no echo through the proxy within 5 s".to_string())?;
    r.map_err(|e| format!("read through the proxy: {e}"))?;
    if buf[0] != byte {
        return Err(format!("echoed {} for {byte}", buf[0]));
    }
    Ok(s)
}
