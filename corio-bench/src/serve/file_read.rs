//! `corio-bench file-read --server NAME --file PATH --depth D`: one server's file-read runner
//! in a process of its own, measured over a window, one JSON line of figures on stdout.
//!
//! A runner keeps `depth` random 4 KiB reads in flight on one file (block-aligned offsets, a
//! xorshift stream per slot) until told to stop, checking every read (see [`Reader::done`]).
//! This process runs it on a thread of its own, waits until it is reading, lets it warm up,
//! takes a snapshot (ops done, the process's CPU time, the runtime's driver counters), waits
//! for the window, takes another, stops it, and prints the difference.
//!
//! Why a process per run, like the servers, and not a runner inside the suite: CPU per read
//! must count every thread the runtime uses for it — tokio's blocking pool does the reads
//! there — and nothing else, which is this process's getrusage and no other's; pinning the
//! process pins those helper threads to the same core, so every runtime gets exactly one
//! core; and no runtime's threads (tokio's pool idles for 10 s) outlive its run.

use crate::content::BLOCK;
use crate::servers::contract::{ServerSpec, Syscalls};
use crate::servers::reader::{Meter, ReadJob};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a runner may take to open the file and start reading, or to stop.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What `file-read` runs.
pub struct ReadConfig {
    pub spec: &'static ServerSpec,
    pub file: PathBuf,
    pub depth: usize,
    pub secs: f64,
    pub warmup: f64,
    /// Every this many reads of a slot, one is compared byte for byte (1: all of them).
    pub check_every: u64,
}

/// The JSON line `file-read` prints: the window's figures, null where not counted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadReport {
    pub server: String,
    pub depth: usize,
    pub ops: u64,
    pub bytes: u64,
    pub secs: f64,
    pub errors: u64,
    pub corrupt: u64,
    /// The process's user + system CPU time (getrusage) over the window, µs.
    pub cpu_us: u64,
    /// The same from /proc/self/stat (clock ticks).
    pub proc_cpu_us: Option<u64>,
    /// Run-queue wait of all the process's threads (schedstat), µs.
    pub run_wait_us: Option<u64>,
    /// Bytes the process made the kernel fetch from storage (/proc/self/io `read_bytes`):
    /// more than none means the file was not all in the page cache.
    pub disk_read_bytes: Option<u64>,
    pub enters: Option<u64>,
    pub epoll_waits: Option<u64>,
    pub io_syscalls: Option<u64>,
    pub ops_submitted: Option<u64>,
    pub completions: Option<u64>,
}

/// The figures at one instant.
struct Snap {
    at: Instant,
    ops: u64,
    errors: u64,
    corrupt: u64,
    cpu_us: u64,
    proc_cpu_us: Option<u64>,
    run_wait_us: Option<u64>,
    disk_read_bytes: Option<u64>,
    counters: [u64; 5],
}

fn snap(meter: &Meter) -> Snap {
    let pid = std::process::id();
    let c = &meter.counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Snap {
        at: Instant::now(),
        ops: load(&meter.ops),
        errors: load(&meter.errors),
        corrupt: load(&meter.corrupt),
        cpu_us: sys::process_cpu_us(),
        proc_cpu_us: sys::proc_cpu_us(pid),
        run_wait_us: sys::proc_run_wait_us(pid),
        disk_read_bytes: sys::disk_read_bytes(),
        counters: [
            load(&c.enters),
            load(&c.epoll_waits),
            load(&c.io_syscalls),
            load(&c.ops_submitted),
            load(&c.completions),
        ],
    }
}

fn report(spec: &ServerSpec, depth: usize, a: &Snap, b: &Snap) -> ReadReport {
    let d = |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x?));
    let counted = spec.syscalls != Syscalls::Uncounted;
    let c = |i: usize| counted.then(|| b.counters[i].saturating_sub(a.counters[i]));
    let ops = b.ops - a.ops;
    ReadReport {
        server: spec.name.into(),
        depth,
        ops,
        bytes: ops * BLOCK as u64,
        secs: b.at.duration_since(a.at).as_secs_f64(),
        errors: b.errors - a.errors,
        corrupt: b.corrupt - a.corrupt,
        cpu_us: b.cpu_us.saturating_sub(a.cpu_us),
        proc_cpu_us: d(a.proc_cpu_us, b.proc_cpu_us),
        run_wait_us: d(a.run_wait_us, b.run_wait_us),
        disk_read_bytes: d(a.disk_read_bytes, b.disk_read_bytes),
        enters: c(0),
        epoll_waits: c(1),
        io_syscalls: c(2),
        ops_submitted: c(3),
        completions: c(4),
    }
}

/// Runs `cfg` and prints its report. Returns the exit code: 1 if the runner failed, did not
/// start or did not stop, or the file is shorter than one block.
pub fn file_read_cmd(cfg: ReadConfig) -> i32 {
    match measure(&cfg) {
        Ok(r) => {
            println!(
                "{}",
                serde_json::to_string(&r).expect("plain data serializes")
            );
            0
        }
        Err(e) => {
            eprintln!("corio-bench file-read ({}): {e}", cfg.spec.name);
            1
        }
    }
}

fn measure(cfg: &ReadConfig) -> io::Result<ReadReport> {
    let len = std::fs::metadata(&cfg.file)?.len();
    if len < BLOCK as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is shorter than one {BLOCK}-byte block",
                cfg.file.display()
            ),
        ));
    }
    let run = cfg.spec.file_read.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} has no file-read runner", cfg.spec.name),
        )
    })?;
    let job = ReadJob {
        file: cfg.file.clone(),
        len,
        depth: cfg.depth,
        check_every: cfg.check_every,
    };
    let meter = Arc::new(Meter::default());
    let runner = {
        let meter = meter.clone();
        std::thread::Builder::new()
            .name(format!("{}-reader", cfg.spec.name))
            .spawn(move || run(&job, &meter))?
    };
    wait_for(|| meter.is_started() || runner.is_finished());
    if !meter.is_started() {
        return Err(ended(runner, "did not start reading"));
    }
    std::thread::sleep(Duration::from_secs_f64(cfg.warmup));
    let a = snap(&meter);
    std::thread::sleep(Duration::from_secs_f64(cfg.secs));
    let b = snap(&meter);
    meter.request_stop();
    wait_for(|| runner.is_finished());
    if !runner.is_finished() {
        return Err(io::Error::other(format!(
            "the runner did not stop within {START_TIMEOUT:?}"
        )));
    }
    match runner.join() {
        Ok(Ok(())) => Ok(report(cfg.spec, cfg.depth, &a, &b)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the runner panicked")),
    }
}

/// Waits until `done` or `START_TIMEOUT`.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The error of a runner that never started: its own, or `what`.
fn ended(runner: std::thread::JoinHandle<io::Result<()>>, what: &str) -> io::Error {
    if !runner.is_finished() {
        return io::Error::other(format!("the runner {what} within {START_TIMEOUT:?}"));
    }
    match runner.join() {
        Ok(Err(e)) => e,
        Ok(Ok(())) => io::Error::other(format!("the runner returned but {what}")),
        Err(_) => io::Error::other("the runner panicked"),
    }
}
