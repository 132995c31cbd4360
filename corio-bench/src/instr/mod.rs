//! `corio-bench instr`: user-space instructions per echoed request, counted with valgrind's
//! callgrind — deterministic where CPU time is noise, so it is the before/after figure for the
//! runtime's own hot path (issue 22's table).
//!
//! For each server and case: the server (`corio-bench serve echo --server NAME`) runs under
//! `valgrind --tool=callgrind --instr-atstart=no`, pinned to the first allowed CPU; the load
//! generator (corio-bench's own, `load::run`: 64-byte ping-pong, every byte checked) runs on
//! the second. Instrumentation is switched on half-way through the warm-up (`vgdb ...
//! instrumentation on`), the counters are zeroed when the load's measured window opens and
//! dumped a fixed time later; the instructions of that dump are divided by the requests the
//! server answered in the same span. A vgdb command takes effect at the end of the vgdb call
//! (its reply is the server's acknowledgement), and right then the bytes the load's
//! connections have received are read from the kernel (`tcp.rs`): their difference over the
//! request size is the count, exact whatever the rate did in between.
//!
//! `run.rs` measures one server on one case; `callgrind.rs` finds the tools and reads their
//! files (totals, and with `--profile` a per-request profile by function); `table.rs` prints
//! the table and its ratios.

mod callgrind;
mod run;
mod table;
mod tcp;

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The default servers, in the order of issue 22's table.
const DEFAULT_SERVERS: [&str; 8] = [
    "corio-uring",
    "corio-epoll",
    "tokio",
    "monoio",
    "compio",
    "raw-uring",
    "raw-epoll",
    "corio-uring-compat",
];

pub const INSTR_ABOUT: &str = "\
User-space instructions per echoed request, counted with valgrind's callgrind (deterministic \
on a noisy machine). For each server and case the server runs under `valgrind \
--tool=callgrind --instr-atstart=no` pinned to the first CPU, the load generator (64-byte \
ping-pong, every byte checked) on the second; instrumentation goes on during the warm-up, the \
counters are zeroed when the measured window opens and dumped --secs later, and the \
instructions are divided by the requests answered in that span (the bytes the load received, \
read from the kernel, over 64). Prints a markdown \
table (one row per server, one column per case) and each server's ratio to tokio's, or with \
--json one JSON array of rows. Needs valgrind (its callgrind tool and vgdb; Debian: apt-get \
install valgrind). About 8 s per server and case with the defaults.";

/// A load shape of the table: connections, and requests in flight per connection.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// 50 connections, one 64-byte request in flight each
    C50,
    /// 500 connections, one request in flight each
    C500,
    /// 50 connections, 16 requests in flight each
    D16,
}

impl Case {
    pub const ALL: [Case; 3] = [Case::C50, Case::C500, Case::D16];

    /// The column header.
    pub fn name(self) -> &'static str {
        match self {
            Case::C50 => "c=50",
            Case::C500 => "c=500",
            Case::D16 => "c=50, depth 16",
        }
    }

    /// A name for files.
    fn slug(self) -> &'static str {
        match self {
            Case::C50 => "c50",
            Case::C500 => "c500",
            Case::D16 => "c50-d16",
        }
    }

    fn conns(self) -> usize {
        match self {
            Case::C50 | Case::D16 => 50,
            Case::C500 => 500,
        }
    }

    fn depth(self) -> usize {
        match self {
            Case::C50 | Case::C500 => 1,
            Case::D16 => 16,
        }
    }
}

#[derive(Args, Debug)]
pub struct InstrArgs {
    /// Servers, comma-separated [default: corio-uring, corio-epoll, tokio, monoio, compio,
    /// raw-uring, raw-epoll, corio-uring-compat]
    #[arg(long, value_name = "a,b,..", value_delimiter = ',', value_parser = crate::cli::server)]
    pub servers: Vec<&'static crate::servers::ServerSpec>,
    /// Cases, comma-separated [default: all three]
    #[arg(long, value_name = "c,..", value_delimiter = ',', value_enum)]
    pub cases: Vec<Case>,
    /// Counted seconds per run, in (0, 60]
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = secs)]
    pub secs: f64,
    /// Warm-up seconds before them, in (0, 60]; instrumentation goes on half-way through
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = secs)]
    pub warmup: f64,
    /// Keep each run's callgrind dump in DIR and write beside it a profile per request by
    /// function, inclusive and self (SERVER-CASE.callgrind, SERVER-CASE.txt)
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// One JSON array of rows on stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

fn secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 60.0 => Ok(v),
        _ => Err("expected seconds in (0, 60]".into()),
    }
}

/// Runs the command; returns the exit code (1: valgrind missing, or no run succeeded).
pub fn instr_cmd(a: InstrArgs) -> i32 {
    let tools = match callgrind::Tools::find() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("corio-bench instr: {why}");
            return 1;
        }
    };
    let mut servers: Vec<&'static str> = a.servers.iter().map(|s| s.name).collect();
    servers.dedup();
    if servers.is_empty() {
        servers = DEFAULT_SERVERS.to_vec();
    }
    let cases = if a.cases.is_empty() {
        Case::ALL.to_vec()
    } else {
        a.cases.clone()
    };
    let plan = match run::Plan::new(tools, servers, cases, a.secs, a.warmup, a.profile) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("corio-bench instr: {why}");
            return 1;
        }
    };
    let rows = plan.run_all();
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&rows).expect("plain data serializes")
        );
    } else {
        print!("{}", table::render(&rows, &plan));
    }
    if rows.iter().any(|r| r.per_request.is_some()) {
        0
    } else {
        1
    }
}
