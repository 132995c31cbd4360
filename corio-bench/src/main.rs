//! corio-bench: the completion-vs-readiness benchmark harness.
//!
//! With no arguments it runs the default suite: every echo server (corio on io_uring and on
//! epoll, the bare io_uring and epoll loops, tokio, monoio) under every workload, server and
//! load generator pinned to separate cores, and writes a report folder. `serve` and `load` are
//! the pieces, usable on their own (the plug-in contract in `--help`).

mod histogram;
mod load;
mod report;
mod servers;
mod suite;

use load::{LoadConfig, Mode};
use std::net::ToSocketAddrs;

const HELP: &str = "\
corio-bench: completion (io_uring) vs readiness (epoll) on identical echo work

USAGE:
  corio-bench [suite] [--quick] [--secs S] [--servers a,b,..] [--out DIR]
      Runs the default suite (about a minute on 2 cores): every server under every workload,
      the server pinned to one core and the load generator to another. Prints a table and
      writes DIR (default ./corio-bench-report-<unix time>) with report.md, results.json and
      SVG charts. --secs: measured seconds per case (default 1.0); --quick: a very short run.
      Servers: corio-uring, corio-epoll, raw-uring, raw-epoll, tokio, monoio.

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
      every echoed byte. Defaults: --conns 50 --size 64 --depth 1 --secs 2 --warmup 0.2
      --mode pingpong. rate: open loop at R requests/s in total. Prints a summary, or with
      --json one object: {\"requests\",\"bytes\",\"secs\",\"rps\",\"mbps\",\"p50_us\",
      \"p99_us\",\"p999_us\",\"errors\",\"corrupt\",\"connect_errors\"}. Exit 1 if no
      connection could be made, 2 on bad arguments.
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
    let mut addr = None;
    let mut cfg = LoadConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        conns: 50,
        size: 64,
        depth: 1,
        secs: 2.0,
        warmup: 0.2,
        mode: Mode::PingPong,
        driver: corio::Driver::IoUring,
    };
    let (mut mode, mut rate, mut json) = ("pingpong".to_string(), None, false);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            json = true;
            continue;
        }
        let Some(v) = it.next() else {
            return usage_error(&format!("{flag} needs a value"));
        };
        let bad = |what: &str| usage_error(&format!("{flag} {v:?}: expected {what}"));
        match flag.as_str() {
            "--addr" => match v.to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(a)) => addr = Some(a),
                _ => return bad("HOST:PORT"),
            },
            "--conns" => match v.parse() {
                Ok(n) if (1..=100_000).contains(&n) => cfg.conns = n,
                _ => return bad("1..=100000"),
            },
            "--size" => match v.parse() {
                Ok(n) if (1..=16 << 20).contains(&n) => cfg.size = n,
                _ => return bad("1..=16777216 bytes"),
            },
            "--depth" => match v.parse() {
                Ok(n) if (1..=1024).contains(&n) => cfg.depth = n,
                _ => return bad("1..=1024"),
            },
            "--secs" => match v.parse::<f64>() {
                Ok(s) if s > 0.0 && s <= 3600.0 => cfg.secs = s,
                _ => return bad("seconds in (0, 3600]"),
            },
            "--warmup" => match v.parse::<f64>() {
                Ok(s) if (0.0..=60.0).contains(&s) => cfg.warmup = s,
                _ => return bad("seconds in [0, 60]"),
            },
            "--mode" => mode = v.clone(),
            "--rate" => match v.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 10_000_000.0 => rate = Some(r),
                _ => return bad("requests/s in (0, 1e7]"),
            },
            "--driver" => match v.as_str() {
                "uring" => cfg.driver = corio::Driver::IoUring,
                "epoll" => cfg.driver = corio::Driver::Epoll,
                _ => return bad("uring or epoll"),
            },
            _ => return usage_error(&format!("unknown flag {flag:?}")),
        }
    }
    let Some(addr) = addr else {
        return usage_error("--addr is required");
    };
    cfg.addr = addr;
    cfg.mode = match (mode.as_str(), rate) {
        ("pingpong", _) => Mode::PingPong,
        ("churn", _) => Mode::Churn,
        ("bulk", _) => Mode::Bulk,
        ("rate", Some(r)) => Mode::Rate(r),
        ("rate", None) => return usage_error("--mode rate needs --rate R"),
        (m, _) => {
            return usage_error(&format!(
                "--mode {m:?}: expected pingpong, churn, bulk or rate"
            ))
        }
    };
    match load::run(&cfg, None) {
        Ok(r) => {
            if json {
                println!("{}", r.to_json());
            } else {
                println!(
                    "{} c={} size={} depth={}: {:.0} req/s, {:.2} MB/s, p50 {:.1} us, p99 {:.1} us, p999 {:.1} us, errors {}, corrupt {}, connect errors {}",
                    cfg.mode.name(), cfg.conns, cfg.size, cfg.depth, r.rps(), r.mbps(), r.p50_us, r.p99_us, r.p999_us, r.errors, r.corrupt, r.connect_errors
                );
            }
            0
        }
        Err(e) => {
            eprintln!("corio-bench load: {e}");
            1
        }
    }
}
