//! SIGTERM with open connections: the runtime's workers stop accepting, finish the open
//! connections within the grace period, and `run` returns; connections still open when the
//! grace period ends are dropped and `run` returns anyway.
//!
//! A test without libtest's harness (`harness = false`): the child server must call `run` from
//! the process's main thread before any other thread exists, so that every thread blocks
//! SIGINT/SIGTERM and only the runtime's signalfd receives them. The same binary is parent
//! (runs the checks) and child (`CORIO_SIGTERM_CHILD` set: runs the server). The checks run
//! once per driver, like the rest of the suite: the parent names the pass's driver to the
//! child in its `CORIO_DRIVER`, and the child reports the driver it got.

mod support;

use corio::net::TcpListener;
use corio::{DriverChoice, Runtime};
use std::cell::Cell;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::pin::pin;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};
use support::echo;

const GRACE: Duration = Duration::from_millis(1500);

fn main() {
    if let Ok(port) = std::env::var("CORIO_SIGTERM_CHILD") {
        child(port.parse().unwrap());
        return;
    }
    // `cargo test -- --list` and similar: nothing to list but ourselves.
    if std::env::args().any(|a| a == "--list") {
        println!("sigterm: test");
        return;
    }
    support::each_driver_as("sigterm", || {
        let driver = support::choice();
        let (ended, took) = sigterm_with_50_connections(driver, true);
        assert!(ended.starts_with("drained,drained"), "{ended}");
        assert!(took < GRACE, "draining took {took:?}");
        println!("sigterm drains open connections within the grace period ... ok ({took:?})");

        let (ended, took) = sigterm_with_50_connections(driver, false);
        assert!(ended.contains("forced"), "{ended}");
        assert!(took >= GRACE, "stopped before the grace period: {took:?}");
        assert!(took < GRACE + Duration::from_secs(8), "took {took:?}");
        println!("sigterm forces stragglers after the grace period ... ok ({took:?})");
    });
}

fn child(port: u16) {
    // The driver comes from CORIO_DRIVER, which the parent sets.
    let rt = Runtime::builder()
        .workers(2)
        .handle_signals(true)
        .grace_period(GRACE)
        .build()
        .unwrap();
    println!("DRIVER {:?}", rt.driver_info().kind);
    let results = rt
        .run(move |id| async move {
            let listener = TcpListener::bind_reuseport(("127.0.0.1", port)).unwrap();
            if id == 0 {
                println!("READY");
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
            drop(listener);
            while active.get() > 0 {
                corio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .unwrap();
    let ended: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(()) => "drained",
            Err(e) if e.is_cancelled() => "forced",
            Err(_) => "panicked",
        })
        .collect();
    println!("ENDED {}", ended.join(","));
}

/// Starts the child server on `driver`, opens 50 connections, sends SIGTERM, checks the
/// connections still work; then closes them (`close_after`) or leaves them open. Returns the
/// child's report and the time from SIGTERM to its exit.
fn sigterm_with_50_connections(driver: DriverChoice, close_after: bool) -> (String, Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("CORIO_SIGTERM_CHILD", port.to_string())
        .env("CORIO_DRIVER", support::name(driver))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut got = None;
    while !line.contains("READY") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        if let Some(kind) = line.trim().strip_prefix("DRIVER ") {
            got = Some(kind.to_string());
        }
    }
    let want = format!("{:?}", support::driver());
    assert_eq!(got.as_deref(), Some(&*want), "the child's driver");
    std::thread::sleep(Duration::from_millis(50));
    let mut conns: Vec<std::net::TcpStream> = (0..50u8)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(&[i; 8]).unwrap();
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            s
        })
        .collect();
    let signalled = Instant::now();
    // SAFETY: kill(2) on the pid of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(100));
    // In-flight work goes on during the grace period: every connection still echoes.
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(&[i as u8; 8]).unwrap();
        let mut b = [0u8; 8];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b, [i as u8; 8]);
    }
    if close_after {
        conns.clear();
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    drop(conns);
    assert!(status.success(), "child failed: {rest}");
    let ended = rest
        .lines()
        .find_map(|l| l.split_once("ENDED ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("no report: {rest}"));
    (ended, took)
}
