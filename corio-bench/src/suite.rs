//! The default suite: every server under every workload, one server process per run, the
//! server pinned to one core and the load generator (this process) to another.
//!
//! One run: start the server and wait until it accepts; open the connections; warm up; take a
//! server snapshot (SIGUSR1 stats line + /proc CPU); measure; take another; stop the server.
//! Server figures are the difference of the two snapshots, so they cover exactly the measured
//! window. A server that fails to start or to answer becomes a row with an error.

use crate::child::{self, Server, ServerSnap};
use crate::load::{self, LoadConfig, LoadResult, Mode};
use crate::report;
use crate::servers::ServerKind;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One workload.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub mode: Mode,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
}

impl Case {
    fn new(name: &str, mode: Mode, conns: usize, size: usize, depth: usize) -> Case {
        Case {
            name: name.into(),
            mode,
            conns,
            size,
            depth,
        }
    }
}

pub fn default_cases() -> Vec<Case> {
    vec![
        Case::new("pingpong c=1", Mode::PingPong, 1, 64, 1),
        Case::new("pingpong c=50", Mode::PingPong, 50, 64, 1),
        Case::new("pingpong c=500", Mode::PingPong, 500, 64, 1),
        Case::new("pipelined c=50 d=16", Mode::PingPong, 50, 64, 16),
        Case::new("churn c=8", Mode::Churn, 8, 64, 1),
        Case::new("rate 20k/s c=50", Mode::Rate(20_000.0), 50, 64, 1),
        Case::new("bulk c=1 16KiB", Mode::Bulk, 1, 16 * 1024, 1),
    ]
}

/// One (case, server) measurement.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: Case,
    pub server: ServerKind,
    pub load: Option<LoadResult>,
    /// Server figures over the measured window.
    pub server_window: Option<ServerSnap>,
    pub error: Option<String>,
}

impl Row {
    fn per_req(&self, n: Option<u64>) -> Option<f64> {
        let l = self.load.as_ref()?;
        (l.requests > 0).then(|| n.map(|n| n as f64 / l.requests as f64))?
    }

    /// Server CPU (its own getrusage) per request, µs.
    pub fn cpu_us_per_req(&self) -> Option<f64> {
        self.per_req(self.server_window.map(|s| s.cpu_us))
    }

    /// The same from /proc/<pid>/stat (clock ticks): a cross-check that needs no help from the
    /// server.
    pub fn proc_cpu_us_per_req(&self) -> Option<f64> {
        self.per_req(self.server_window.and_then(|s| s.proc_cpu_us))
    }

    /// DriverChoice syscalls per request: io_uring_enter calls on completion servers; epoll_wait plus
    /// I/O syscalls on readiness servers. None where the server cannot count them.
    pub fn syscalls_per_req(&self) -> Option<f64> {
        let s = self.server_window?;
        let n = match self.server {
            ServerKind::CorioUring | ServerKind::RawUring => s.enters,
            ServerKind::CorioEpoll | ServerKind::RawEpoll => Some(s.epoll_waits? + s.io_syscalls?),
            ServerKind::Tokio | ServerKind::Monoio => None,
        };
        self.per_req(n)
    }
}

/// The load generator's driver (the completion model, like the fastest servers).
pub const LOAD_DRIVER: corio::DriverChoice = corio::DriverChoice::IoUring;

pub struct Options {
    /// Measured seconds per run.
    pub secs: f64,
    /// Unmeasured seconds before them, connections already open.
    pub warmup: f64,
    pub servers: Vec<ServerKind>,
    pub cases: Vec<Case>,
    pub out: Option<std::path::PathBuf>,
    /// (server core, load core), when pinned.
    pub pin: Option<(usize, usize)>,
    /// The command line, for the report.
    pub command: String,
}

pub fn suite_cmd(args: &[String]) -> i32 {
    let mut opts = match crate::cli::parse_suite(args) {
        Ok(o) => o,
        Err(msg) => return crate::usage_error(&msg),
    };
    crate::raise_fd_limit();
    // The first two CPUs we may use: the server gets the first, this process the second.
    let cpus = child::allowed_cpus();
    if let [server, load, ..] = cpus[..] {
        match child::pin_current_thread(load) {
            Ok(()) => opts.pin = Some((server, load)),
            Err(e) => eprintln!("corio-bench: not pinning (sched_setaffinity: {e})"),
        }
    } else {
        eprintln!("corio-bench: only one CPU available: server and load share it, unpinned");
    }
    if let Err(e) = corio::Runtime::builder().driver(LOAD_DRIVER).build() {
        eprintln!("corio-bench: the load generator needs io_uring: {e}");
        return 1;
    }
    let started = Instant::now();
    let rows = run_suite(&opts);
    match report::write(&opts, &rows, started.elapsed()) {
        Ok(dir) => {
            println!("report: {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!("corio-bench: writing the report: {e}");
            1
        }
    }
}

pub fn run_suite(opts: &Options) -> Vec<Row> {
    let total = opts.cases.len() * opts.servers.len();
    let started = Instant::now();
    let mut rows = Vec::new();
    for case in &opts.cases {
        for &server in &opts.servers {
            let done = rows.len();
            // The runs so far predict the rest; before the first, a guess.
            let per_run = if done == 0 {
                opts.secs + opts.warmup + 0.3
            } else {
                started.elapsed().as_secs_f64() / done as f64
            };
            eprintln!(
                "[case {}/{total}] {} · {} · ~{:.0} s left",
                done + 1,
                case.name,
                server.name(),
                (total - done) as f64 * per_run
            );
            let row = run_one(case, server, opts);
            if let Some(e) = &row.error {
                eprintln!("  {}: {e}", server.name());
            }
            rows.push(row);
        }
    }
    rows
}

fn run_one(case: &Case, server: ServerKind, opts: &Options) -> Row {
    let mut row = Row {
        case: case.clone(),
        server,
        load: None,
        server_window: None,
        error: None,
    };
    let mut srv = match Server::start(server, opts.pin.map(|p| p.0)) {
        Ok(s) => s,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let cfg = LoadConfig {
        addr: ([127, 0, 0, 1], srv.port).into(),
        conns: case.conns,
        size: case.size,
        depth: case.depth,
        secs: opts.secs,
        warmup: opts.warmup,
        mode: case.mode,
        driver: LOAD_DRIVER,
    };
    let (warmup, secs) = (
        Duration::from_secs_f64(opts.warmup),
        Duration::from_secs_f64(opts.secs),
    );
    let (t0_tx, t0_rx) = mpsc::channel::<Instant>();
    let sampler = srv.sampler().map(|s| s.window(t0_rx, warmup, secs));
    match load::run(&cfg, Some(t0_tx)) {
        Ok(r) => row.load = Some(r),
        Err(e) => row.error = Some(e.to_string()),
    }
    // The load returns after its window, so the sampler is due now (unless the load ended
    // early, and then the row has errors anyway).
    row.server_window = sampler.and_then(|h| child::join_within(h, Instant::now()));
    let complaint = srv.stop();
    let problem = match (&row.error, row.server_window, complaint) {
        (Some(_), _, _) => None,
        (None, None, c) => Some(c.unwrap_or_else(|| "the server sent no stats snapshot".into())),
        (None, Some(_), c) => c,
    };
    row.error = row.error.take().or(problem);
    row
}
