//! corio-bench: the completion-vs-readiness benchmark harness.
//!
//! With no arguments it runs the default suite: every workload (`workloads/`) against every
//! server (`servers/`) it can drive, server and load generator pinned to separate cores, and
//! writes a report folder. `serve`, `load` and `file-read` are the pieces, usable on their
//! own (the plug-in contract in `--help`).

mod child;
mod cli;
mod content;
mod instr;
mod load;
mod proxy;
mod report;
mod row;
mod servers;
mod snap;
mod suite;
mod svg;
mod workloads;

use clap::Parser;
use cli::{Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        None => suite::suite_cmd(cli::suite_options(cli.suite, cli::command_line())),
        Some(Cmd::Suite(a)) => suite::suite_cmd(cli::suite_options(a, cli::command_line())),
        Some(Cmd::Serve(s)) => servers::serve_cmd(cli::serve_config(s.service)),
        Some(Cmd::Load(l)) => load_cmd(&l),
        Some(Cmd::FileRead(a)) => servers::file_read_cmd(cli::file_read_config(a)),
        Some(Cmd::Proxy(a)) => proxy::proxy_cmd(cli::proxy_options(a)),
        Some(Cmd::Instr(a)) => instr::instr_cmd(a),
        Some(Cmd::TokioProxy(a)) => proxy::tokio_proxy_cmd(a.listen, a.upstream),
    };
    std::process::exit(code);
}

fn load_cmd(args: &cli::LoadArgs) -> i32 {
    let addr = load::pick_addr(&args.addr.list).expect("the parser refuses an empty --addr");
    let cfg = match cli::load_config(args, addr) {
        Ok(c) => c,
        Err(msg) => return cli::usage_error("load", &msg),
    };
    raise_fd_limit();
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
