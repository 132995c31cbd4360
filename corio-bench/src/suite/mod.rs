//! The default suite: every workload's cases against every server it can drive, one server
//! process per run, the server pinned to one core and the load generator (this process) to
//! another. Where io_uring is refused, the suite keeps to the servers that do not need it and
//! says so. Progress goes to stderr (`progress.rs`); the report is `crate::report`'s.

mod progress;

use crate::child;
use crate::report;
use crate::row::Row;
use crate::servers::ServerSpec;
use crate::workloads::{Case, RunEnv};
use corio::{DriverChoice, DriverKind};
use progress::Progress;
use std::time::Instant;

pub struct Options {
    /// Measured seconds per run.
    pub secs: f64,
    /// Unmeasured seconds before them, connections already open.
    pub warmup: f64,
    pub servers: Vec<&'static ServerSpec>,
    pub cases: Vec<Case>,
    pub out: Option<std::path::PathBuf>,
    /// (server core, load core), when pinned.
    pub pin: Option<(usize, usize)>,
    /// The command line, for the report.
    pub command: String,
    /// The load generator's driver: io_uring (the completion model, like the fastest
    /// servers), or epoll where io_uring is refused.
    pub load_driver: DriverChoice,
    /// Why io_uring is refused on this machine; None where it works.
    pub uring_refused: Option<String>,
    /// A `--quick` run.
    pub quick: bool,
    /// Workloads left out because they cannot run here: (name, why).
    pub skipped: Vec<(&'static str, String)>,
}

impl Options {
    pub fn env(&self) -> RunEnv {
        RunEnv {
            secs: self.secs,
            warmup: self.warmup,
            server_core: self.pin.map(|p| p.0),
            load_driver: self.load_driver,
            quick: self.quick,
        }
    }
}

pub fn suite_cmd(mut opts: Options) -> i32 {
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
    if let Err(e) = fit_to_uring(&mut opts) {
        eprintln!("corio-bench: {e}");
        return 1;
    }
    skip_unavailable(&mut opts);
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

/// Where io_uring is refused, keeps the servers that do not need it and puts the load
/// generator on epoll. Err if no server is left, or corio cannot run at all.
fn fit_to_uring(opts: &mut Options) -> Result<(), String> {
    let rt = corio::Runtime::builder()
        .driver(DriverChoice::Auto)
        .build()
        .map_err(|e| format!("corio cannot start a runtime: {e}"))?;
    let info = rt.driver_info();
    if info.kind == DriverKind::IoUring {
        return Ok(());
    }
    let names = |v: &[&ServerSpec]| v.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
    let (kept, skipped): (Vec<_>, Vec<_>) = opts.servers.iter().partition(|s| !s.needs_uring);
    if kept.is_empty() {
        return Err(format!(
            "io_uring is refused here ({}) and every server asked for needs it ({})",
            info.reason,
            names(&skipped)
        ));
    }
    eprintln!(
        "corio-bench: io_uring is refused here ({}): running only the servers that do not \
         need it ({}), the load generator on epoll; skipped: {}",
        info.reason,
        names(&kept),
        names(&skipped)
    );
    opts.uring_refused = Some(info.reason.clone());
    opts.servers = kept;
    opts.load_driver = DriverChoice::Epoll;
    Ok(())
}

/// Leaves out the cases of every workload that cannot run here, saying why.
fn skip_unavailable(opts: &mut Options) {
    let mut asked: Vec<&'static str> = Vec::new();
    for c in &opts.cases {
        let w = c.workload;
        if asked.contains(&w.name) {
            continue;
        }
        asked.push(w.name);
        if let Err(why) = (w.available)() {
            eprintln!("corio-bench: skipping the {} workload: {why}", w.name);
            opts.skipped.push((w.name, why));
        }
    }
    let skipped = &opts.skipped;
    opts.cases
        .retain(|c| !skipped.iter().any(|(w, _)| *w == c.workload.name));
}

/// Every (case, server) pair the case's workload can drive, in order.
fn plan(opts: &Options) -> Vec<(&Case, &'static ServerSpec)> {
    opts.cases
        .iter()
        .flat_map(|c| {
            opts.servers
                .iter()
                .filter(|s| (c.workload.supports)(s))
                .map(move |&s| (c, s))
        })
        .collect()
}

/// Calls every workload's `finish` when dropped: after the last run, or on a panic.
struct Finish;

impl Drop for Finish {
    fn drop(&mut self) {
        crate::workloads::finish_all();
    }
}

pub fn run_suite(opts: &Options) -> Vec<Row> {
    let _finish = Finish;
    let plan = plan(opts);
    let env = opts.env();
    // Before the first run, a guess: its window plus about 0.3 s to start and stop a server.
    let mut progress = Progress::new(plan.len(), opts.secs + opts.warmup + 0.3);
    let mut rows = Vec::new();
    for (case, server) in plan {
        progress.start(&case.name, server.name);
        let row = (case.workload.run)(case, server, &env);
        if let Some(e) = &row.error {
            progress.note(&format!("  {}: {e}", server.name));
        }
        rows.push(row);
        progress.done();
    }
    progress.finish();
    rows
}
