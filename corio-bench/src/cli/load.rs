//! The arguments of `load`, corio's load generator on its own.

use super::values::{addrs, float_in, load_secs, warmup_secs, Addrs, DriverArg};
use crate::load::{LoadConfig, Mode};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;

pub(super) const LOAD_ABOUT: &str = "\
Drives any echo server from one thread (corio, io_uring driver by default) and checks every \
echoed byte; each request's payload is distinct (connection, sequence number). pingpong: D \
requests of B bytes in flight per connection. churn: N loops of connect, one echo, close. \
bulk: N connections streaming B-byte chunks full duplex. rate: open loop at R requests/s in \
total, latency from each request's scheduled send time. fetch (for `serve file`): each \
connection sends one byte and reads the B-byte answer, D requests in flight, every byte \
checked against the suite's file content from offset 0. Connections open first, then \
warm-up, then the measured window; a stalled read or write fails its connection after 3 s, and \
the run always ends. Prints a summary, or with --json one object: {\"requests\", \"bytes\", \
\"secs\", \"rps\", \"mbps\", \"p50_us\", \"p99_us\", \"p999_us\", \"errors\", \"corrupt\", \
\"connect_errors\", \"load_cpu_us\", \"load_wait_us\"}: errors = connections that ended early \
(reset, closed, timed out); corrupt = responses that differ from the request; load_cpu_us and \
load_wait_us = the load thread's CPU time and run-queue wait over the window (null if \
unknown). Exit 1 if no connection could be made, 2 on bad arguments.";

/// The load's mode, as `--mode` names it.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeArg {
    Pingpong,
    Churn,
    Bulk,
    Rate,
    Fetch,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The echo server; a host name is resolved (the first address that accepts is used)
    #[arg(long, value_name = "HOST:PORT", value_parser = addrs)]
    pub addr: Addrs,
    /// Connections
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 50
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub conns: u64,
    /// Bytes per request (bulk: per chunk; fetch: the answer, the file's length)
    #[arg(
        long,
        value_name = "B",
        allow_negative_numbers = true,
        default_value_t = 64
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=16 << 20))]
    pub size: u64,
    /// Requests in flight per connection
    #[arg(
        long,
        value_name = "D",
        allow_negative_numbers = true,
        default_value_t = 1
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub depth: u64,
    /// Measured seconds, in (0, 3600]
    #[arg(
        long,
        value_name = "S",
        allow_negative_numbers = true,
        default_value_t = 2.0
    )]
    #[arg(value_parser = load_secs)]
    pub secs: f64,
    /// Warm-up seconds before them, in [0, 60]
    #[arg(
        long,
        value_name = "S",
        allow_negative_numbers = true,
        default_value_t = 0.2
    )]
    #[arg(value_parser = warmup_secs)]
    pub warmup: f64,
    #[arg(long, value_enum, default_value_t = ModeArg::Pingpong)]
    pub mode: ModeArg,
    /// Requests/s in total, in (0, 1e7]; only with --mode rate, which needs it
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    #[arg(value_parser = rate, required_if_eq("mode", "rate"))]
    pub rate: Option<f64>,
    /// The load generator's corio driver
    #[arg(long, value_enum, default_value_t = DriverArg::Uring)]
    pub driver: DriverArg,
    /// One JSON object on stdout instead of the summary
    #[arg(long)]
    pub json: bool,
}

fn rate(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 1e7, "requests/s in (0, 1e7]")
}

/// What `load` runs, but for the address (picked from `a.addr` by the caller: that connects).
/// Err: `--rate` without `--mode rate`.
pub fn load_config(a: &LoadArgs, addr: SocketAddr) -> Result<LoadConfig, String> {
    let mode = match (a.mode, a.rate) {
        (ModeArg::Pingpong, None) => Mode::PingPong,
        (ModeArg::Churn, None) => Mode::Churn,
        (ModeArg::Bulk, None) => Mode::Bulk,
        (ModeArg::Rate, Some(r)) => Mode::Rate(r),
        (ModeArg::Fetch, None) => Mode::Fetch,
        (ModeArg::Rate, None) => return Err("--mode rate needs --rate R".into()),
        (_, Some(_)) => return Err("--rate only applies to --mode rate".into()),
    };
    Ok(LoadConfig {
        addr,
        conns: a.conns as usize,
        size: a.size as usize,
        depth: a.depth as usize,
        secs: a.secs,
        warmup: a.warmup,
        mode,
        driver: a.driver.driver(),
    })
}
