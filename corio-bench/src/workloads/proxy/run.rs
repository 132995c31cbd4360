//! One run of a proxy case against one proxy.
//!
//! Every run has the same shape, whatever the proxy: a fresh echo upstream (`corio-bench serve
//! echo --server raw-epoll`, the cheapest echo server) and this process's load generator share
//! the load core; the proxy, fresh too, has the server core to itself (under the run's
//! syscall-cost filter). Timed cases drive the load generator (every echoed byte checked)
//! through the proxy and read the proxy's CPU time and run-queue wait (schedstat, all its
//! threads) at the start and the end of the measured window. The idle case opens pairs through
//! the proxy, proves each one reaches the upstream (one byte echoed), and reads the proxy's
//! resident memory before and after.

use super::proxies::{ProxySpec, Running};
use crate::child::{Placement, Server};
use crate::load::{self, LoadConfig, Mode};
use crate::results::{LoadFigures, Memory, ServerFigures};
use crate::servers;
use crate::sys;
use crate::workloads::spec::{Case, RunEnv};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one run measured.
pub enum Measured {
    Timed {
        load: Box<LoadFigures>,
        window: ServerFigures,
    },
    Idle(Memory),
}

/// One run of `case` against `proxy`; Err with the reason (never a panic or a hang).
pub fn run(case: &Case, proxy: &ProxySpec, env: &RunEnv, dir: &Path) -> Result<Measured, String> {
    let echo = servers::find("raw-epoll").ok_or("the raw-epoll echo server is not registered")?;
    let beside_load = Placement {
        cores: env.load_core.into_iter().collect(),
        filter: None,
    };
    let mut upstream = Server::start(echo, &["echo"], 1, &beside_load)?;
    let upstream_addr: SocketAddr = ([127, 0, 0, 1], upstream.port).into();
    let mut running = proxy.start(upstream_addr, &env.server, dir)?;
    let out = match case.pattern {
        "idle" => idle(case.conns, &running),
        _ => timed(case, &running, env),
    };
    let complaint = running.stop();
    upstream.stop();
    match (out, complaint) {
        (Ok(m), None) => Ok(m),
        (Ok(_), Some(c)) => Err(c),
        (Err(e), _) => Err(e),
    }
}

/// The proxy's CPU time and run-queue wait now, µs.
fn proxy_now(pid: u32) -> Option<ServerFigures> {
    Some(ServerFigures {
        cpu_us: sys::proc_schedstat_cpu_us(pid)?,
        run_wait_us: sys::proc_run_wait_us(pid),
        ..ServerFigures::default()
    })
}

fn timed(case: &Case, proxy: &Running, env: &RunEnv) -> Result<Measured, String> {
    let mode = match (case.pattern, case.rate) {
        ("bulk", _) => Mode::Bulk,
        ("rate", Some(r)) => Mode::Rate(r),
        _ => Mode::PingPong,
    };
    let cfg = LoadConfig {
        addr: proxy.addr,
        conns: case.conns,
        size: case.size,
        depth: 1,
        secs: env.secs,
        warmup: env.warmup,
        mode,
        driver: env.load_driver,
    };
    let (t0_tx, t0_rx) = mpsc::channel::<Instant>();
    let pid = proxy.pid();
    let sampler = {
        let (warmup, secs) = (env.warmup, env.secs);
        std::thread::spawn(move || {
            let start = t0_rx.recv().ok()? + Duration::from_secs_f64(warmup);
            std::thread::sleep(start.saturating_duration_since(Instant::now()));
            let a = proxy_now(pid)?;
            let end = start + Duration::from_secs_f64(secs);
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            Some(proxy_now(pid)?.since(&a))
        })
    };
    let load = load::run(&cfg, Some(t0_tx)).map_err(|e| format!("load: {e}"))?;
    let window = sampler
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
    Ok(Measured::Timed {
        load: Box::new(LoadFigures::from(&load)),
        window,
    })
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
    Ok(Measured::Idle(Memory {
        pairs,
        rss_before_kib: before,
        rss_after_kib: after,
    }))
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
