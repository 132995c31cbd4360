//! The command line, as clap derive types: the suite (no subcommand, or `suite`), its `proxy`
//! shortcut, `report`, and the pieces (`serve echo|file|http`, `load`, `file-read`), in one
//! parser, so `--help` works after any of them and every refusal is clap's (a message naming
//! the argument, exit 2). Value parsers check ranges and resolve `--addr`; the conversions
//! turn the parsed arguments into what each command runs on. The servers' and the file-read
//! runner's arguments are in `serve.rs`, the load generator's in `load.rs`, the proxy
//! shortcut's in `proxy.rs`.

use crate::seccomp::Level;
use crate::suite::Options;
use crate::workloads::{self, CaseParams};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use values::{case_word, dedup, level, subject, suite_secs, DEFAULTS, QUICK};

const ABOUT: &str =
    "completion (io_uring) vs readiness (epoll) on identical work: echo, files, http, a proxy";

const LONG_ABOUT: &str = "\
completion (io_uring) vs readiness (epoll) on identical work: echo, files, http, a proxy.

With no subcommand (or `suite`) it runs the default suite, about two and a half minutes on 2 \
cores: every server under every workload it offers (echo, file-read, file-serve, http, and the \
proxy's lighter cases), in 3 interleaved rounds, the server pinned to one core and the load \
generator to another. Progress goes to stderr (a bar with the time left on a terminal, else \
one line per run); the tables and their verdicts, then `report: DIR`, to stdout. DIR (default \
./corio-bench-report-<unix time>) gets report.md, results.json (every figure) and report.html \
(charts, one self-contained file). A verdict is given only where the rounds' ranges of two \
servers do not overlap. --syscall-cost runs the cases again with the server under a seccomp \
filter sized like a container runtime's (where do the models cross as syscalls get dearer?); \
--workers runs the thread-per-core servers on more cores. A server that fails to start \
becomes a row with its error; the suite goes on. A workload or server that needs a program \
this machine lacks (wrk, haproxy, nginx) is skipped with the reason on stderr and in the \
report. Where io_uring is refused, only the servers that do not need it run, and the report \
says so.";

const CONTRACT: &str = "\
The pieces the suite is built from (the plug-in contract; each has its own --help):

  corio-bench serve echo [--driver auto|uring|epoll] --addr HOST:PORT [--workers N]
  corio-bench serve echo --server NAME --addr HOST:PORT [--workers N]
      An echo server (read up to 16 KiB, write it all back) until SIGINT/SIGTERM, then one
      JSON line of server figures on stdout, exit 0. SIGUSR1 prints the same line and keeps
      running. \"listening on ADDR\" goes to stderr once it accepts connections.

  corio-bench serve file --server NAME --file PATH --addr HOST:PORT [--workers N]
      A static file server: each byte a connection sends asks for the whole file, read in
      64 KiB chunks and sent. Stats lines as for echo.

  corio-bench serve http --server NAME --addr HOST:PORT [--workers N]
      hyper, HTTP/1.1 keep-alive: GET / answers 64 bytes. Stats lines as for echo, with
      \"requests_hint\" the requests served.

  corio-bench file-read --server NAME --file PATH [--depth D] [--secs S] [--warmup S]
                        [--check-every N]
      Random 4 KiB reads of a file (written by the suite's content) at queue depth D; one
      JSON line of figures (ops, CPU, driver syscalls) over the window on stdout.

  corio-bench load --addr HOST:PORT [--conns N] [--size B] [--depth D] [--secs S]
                   [--warmup S] [--mode pingpong|churn|bulk|rate|fetch] [--rate R]
                   [--driver uring|epoll] [--json]
      Drives any echo server (fetch: a file server) from one thread and checks every byte;
      prints a summary, or with --json one JSON object. Exit 1 if no connection could be
      made.

Bad arguments exit 2 with a message naming the argument.";

#[derive(Parser, Debug)]
#[command(
    name = "corio-bench",
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = CONTRACT,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Runs the default suite (what no subcommand does)
    #[command(long_about = LONG_ABOUT, args_override_self = true)]
    Suite(SuiteArgs),
    /// Runs a server until SIGINT/SIGTERM
    Serve(ServeArgs),
    /// Drives any echo (or file) server from one thread and checks every byte
    #[command(long_about = load::LOAD_ABOUT, args_override_self = true)]
    Load(LoadArgs),
    /// Runs one server's file-read runner for a window; prints one JSON line
    #[command(name = "file-read", long_about = serve::FILE_READ_ABOUT, args_override_self = true)]
    FileRead(FileReadArgs),
    /// The proxy workload, all of its cases: corio-proxy against HAProxy, nginx and tokio
    #[command(long_about = proxy::PROXY_ABOUT, args_override_self = true)]
    Proxy(ProxyArgs),
    /// Writes report.md and report.html again from a results.json
    #[command(args_override_self = true)]
    Report(ReportArgs),
    /// Counts user-space instructions per echoed request with callgrind, every server
    #[command(long_about = crate::instr::INSTR_ABOUT)]
    Instr(crate::instr::InstrArgs),
    /// The tokio proxy the proxy workload runs as a child (until killed)
    #[command(name = "tokio-proxy", hide = true)]
    TokioProxy(TokioProxyArgs),
    /// Times one syscall in this process (the suite runs it under each syscall-cost level)
    #[command(name = "syscall-probe", hide = true)]
    SyscallProbe,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results.json written by the suite
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write report.md and report.html [default: the file's folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// `corio-bench instr --json`'s output: its instructions per request go into the echo
    /// rows (and results.json is written again with them)
    #[arg(long, value_name = "FILE")]
    pub instr: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// A smoke run: 2 rounds of 0.2 s measured after 0.05 s of warm-up, 100 idle pairs
    #[arg(long)]
    pub quick: bool,
    /// Measured seconds per run, in (0, 600] [default: 0.3, after 0.1 s of warm-up]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    #[arg(value_parser = suite_secs)]
    pub secs: Option<f64>,
    /// Rounds: each runs every server once per case, the order rotated [default: 3]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: Option<u64>,
    /// Servers and proxies, comma-separated [default: all of them: corio-uring, corio-epoll,
    /// corio-uring-compat, raw-uring, raw-epoll, tokio, tokio-mt, monoio, compio; proxies:
    /// corio-uring, corio-epoll, corio-uring-splice, corio-epoll-splice, haproxy, nginx,
    /// tokio]
    #[arg(long, value_name = "a,b,..", value_delimiter = ',', value_parser = subject)]
    pub servers: Vec<String>,
    /// Cases, comma-separated: a name ("pingpong c=50"), the start of names (pingpong,
    /// pipelined, churn, rate, bulk, file, "proxy 64B") or a workload (echo, file-read,
    /// file-serve, http, proxy) [default: the default suite's]
    #[arg(long, value_name = "c,..", value_delimiter = ',', value_parser = case_word)]
    pub cases: Vec<String>,
    /// Syscall-cost levels, comma-separated, the first the baseline: none, seccomp,
    /// seccomp-nocache, seccomp-nocache-xN (N ≤ 64) [default: none]
    #[arg(long, value_name = "l,..", value_delimiter = ',', value_parser = level)]
    pub syscall_cost: Vec<Level>,
    /// Worker counts (one per core) for the thread-per-core servers, comma-separated, the
    /// first the baseline [default: 1]
    #[arg(long, value_name = "n,..", value_delimiter = ',')]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: Vec<u64>,
    /// Idle pairs in the proxy's idle case [default: 1000]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub idle_pairs: Option<u64>,
    /// The report folder [default: ./corio-bench-report-<unix time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints a refusal found after parsing the way clap prints its own (with the usage of
/// `sub`), and returns exit code 2.
pub fn usage_error(sub: &str, msg: &str) -> i32 {
    let mut cmd = Cli::command();
    cmd.build();
    let cmd = cmd.find_subcommand_mut(sub).expect("a known subcommand");
    let _ = cmd
        .error(clap::error::ErrorKind::ArgumentConflict, msg)
        .print();
    2
}

/// This process's command line (arguments with spaces quoted), for the report.
pub fn command_line() -> String {
    let quote = |a: String| {
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a
        }
    };
    std::iter::once("corio-bench".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn suite_options(a: SuiteArgs, command: String) -> Options {
    let (secs, warmup, rounds, pairs) = if a.quick { QUICK } else { DEFAULTS };
    let idle_pairs = a.idle_pairs.map_or(pairs, |p| p as usize);
    let mut cases = workloads::select(&a.cases, &CaseParams { idle_pairs });
    if cases.iter().any(|c| c.pattern == "idle") {
        let fit = workloads::fit_idle_pairs(idle_pairs);
        cases = workloads::select(&a.cases, &CaseParams { idle_pairs: fit });
    }
    let mut levels = dedup(a.syscall_cost);
    if levels.is_empty() {
        levels.push(Level::None);
    }
    let mut workers: Vec<usize> = dedup(a.workers).into_iter().map(|w| w as usize).collect();
    if workers.is_empty() {
        workers.push(1);
    }
    Options {
        secs: a.secs.unwrap_or(secs),
        warmup,
        rounds: a.rounds.map_or(rounds, |r| r as usize),
        servers: dedup(a.servers),
        cases,
        out: a.out,
        command,
        quick: a.quick,
        levels,
        workers,
    }
}

mod load;
mod proxy;
mod serve;
mod values;

pub use load::{load_config, LoadArgs};
pub use proxy::{proxy_options, ProxyArgs, TokioProxyArgs};
pub use serve::{file_read_config, serve_config, FileReadArgs, ServeArgs};
pub(crate) use values::server;

#[cfg(test)]
mod tests;
