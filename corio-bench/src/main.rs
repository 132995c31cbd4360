//! corio-bench: the completion-vs-readiness benchmark harness.
//!
//! With no arguments it runs the default suite (`suite/`): every workload (`workloads/`)
//! against every server (`servers/`) or proxy it can drive, in interleaved rounds, server and
//! load generator pinned to separate cores; its one result type (`results/`) goes to every
//! exporter (`export/`): report.md, results.json, report.html. The processes a run starts are
//! this binary again (`serve/`: `serve`, `file-read`, `tokio-proxy`, `syscall-probe`), started,
//! sampled and stopped by `child.rs`. `load` is corio's load generator (`load/`) on its own.

mod child;
mod cli;
mod content;
mod export;
mod instr;
mod load;
mod results;
mod seccomp;
mod serve;
mod servers;
mod suite;
mod sys;
mod workloads;

use clap::Parser;
use cli::{Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        None => suite::suite_cmd(cli::suite_options(cli.suite, cli::command_line())),
        Some(Cmd::Suite(a)) => suite::suite_cmd(cli::suite_options(a, cli::command_line())),
        Some(Cmd::Proxy(a)) => suite::suite_cmd(cli::proxy_options(a, cli::command_line())),
        Some(Cmd::Report(a)) => export::report_cmd(&a.file, a.out.as_deref(), a.instr.as_deref()),
        Some(Cmd::Serve(s)) => serve::serve_cmd(cli::serve_config(s.service)),
        Some(Cmd::Load(l)) => load_cmd(&l),
        Some(Cmd::FileRead(a)) => serve::file_read_cmd(cli::file_read_config(a)),
        Some(Cmd::TokioProxy(a)) => serve::tokio_proxy_cmd(a.listen, a.upstream),
        Some(Cmd::SyscallProbe) => serve::syscall_probe_cmd(),
        Some(Cmd::Instr(a)) => instr::instr_cmd(a),
    };
    std::process::exit(code);
}

fn load_cmd(args: &cli::LoadArgs) -> i32 {
    let addr = load::pick_addr(&args.addr.list).expect("the parser refuses an empty --addr");
    let cfg = match cli::load_config(args, addr) {
        Ok(c) => c,
        Err(msg) => return cli::usage_error("load", &msg),
    };
    sys::raise_fd_limit();
    match load::run(&cfg, None) {
        Ok(r) if args.json => {
            let json = serde_json::to_string(&r.json()).expect("plain data serializes");
            println!("{json}");
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
