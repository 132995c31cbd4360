//! The http workload: Debian's `wrk` (one thread, 50 keep-alive connections, on the load
//! core) against `corio-bench serve http --server NAME` (hyper, `GET /` answering 64 bytes)
//! pinned alone to the server core. Skipped, saying why, where `wrk` is not installed.
//!
//! wrk runs for whole seconds only, so one run is `wrk -d N` with N the warm-up plus the
//! window rounded up (at least 1 s); the server is snapshotted (SIGUSR1) at the end of the
//! warm-up and 0.1 s before wrk stops. Requests and server CPU come from the server over that
//! window (it counts the requests it serves), so CPU per request covers exactly the same
//! time, and so do requests/s; p50 and p99 are wrk's, over its whole run, and errors are wrk's
//! socket errors plus non-2xx answers. wrk checks no bodies: the tests check them byte for byte.

use super::spec::{self, Case, CaseParams, RunEnv, Subject, Workload};
use crate::child::{self, Server};
use crate::results::{LoadFigures, Row, Unit};
use crate::servers::http_service::BODY as HTTP_BODY;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod wrk;

pub static HTTP: Workload = Workload {
    name: "http",
    about: "hyper 1.x, HTTP/1.1 keep-alive, GET / answering 64 bytes, driven by wrk with 50 \
            connections",
    cases,
    subjects: || spec::servers_with(|s| s.http.is_some()),
    supports: |_, _| true,
    available: wrk::available,
    subject_available: spec::every,
    run,
    finish: spec::nothing,
    model_pairs: &[("corio-uring", "corio-epoll")],
    also: &[("corio-uring", "tokio"), ("corio-epoll", "tokio")],
    model_note: None,
    threads_share_core: false,
    min_secs: 0.0,
};

fn cases(_: &CaseParams) -> Vec<Case> {
    vec![Case {
        name: "http c=50".into(),
        workload: &HTTP,
        unit: Unit::Request,
        pattern: "wrk",
        conns: 50,
        size: HTTP_BODY.len(),
        depth: 1,
        rate: None,
        in_default: true,
        scales: false,
    }]
}

fn run(case: &Case, subject: &Subject, env: &RunEnv) -> Row {
    let mut row = env.row(case, subject);
    let Some(spec) = subject.spec() else {
        row.error = Some(format!("{} is not a registered server", subject.name));
        return row;
    };
    let mut srv = match Server::start(spec, &["http"], env.workers, &env.server) {
        Ok(s) => s,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let whole = (env.warmup + env.secs).ceil().max(1.0);
    let window = whole - env.warmup - 0.1;
    let (t0_tx, t0_rx) = mpsc::channel::<Instant>();
    let sampler = srv.sampler().map(|s| {
        s.window(
            t0_rx,
            Duration::from_secs_f64(env.warmup),
            Duration::from_secs_f64(window),
        )
    });
    let before = crate::sys::children_cpu_us();
    let out = drive(case, srv.port, whole as u64, t0_tx);
    let wrk_cpu = crate::sys::children_cpu_us().saturating_sub(before);
    row.window = sampler.and_then(|h| child::join_within(h, Instant::now()));
    let complaint = srv.stop();
    match out {
        Ok(text) => match wrk::parse(&text) {
            Some(w) => {
                let requests = row.window.and_then(|s| s.requests).unwrap_or(0);
                row.load = Some(LoadFigures {
                    requests,
                    bytes: requests * HTTP_BODY.len() as u64,
                    secs: window,
                    p50_us: Some(w.p50_us),
                    p99_us: Some(w.p99_us),
                    p999_us: None,
                    errors: w.errors,
                    corrupt: 0,
                    connect_errors: w.connect_errors,
                    // wrk's CPU over its run, scaled to the window.
                    load_cpu_us: Some((wrk_cpu as f64 * window / whole) as u64),
                    load_wait_us: None,
                });
            }
            None => row.error = Some(format!("wrk's output is not what was expected: {text}")),
        },
        Err(e) => row.error = Some(e),
    }
    if row.error.is_none() && row.window.is_none() {
        row.error = Some(complaint.unwrap_or_else(|| "the server sent no stats snapshot".into()));
    }
    row
}

/// Runs wrk for `secs` whole seconds against the server; its stdout, or why it failed.
fn drive(case: &Case, port: u16, secs: u64, t0: mpsc::Sender<Instant>) -> Result<String, String> {
    let mut child = Command::new(wrk::PROGRAM)
        .args(["-t1", &format!("-c{}", case.conns), &format!("-d{secs}s")])
        .args(["--latency", &format!("http://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning wrk: {e}"))?;
    // wrk's connections open within milliseconds of its start: the warm-up counts from here.
    let _ = t0.send(Instant::now());
    let deadline = Instant::now() + Duration::from_secs(secs + 10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("wrk did not finish within {} s; killed", secs + 10));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for wrk: {e}")),
        }
    };
    // wrk's output is a few hundred bytes: it fits the pipes, so reading after the exit is safe.
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(format!(
            "wrk exited with {status}: {}{}",
            out.trim(),
            err.trim()
        ));
    }
    Ok(out)
}
