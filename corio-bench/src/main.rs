//! corio-bench: the completion-vs-readiness benchmark harness.
//!
//! With no arguments it runs the default suite: every echo server (corio on io_uring and on
//! epoll, the bare io_uring and epoll loops, tokio, monoio) under every workload, server and
//! load generator pinned to separate cores, and writes a report folder. `serve` and `load` are
//! the pieces, usable on their own (the plug-in contract in `--help`).

mod child;
mod cli;
mod histogram;
mod load;
mod report;
mod servers;
mod suite;
mod svg;

const HELP: &str = "\
corio-bench: completion (io_uring) vs readiness (epoll) on identical echo work

USAGE:
  corio-bench [suite] [--quick] [--secs S] [--servers a,b,..] [--cases c,..] [--out DIR]
      Runs the default suite (about a minute on 2 cores): every server under every workload,
      the server pinned to one core and the load generator to another. Progress goes to
      stderr; the table, then `report: DIR`, to stdout. DIR (default
      ./corio-bench-report-<unix time>) gets report.md, results.json and SVG charts.
      --secs: measured seconds per case (default 1.0, after 0.25 s warm-up); --quick: a very
      short run (0.2 s per case); --cases: case names or prefixes (pingpong, pipelined,
      churn, rate, bulk, or a full name such as \"pingpong c=50\").
      Servers: corio-uring, corio-epoll, raw-uring, raw-epoll, tokio, monoio. A server that
      fails to start becomes a row with its error; the suite goes on.

  corio-bench serve echo --driver uring|epoll --addr HOST:PORT [--workers N]
  corio-bench serve echo --server NAME --addr HOST:PORT [--workers N]
      Runs an echo server (read up to 16 KiB, write it all back) until SIGINT/SIGTERM, then
      prints one JSON line of server figures on stdout and exits 0: {\"server\", \"cpu_us\"
      (process CPU, user+system), \"enters\", \"epoll_waits\", \"io_syscalls\",
      \"ops_submitted\", \"completions\" (null where the server cannot count them),
      \"accepted\"}. SIGUSR1 prints the same line and keeps running. \"listening on ADDR\" goes
      to stderr once the server accepts connections.

  corio-bench load --addr HOST:PORT [--conns N] [--size B] [--depth D] [--secs S]
                   [--warmup S] [--mode pingpong|churn|bulk|rate] [--rate R]
                   [--driver uring|epoll] [--json]
      Drives any echo server from one thread (corio, io_uring driver by default) and checks
      every echoed byte; each request's payload is distinct (connection, sequence number).
      Defaults: --conns 50 --size 64 --depth 1 --secs 2 --warmup 0.2 --mode pingpong.
      pingpong: D requests of B bytes in flight per connection. churn: N loops of connect,
      one echo, close. bulk: N connections streaming B-byte chunks full duplex. rate: open
      loop at R requests/s in total, latency from each request's scheduled send time.
      Connections open first, then warm-up, then the measured window; a stalled read or
      write fails its connection after 3 s, and the run always ends. Prints a summary, or
      with --json one object: {\"requests\",\"bytes\",\"secs\",\"rps\",\"mbps\",
      \"p50_us\",\"p99_us\",\"p999_us\",\"errors\",\"corrupt\",\"connect_errors\",
      \"load_cpu_us\",\"load_wait_us\"}: errors = connections that ended early (reset,
      closed, timed out); corrupt = responses that differ from the request; load_cpu_us and
      load_wait_us = the load thread's CPU time and run-queue wait over the window (null if
      unknown). Exit 1 if no connection could be made, 2 on bad arguments.
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("serve") => servers::serve_cmd(&args[1..]),
        Some("load") => load_cmd(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            0
        }
        Some("suite") => suite::suite_cmd(&args[1..]),
        _ => suite::suite_cmd(&args),
    };
    std::process::exit(code);
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("corio-bench: {msg}\nRun `corio-bench --help` for usage.");
    2
}

fn load_cmd(args: &[String]) -> i32 {
    let load = match cli::parse_load(args) {
        Ok(l) => l,
        Err(msg) => return usage_error(&msg),
    };
    let cfg = &load.cfg;
    raise_fd_limit();
    match load::run(cfg, None) {
        Ok(r) if load.json => {
            println!("{}", r.to_json());
            0
        }
        Ok(r) => {
            println!(
                "{} c={} size={} depth={}: {:.0} req/s, {:.2} MB/s, p50 {:.1} us, p99 {:.1} us, \
                 p999 {:.1} us, errors {}, corrupt {}, connect errors {}",
                cfg.mode.name(),
                cfg.conns,
                cfg.size,
                cfg.depth,
                r.rps(),
                r.mbps(),
                r.p50_us,
                r.p99_us,
                r.p999_us,
                r.errors,
                r.corrupt,
                r.connect_errors
            );
            0
        }
        Err(e) => {
            eprintln!("corio-bench load: {e}");
            1
        }
    }
}

/// Raises the soft open-file limit to the hard one: thousands of connections need thousands of
/// fds, on both ends (a server child inherits the limit). Failure only leaves the old limit.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max
    {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}
