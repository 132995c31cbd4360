//! `corio-bench proxy` (the proxy workload) and `corio-bench tokio-proxy` (the tokio proxy it
//! compares with, run as a child).

use crate::proxy::{self, Options, ProxySpec};
use clap::Args;
use std::net::SocketAddr;

pub const PROXY_ABOUT: &str = "\
The proxy workload: corio-proxy under each driver (buffered; splice in bulk), HAProxy (mode \
tcp, nbthread 1), nginx's stream module (one worker) and a tokio current_thread proxy \
(copy_bidirectional), on identical work in one run. corio's load generator (every byte \
checked) and an echo upstream share one core; each proxy, started fresh per run, has the \
other core to itself. Cases: 64 B ping-pong at 50 and 500 connections, 4 KiB at 50, full \
duplex bulk (MB/s and proxy CPU per GB), and idle pairs (proxy RSS per pair). Rounds are \
interleaved (the proxy order rotates each round); the tables give medians and per-round \
ratios' medians, then the targets, met or missed. Progress on stderr, the markdown tables on \
stdout. A proxy this machine lacks (haproxy, nginx, its stream module) is skipped with the \
reason. About six minutes with the defaults.";

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// A smoke run: 1 round, 0.3 s measured after 0.1 s of warm-up, 200 idle pairs
    #[arg(long)]
    pub quick: bool,
    /// Measured seconds per run, in (0, 600] [default: 3]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    #[arg(value_parser = super::load_secs)]
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
    #[arg(long, value_name = "a,b,..", value_delimiter = ',', value_parser = proxy_name)]
    pub proxies: Vec<&'static ProxySpec>,
    /// Cases, comma-separated, by name or its start: "64B c=50", 64B, 4KiB, bulk, idle
    /// [default: all]
    #[arg(long, value_name = "c,..", value_delimiter = ',', value_parser = case_word)]
    pub cases: Vec<String>,
}

fn proxy_name(s: &str) -> Result<&'static ProxySpec, String> {
    proxy::find(s).ok_or_else(|| format!("unknown proxy (known: {})", proxy::names()))
}

fn case_word(s: &str) -> Result<String, String> {
    if proxy::case_names().iter().any(|c| c.starts_with(s)) {
        Ok(s.into())
    } else {
        Err(format!(
            "matches no case (cases: {})",
            proxy::case_names().join(", ")
        ))
    }
}

#[derive(Args, Debug)]
pub struct TokioProxyArgs {
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: SocketAddr,
    #[arg(long, value_name = "HOST:PORT")]
    pub upstream: SocketAddr,
}

pub fn proxy_options(a: ProxyArgs) -> Options {
    let (secs, warmup, rounds, pairs) = if a.quick {
        (0.3, 0.1, 1, 200)
    } else {
        (3.0, 1.0, 3, 10_000)
    };
    let mut proxies: Vec<&'static ProxySpec> = Vec::new();
    for p in a.proxies {
        if !proxies.contains(&p) {
            proxies.push(p);
        }
    }
    Options {
        timing: proxy::Timing {
            secs: a.secs.unwrap_or(secs),
            warmup,
        },
        rounds: a.rounds.map_or(rounds, |r| r as usize),
        idle_pairs: a.idle_pairs.map_or(pairs, |p| p as usize),
        proxies,
        cases: a.cases,
    }
}
