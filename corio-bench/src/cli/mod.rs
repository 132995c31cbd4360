//! The command line, as clap derive types: the suite (no subcommand, or `suite`), `serve
//! echo|file|http`, `load` and `file-read`, in one parser, so `--help` works after any of them and every refusal is clap's
//! (a message naming the argument, exit 2). Value parsers check ranges and resolve `--addr`;
//! the conversions below turn the parsed arguments into what each command runs on. The
//! servers' and the file-read runner's arguments are in `serve.rs`.

use crate::load::{LoadConfig, Mode};
use crate::servers::{self, ServerSpec};
use crate::suite::Options;
use crate::workloads;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

const ABOUT: &str =
    "completion (io_uring) vs readiness (epoll) on identical work: echo, files, http";

const LONG_ABOUT: &str = "\
completion (io_uring) vs readiness (epoll) on identical work: echo, files, http.

With no subcommand (or `suite`) it runs the default suite, about two minutes on 2 cores: every \
server under every workload it offers (echo, file-read, file-serve, http), the server pinned to one core and the load generator to another. \
Progress goes to stderr (a bar with the time left on a terminal, else one line per run); the \
table, a verdict per case, then `report: DIR`, to stdout. DIR (default \
./corio-bench-report-<unix time>) gets report.md, results.json and SVG charts. A server that \
fails to start becomes a row with its error; the suite goes on. A workload that needs a \
program this machine lacks (http: wrk) is skipped with the reason on stderr and in the report. \
Where io_uring is refused, only the servers that do not need it run (corio-epoll, raw-epoll, \
tokio), and the report says so.";

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
    #[command(long_about = LOAD_ABOUT, args_override_self = true)]
    Load(LoadArgs),
    /// Runs one server's file-read runner for a window; prints one JSON line
    #[command(name = "file-read", long_about = serve::FILE_READ_ABOUT, args_override_self = true)]
    FileRead(FileReadArgs),
    /// Runs the proxy workload: corio-proxy against HAProxy, nginx and tokio; prints its tables
    #[command(long_about = proxy::PROXY_ABOUT, args_override_self = true)]
    Proxy(ProxyArgs),
    /// Counts user-space instructions per echoed request with callgrind, every server
    #[command(long_about = crate::instr::INSTR_ABOUT)]
    Instr(crate::instr::InstrArgs),
    /// The tokio proxy the proxy workload runs as a child (until killed)
    #[command(name = "tokio-proxy", hide = true)]
    TokioProxy(TokioProxyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// A very short run: 0.2 s measured per case after 0.05 s of warm-up
    #[arg(long)]
    pub quick: bool,
    /// Measured seconds per case, in (0, 600] [default: 1.0, after 0.25 s of warm-up]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    #[arg(value_parser = suite_secs)]
    pub secs: Option<f64>,
    /// Servers, comma-separated [default: all of them: corio-uring, corio-epoll,
    /// corio-uring-compat, raw-uring, raw-epoll, tokio, monoio, compio]
    #[arg(long, value_name = "a,b,..", value_delimiter = ',', value_parser = server)]
    pub servers: Vec<&'static ServerSpec>,
    /// Cases, comma-separated: a name ("pingpong c=50"), the start of names (pingpong,
    /// pipelined, churn, rate, bulk, file) or a workload (echo, file-read, file-serve, http)
    /// [default: all]
    #[arg(long, value_name = "c,..", value_delimiter = ',', value_parser = case_word)]
    pub cases: Vec<String>,
    /// The report folder [default: ./corio-bench-report-<unix time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

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
    pub(crate) fn driver(self) -> corio::DriverChoice {
        match self {
            DriverArg::Auto => corio::DriverChoice::Auto,
            DriverArg::Uring => corio::DriverChoice::IoUring,
            DriverArg::Epoll => corio::DriverChoice::Epoll,
        }
    }
}

const LOAD_ABOUT: &str = "\
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

/// What `--addr` resolved to, in resolver order.
#[derive(Debug, Clone)]
pub struct Addrs {
    pub list: Vec<SocketAddr>,
}

pub(crate) fn addrs(s: &str) -> Result<Addrs, String> {
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

fn case_word(s: &str) -> Result<String, String> {
    if workloads::known_word(s) {
        Ok(s.into())
    } else {
        let names: Vec<String> = workloads::all_cases().into_iter().map(|c| c.name).collect();
        Err(format!("matches no case (cases: {})", names.join(", ")))
    }
}

/// A float in (lo, hi] (or [lo, hi] with `lo_ok`); NaN is refused.
fn float_in(s: &str, lo: f64, lo_ok: bool, hi: f64, what: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (v > lo || (lo_ok && v == lo)) && v <= hi => Ok(v),
        _ => Err(format!("expected {what}")),
    }
}

fn suite_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 600.0, "seconds in (0, 600]")
}

pub(crate) fn load_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 3600.0, "seconds in (0, 3600]")
}

pub(crate) fn warmup_secs(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, true, 60.0, "seconds in [0, 60]")
}

fn rate(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 1e7, "requests/s in (0, 1e7]")
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
    let mut servers: Vec<&'static ServerSpec> = Vec::new();
    for s in a.servers {
        if !servers.contains(&s) {
            servers.push(s);
        }
    }
    if servers.is_empty() {
        servers = servers::REGISTRY.to_vec();
    }
    // --quick shortens both phases; an explicit --secs still sets the measured time.
    let (secs, warmup) = if a.quick { (0.2, 0.05) } else { (1.0, 0.25) };
    Options {
        secs: a.secs.unwrap_or(secs),
        warmup,
        servers,
        cases: workloads::select(&a.cases),
        out: a.out,
        pin: None,
        command,
        load_driver: corio::DriverChoice::IoUring,
        uring_refused: None,
        quick: a.quick,
        skipped: Vec::new(),
    }
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

mod proxy;
mod serve;

pub use proxy::{proxy_options, ProxyArgs, TokioProxyArgs};
pub use serve::{file_read_config, serve_config, FileReadArgs, ServeArgs};

#[cfg(test)]
mod tests;
