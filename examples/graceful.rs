//! A thread-per-core echo server with graceful shutdown: one worker per core, each accepting on
//! its own SO_REUSEPORT listener; SIGINT or SIGTERM stops the accepting, lets the open
//! connections finish within the grace period, then stops what is left.
//!
//! ```text
//! cargo run --release --example graceful -- --addr 127.0.0.1:9000 [--workers N] [--grace-ms MS]
//! ```
//!
//! `run` is called from the main thread before any other thread exists, so SIGINT and SIGTERM
//! are blocked in every thread of the process and only the runtime's signalfd sees them.

use corio::net::{TcpListener, TcpStream};
use corio::Runtime;
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

fn main() {
    let mut addr = "127.0.0.1:9000".to_string();
    let mut workers = None;
    let mut grace_ms = 5000u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--addr", Some(v)) => addr = v,
            ("--workers", Some(v)) => workers = v.parse().ok(),
            ("--grace-ms", Some(v)) => grace_ms = v.parse().unwrap_or(grace_ms),
            _ => {
                eprintln!("usage: graceful --addr HOST:PORT [--workers N] [--grace-ms MS]");
                std::process::exit(2);
            }
        }
    }
    let mut builder = Runtime::builder();
    builder
        .handle_signals(true)
        .grace_period(Duration::from_millis(grace_ms));
    if let Some(n) = workers {
        builder.workers(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("graceful: {e}");
            std::process::exit(1);
        }
    };
    let stopped_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let s = stopped_at.clone();
    let results = rt.run(move |id| {
        let addr = addr.clone();
        let stopped_at = s.clone();
        async move {
            let listener = match TcpListener::bind_reuseport(addr.as_str()) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("worker {id}: bind {addr}: {e}");
                    return;
                }
            };
            if id == 0 {
                println!("READY {} workers", corio::worker_count());
            }
            let active = Rc::new(Cell::new(0usize));
            let mut stop = pin!(corio::shutdown_requested());
            loop {
                let mut accept = pin!(listener.accept());
                let next = std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = accept.as_mut().poll(cx) {
                        return Poll::Ready(Some(r));
                    }
                    stop.as_mut().poll(cx).map(|()| None)
                })
                .await;
                let Some(Ok((conn, _))) = next else { break };
                active.set(active.get() + 1);
                let active = active.clone();
                corio::spawn(async move {
                    echo(conn).await;
                    active.set(active.get() - 1);
                });
            }
            stopped_at.lock().unwrap().get_or_insert_with(Instant::now);
            drop(listener);
            // Drain: the open connections finish (or the grace period ends them).
            while active.get() > 0 {
                corio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let took = stopped_at
        .lock()
        .unwrap()
        .map(|t| t.elapsed().as_millis())
        .unwrap_or(0);
    match results {
        Ok(results) => {
            let ended: Vec<&str> = results
                .iter()
                .map(|r| match r {
                    Ok(()) => "drained",
                    Err(e) if e.is_cancelled() => "forced",
                    Err(_) => "panicked",
                })
                .collect();
            println!("ENDED {} after {took} ms", ended.join(","));
        }
        Err(e) => {
            eprintln!("graceful: {e}");
            std::process::exit(1);
        }
    }
}

async fn echo(conn: TcpStream) {
    let mut buf = Vec::with_capacity(16 << 10);
    loop {
        buf.clear();
        let (res, b) = conn.read(buf).await;
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let (res, b) = conn.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}
