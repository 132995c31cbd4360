//! The echo workload: corio's load generator (this process, one thread, every echoed byte
//! checked) against a `corio-bench serve echo --server NAME` child on its own core. The
//! file-serve workload runs the same way against `serve file`.
//!
//! One run: start the server and wait until it accepts; open the connections; warm up; take a
//! server snapshot (SIGUSR1 stats line + /proc CPU); measure; take another; stop the server.
//! Server figures are the difference of the two snapshots, so they cover exactly the measured
//! window. A server that fails to start or to answer becomes a row with an error.

use super::spec::{self, Case, CaseParams, RunEnv, Subject, Workload};
use crate::child::{self, Server};
use crate::load::{self, LoadConfig, Mode};
use crate::results::{LoadFigures, Row, Unit};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub static ECHO: Workload = Workload {
    name: "echo",
    about: "64-byte echo: ping-pong at 1, 50 and 500 connections, pipelined, connection churn, \
            an open-loop rate, and bulk streaming",
    cases,
    subjects: || spec::servers_with(|s| s.echo.is_some()),
    supports: |_, _| true,
    available: spec::always,
    subject_available: spec::every,
    run,
    finish: spec::nothing,
    model_pairs: &[("corio-uring", "corio-epoll"), ("raw-uring", "raw-epoll")],
    also: &[("corio-uring-compat", "corio-uring")],
    model_note: None,
    threads_share_core: false,
    min_secs: 0.0,
};

fn case(name: &str, pattern: &'static str, conns: usize, size: usize, depth: usize) -> Case {
    Case {
        name: name.into(),
        workload: &ECHO,
        unit: Unit::Request,
        pattern,
        conns,
        size,
        depth,
        rate: None,
        in_default: true,
        scales: false,
    }
}

fn cases(_: &CaseParams) -> Vec<Case> {
    let rate = Case {
        rate: Some(20_000.0),
        ..case("rate 20k/s c=50", "rate", 50, 64, 1)
    };
    let scales = |c: Case| Case { scales: true, ..c };
    vec![
        case("pingpong c=1", "pingpong", 1, 64, 1),
        scales(case("pingpong c=50", "pingpong", 50, 64, 1)),
        scales(case("pingpong c=500", "pingpong", 500, 64, 1)),
        scales(case("pipelined c=50 d=16", "pingpong", 50, 64, 16)),
        case("churn c=8", "churn", 8, 64, 1),
        rate,
        case("bulk c=1 16KiB", "bulk", 1, 16 * 1024, 1),
    ]
}

/// The load generator's mode for a case.
fn mode(case: &Case) -> Mode {
    match (case.pattern, case.rate) {
        ("pingpong", _) => Mode::PingPong,
        ("churn", _) => Mode::Churn,
        ("bulk", _) => Mode::Bulk,
        ("rate", Some(r)) => Mode::Rate(r),
        other => unreachable!("echo case {:?}: pattern and rate {other:?}", case.name),
    }
}

fn run(case: &Case, subject: &Subject, env: &RunEnv) -> Row {
    serve_and_load(case, subject, env, &["echo"], mode(case))
}

/// One run of corio's load generator against `corio-bench serve SERVICE.. --server NAME`
/// (`service`: the words after `serve`), as described at the top of this file; the load's
/// connections, size and depth are the case's.
pub(super) fn serve_and_load(
    case: &Case,
    subject: &Subject,
    env: &RunEnv,
    service: &[&str],
    mode: Mode,
) -> Row {
    let mut row = env.row(case, subject);
    let Some(spec) = subject.spec() else {
        row.error = Some(format!("{} is not a registered server", subject.name));
        return row;
    };
    let mut srv = match Server::start(spec, service, env.workers, &env.server) {
        Ok(s) => s,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let cfg = LoadConfig {
        addr: ([127, 0, 0, 1], srv.port).into(),
        conns: case.conns,
        size: case.size,
        depth: case.depth,
        secs: env.secs,
        warmup: env.warmup,
        mode,
        driver: env.load_driver,
    };
    let (warmup, secs) = (
        Duration::from_secs_f64(env.warmup),
        Duration::from_secs_f64(env.secs),
    );
    let (t0_tx, t0_rx) = mpsc::channel::<Instant>();
    let sampler = srv.sampler().map(|s| s.window(t0_rx, warmup, secs));
    match load::run(&cfg, Some(t0_tx)) {
        Ok(r) => row.load = Some(LoadFigures::from(&r)),
        Err(e) => row.error = Some(e.to_string()),
    }
    // The load returns after its window, so the sampler is due now (unless the load ended
    // early, and then the row has errors anyway).
    row.window = sampler.and_then(|h| child::join_within(h, Instant::now()));
    let complaint = srv.stop();
    let problem = match (&row.error, row.window, complaint) {
        (Some(_), _, _) => None,
        (None, None, c) => Some(c.unwrap_or_else(|| "the server sent no stats snapshot".into())),
        (None, Some(_), c) => c,
    };
    row.error = row.error.take().or(problem);
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_a_mode() {
        let modes: Vec<&str> = cases(&CaseParams { idle_pairs: 1 })
            .iter()
            .map(|c| mode(c).name())
            .collect();
        assert_eq!(
            modes,
            ["pingpong", "pingpong", "pingpong", "pingpong", "churn", "rate", "bulk"]
        );
    }
}
