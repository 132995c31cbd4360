//! The values the command line parses and the defaults it fills in, shared by every
//! subcommand's arguments: drivers, addresses, names of servers, cases and syscall-cost
//! levels, ranges of seconds.

use crate::seccomp::Level;
use crate::servers::{self, ServerSpec};
use crate::workloads::{self, CaseParams};
use clap::ValueEnum;
use std::net::{SocketAddr, ToSocketAddrs};

/// corio's driver, as `--driver` names it.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverArg {
    /// io_uring where it works, else epoll
    Auto,
    /// io_uring, or an error where it is refused
    #[value(alias = "io_uring")]
    Uring,
    /// epoll
    Epoll,
}

impl DriverArg {
    pub(super) fn driver(self) -> corio::DriverChoice {
        match self {
            DriverArg::Auto => corio::DriverChoice::Auto,
            DriverArg::Uring => corio::DriverChoice::IoUring,
            DriverArg::Epoll => corio::DriverChoice::Epoll,
        }
    }
}

/// What `--addr` resolved to, in resolver order.
#[derive(Debug, Clone)]
pub struct Addrs {
    pub list: Vec<SocketAddr>,
}

pub(super) fn addrs(s: &str) -> Result<Addrs, String> {
    let list: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT ({e})"))?
        .collect();
    if list.is_empty() {
        return Err("expected HOST:PORT (it resolved to no address)".into());
    }
    Ok(Addrs { list })
}

pub(crate) fn server(s: &str) -> Result<&'static ServerSpec, String> {
    servers::find(s).ok_or_else(|| format!("unknown server (known: {})", servers::names()))
}

pub(super) fn case_word(s: &str) -> Result<String, String> {
    if workloads::known_word(s) {
        Ok(s.into())
    } else {
        let names: Vec<String> = workloads::all_cases(&CaseParams { idle_pairs: 1 })
            .into_iter()
            .map(|c| c.name)
            .collect();
        Err(format!("matches no case (cases: {})", names.join(", ")))
    }
}

/// A server or proxy some workload drives.
pub(super) fn subject(s: &str) -> Result<String, String> {
    let names = workloads::subject_names();
    if names.contains(&s) {
        Ok(s.into())
    } else {
        Err(format!("unknown server (known: {})", names.join(", ")))
    }
}

pub(super) fn level(s: &str) -> Result<Level, String> {
    Level::parse(s)
}

/// A float in (lo, hi] (or [lo, hi] with `lo_ok`); NaN is refused.
pub(super) fn float_in(s: &str, lo: f64, lo_ok: bool, hi: f64, what: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (v > lo || (lo_ok && v == lo)) && v <= hi => Ok(v),
        _ => Err(format!("expected {what}")),
    }
}

pub(super) fn suite_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 600.0, "seconds in (0, 600]")
}

pub(super) fn load_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 3600.0, "seconds in (0, 3600]")
}

pub(super) fn warmup_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, true, 60.0, "seconds in [0, 60]")
}

/// The suite's defaults: (measured seconds, warm-up, rounds, idle pairs).
pub(super) const DEFAULTS: (f64, f64, usize, usize) = (0.3, 0.1, 3, 1000);
/// `--quick`'s.
pub(super) const QUICK: (f64, f64, usize, usize) = (0.2, 0.05, 2, 100);

/// Each value once, in the order given.
pub(super) fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}
