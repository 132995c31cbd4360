//! The proxy workload: corio-proxy under each driver (buffered, and splice for bulk) against
//! HAProxy (`mode tcp`, `nbthread 1`), nginx's stream module (one worker) and a tokio
//! current_thread proxy, on identical work (`run.rs` says how one run goes). Its rows are the
//! suite's rows, so it is charted, compared and exported like every other workload; `corio-bench
//! proxy` is the shortcut for all of its cases with longer windows. A proxy this machine lacks
//! is skipped with its reason.
//!
//! Cases: 64 B ping-pong at 50 and 500 connections, 4 KiB at 50, an open-loop rate (latency
//! under a load well below saturation, from each request's scheduled time), full-duplex bulk
//! (CPU per MB), and idle pairs (resident memory per pair). The default suite runs the 64 B
//! ping-pong at 50, the rate and the idle case.

mod proxies;
mod run;

use super::spec::{self, Case, CaseParams, RunEnv, Subject, Workload};
use crate::results::{Row, Unit};
use run::Measured;
use std::path::PathBuf;
use std::sync::Mutex;

pub static PROXY: Workload = Workload {
    name: "proxy",
    about: "an L4 TCP proxy between corio's load generator and an echo upstream (both on the \
            load core), the proxy alone on the server core",
    cases,
    subjects,
    // The splice proxies are there for bulk: their point is moving bytes without a copy.
    supports: |case, subject| {
        let splice = proxies::find(subject.name).is_some_and(|p| p.splice());
        !splice || case.pattern == "bulk"
    },
    available: spec::always,
    subject_available: |s| proxies::find(s.name).map_or(Ok(()), |p| p.available()),
    run,
    finish: remove_dir,
    model_pairs: &[("corio-uring", "corio-epoll")],
    also: &[
        ("corio-uring", "haproxy"),
        ("corio-epoll", "haproxy"),
        ("corio-uring", "nginx"),
        ("corio-uring", "tokio"),
        ("corio-epoll", "tokio"),
        ("corio-uring-splice", "corio-uring"),
        ("corio-epoll-splice", "corio-epoll"),
    ],
    model_note: Some(
        "Model: about 87–90 % of any proxy's CPU here is the kernel's loopback TCP path, \
         which every proxy pays alike; what is left is the proxy's own user space and the \
         number of operations per byte moved (docs/proxy.md).",
    ),
    threads_share_core: false,
    min_secs: 0.0,
};

/// Every proxy case's name, in order (for `corio-bench proxy --cases`).
pub fn case_names() -> Vec<String> {
    cases(&CaseParams { idle_pairs: 1 })
        .into_iter()
        .map(|c| c.name)
        .collect()
}

fn cases(p: &CaseParams) -> Vec<Case> {
    let c = |name: &str, pattern, unit, conns, size, in_default| Case {
        name: name.into(),
        workload: &PROXY,
        unit,
        pattern,
        conns,
        size,
        depth: 1,
        rate: None,
        in_default,
        scales: false,
    };
    let rate = Case {
        rate: Some(10_000.0),
        ..c("proxy rate 10k/s c=50", "rate", Unit::Request, 50, 64, true)
    };
    vec![
        c("proxy 64B c=50", "pingpong", Unit::Request, 50, 64, true),
        c("proxy 64B c=500", "pingpong", Unit::Request, 500, 64, false),
        c(
            "proxy 4KiB c=50",
            "pingpong",
            Unit::Request,
            50,
            4096,
            false,
        ),
        rate,
        c(
            "proxy bulk c=2 64KiB",
            "bulk",
            Unit::Megabyte,
            2,
            64 << 10,
            false,
        ),
        c("proxy idle", "idle", Unit::Pair, p.idle_pairs, 1, true),
    ]
}

fn subjects() -> Vec<Subject> {
    proxies::PROXIES
        .iter()
        .map(|p| Subject {
            name: p.name,
            model: p.model,
            about: p.about,
            floor: false,
            needs_uring: p.name.starts_with("corio-uring"),
            scales: false,
            sweep_only: false,
        })
        .collect()
}

fn run(case: &Case, subject: &Subject, env: &RunEnv) -> Row {
    let mut row = env.row(case, subject);
    let Some(proxy) = proxies::find(subject.name) else {
        row.error = Some(format!("{} is not a known proxy", subject.name));
        return row;
    };
    let dir = match dir() {
        Ok(d) => d,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    match run::run(case, proxy, env, &dir) {
        Ok(Measured::Timed { load, window }) => {
            row.load = Some(*load);
            row.window = Some(window);
        }
        Ok(Measured::Idle(memory)) => row.memory = Some(memory),
        Err(e) => row.error = Some(e),
    }
    row
}

/// Where the proxies' configuration files go: one directory for the run, made on first use.
static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn dir() -> Result<PathBuf, String> {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = &*dir {
        return Ok(d.clone());
    }
    let d = std::env::temp_dir().join(format!("corio-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    *dir = Some(d.clone());
    Ok(d)
}

fn remove_dir() {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dir.take() {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Descriptors a proxy needs beyond two per pair (listener, ring, epoll, logs, pipes).
const FD_SPARE: u64 = 200;

/// Raises the fd limit as far as it goes (children inherit it) toward what `pairs` idle pairs
/// need: two sockets per pair in the proxy, one in this process and one in the echo upstream.
/// Returns the pairs that fit, saying so on stderr where that is fewer.
pub fn fit_idle_pairs(pairs: usize) -> usize {
    let limit = crate::sys::raise_fd_limit_to(2 * pairs as u64 + FD_SPARE);
    let fit = (limit.saturating_sub(FD_SPARE) / 2) as usize;
    if fit < pairs {
        eprintln!(
            "corio-bench: the fd limit ({limit}, and no CAP_SYS_RESOURCE to raise it) fits \
             {fit} idle pairs through a proxy, not {pairs}: the idle case opens {fit}"
        );
    }
    pairs.min(fit.max(1))
}
