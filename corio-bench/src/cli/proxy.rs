//! `corio-bench proxy`, the shortcut for the suite's proxy workload with all of its cases and
//! longer windows; and `corio-bench tokio-proxy` (the tokio proxy it compares with, run as a
//! child).

use super::values::{dedup, load_secs, subject, DEFAULTS};
use crate::seccomp::Level;
use crate::suite::Options;
use crate::workloads::{self, CaseParams};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const PROXY_ABOUT: &str = "\
The suite's proxy workload, all of its cases (the same as `corio-bench --cases proxy --secs 3 \
--idle-pairs 10000` with a 1 s warm-up): corio-proxy under each driver (buffered; splice in \
bulk), HAProxy (mode tcp, nbthread 1), nginx's stream module (one worker) and a tokio \
current_thread proxy (copy_bidirectional), on identical work. corio's load generator (every \
byte checked) and an echo upstream share one core; each proxy, started fresh per run, has the \
other core to itself. Cases: 64 B ping-pong at 50 and 500 connections, 4 KiB at 50, an \
open-loop rate (p99 below saturation), full duplex bulk (proxy CPU per MB), and idle pairs \
(proxy memory per pair). 3 interleaved rounds. Writes report.md, results.json and report.html \
like the suite. A proxy this machine lacks (haproxy, nginx, its stream module) is skipped with \
the reason. About six minutes with the defaults.";

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// A smoke run: 2 rounds of 0.2 s measured after 0.1 s of warm-up, 200 idle pairs
    #[arg(long)]
    pub quick: bool,
    /// Measured seconds per run, in (0, 600] [default: 3]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    #[arg(value_parser = load_secs)]
    pub secs: Option<f64>,
    /// Rounds, each running every proxy once per case [default: 3]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: Option<u64>,
    /// Idle pairs in the idle case [default: 10000]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub idle_pairs: Option<u64>,
    /// Proxies, comma-separated [default: all: corio-uring, corio-epoll, corio-uring-splice,
    /// corio-epoll-splice, haproxy, nginx, tokio]
    #[arg(long, value_name = "a,b,..", value_delimiter = ',', value_parser = subject)]
    pub proxies: Vec<String>,
    /// Cases, comma-separated, by name or its start, with or without "proxy ": "64B c=50",
    /// 64B, 4KiB, rate, bulk, idle [default: all]
    #[arg(long, value_name = "c,..", value_delimiter = ',', value_parser = case_word)]
    pub cases: Vec<String>,
    /// Syscall-cost levels, as for the suite [default: none]
    #[arg(long, value_name = "l,..", value_delimiter = ',', value_parser = Level::parse)]
    pub syscall_cost: Vec<Level>,
    /// The report folder [default: ./corio-bench-report-<unix time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// A proxy case's name from what was typed ("64B" or "proxy 64B").
fn full(s: &str) -> String {
    if s.starts_with("proxy ") {
        s.into()
    } else {
        format!("proxy {s}")
    }
}

fn case_word(s: &str) -> Result<String, String> {
    let names = workloads::proxy_case_names();
    if names.iter().any(|c| c.starts_with(&full(s))) {
        Ok(full(s))
    } else {
        Err(format!("matches no case (cases: {})", names.join(", ")))
    }
}

#[derive(Args, Debug)]
pub struct TokioProxyArgs {
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: SocketAddr,
    #[arg(long, value_name = "HOST:PORT")]
    pub upstream: SocketAddr,
}

pub fn proxy_options(a: ProxyArgs, command: String) -> Options {
    let (secs, warmup, rounds, pairs) = if a.quick {
        (0.2, 0.1, 2, 200)
    } else {
        (3.0, 1.0, DEFAULTS.2, 10_000)
    };
    let words = if a.cases.is_empty() {
        vec!["proxy".to_string()]
    } else {
        a.cases
    };
    let idle_pairs = a.idle_pairs.map_or(pairs, |p| p as usize);
    let mut cases = workloads::select(&words, &CaseParams { idle_pairs });
    if cases.iter().any(|c| c.pattern == "idle") {
        let fit = workloads::fit_idle_pairs(idle_pairs);
        cases = workloads::select(&words, &CaseParams { idle_pairs: fit });
    }
    let mut levels = dedup(a.syscall_cost);
    if levels.is_empty() {
        levels.push(Level::None);
    }
    Options {
        secs: a.secs.unwrap_or(secs),
        warmup,
        rounds: a.rounds.map_or(rounds, |r| r as usize),
        servers: dedup(a.proxies),
        cases,
        out: a.out,
        command,
        quick: a.quick,
        levels,
        workers: vec![1],
    }
}
