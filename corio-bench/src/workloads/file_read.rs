//! The file-read workload: random 4 KiB reads at queue depth 1 and 64 from a 256 MiB file held
//! in the page cache, one `corio-bench file-read --server NAME` child per run, pinned alone to
//! the server core (`servers/file_read.rs` says why a process and not a runner in the suite).
//! No load generator: the child measures its own window (ops, its process CPU, its driver's
//! syscalls) and prints them; a child that fails becomes a row with its error.

use super::fixture;
use super::spec::{self, Case, CaseParams, RunEnv, Subject, Workload};
use crate::child;
use crate::content::BLOCK;
use crate::results::{LoadFigures, Row, ServerFigures, Unit};
use crate::serve::ReadReport;
use std::time::Duration;

pub static FILE_READ: Workload = Workload {
    name: "file-read",
    about: "random 4 KiB reads of a 256 MiB file in the page cache, 1 and 64 in flight",
    cases,
    subjects: || spec::servers_with(|s| s.file_read.is_some()),
    supports: |_, _| true,
    available: spec::always,
    subject_available: spec::every,
    run,
    finish: fixture::remove,
    model_pairs: &[("corio-uring", "corio-epoll")],
    also: &[
        ("corio-uring", "tokio"),
        ("corio-uring", "raw-uring"),
        ("corio-epoll", "tokio"),
    ],
    model_note: Some(
        "Model: a readiness runtime cannot wait on a regular file, so tokio::fs runs each \
         read on its blocking pool (a thread hop there and back per op, on the same core), \
         while io_uring completes a page-cache READ inline in the enter that submits it, many \
         per enter at depth 64; corio-epoll, a readiness runtime too, sends each read to its \
         own blocking pool (the same hop as tokio's, cheaper per job).",
    ),
    threads_share_core: true,
    min_secs: 0.0,
};

fn case(name: &str, depth: usize) -> Case {
    Case {
        name: name.into(),
        workload: &FILE_READ,
        unit: Unit::Op,
        pattern: "random-read",
        conns: 0,
        size: BLOCK,
        depth,
        rate: None,
        in_default: true,
        scales: false,
    }
}

fn cases(_: &CaseParams) -> Vec<Case> {
    vec![case("file-read qd=1", 1), case("file-read qd=64", 64)]
}

fn run(case: &Case, subject: &Subject, env: &RunEnv) -> Row {
    let mut row = env.row(case, subject);
    let file = match fixture::file(fixture::BIG) {
        Ok(f) => f,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let (file, depth) = (file.to_string_lossy().into_owned(), case.depth.to_string());
    let (secs, warmup) = (env.secs.to_string(), env.warmup.to_string());
    // A smoke run checks every read byte for byte; a measured one every 64th (and the length
    // and both ends of every read), so that checking costs every runner the same little.
    let check = if env.quick { "1" } else { "64" };
    let args = [
        "file-read",
        "--server",
        subject.name,
        "--file",
        &file,
        "--depth",
        &depth,
        "--secs",
        &secs,
        "--warmup",
        &warmup,
        "--check-every",
        check,
    ];
    let limit = Duration::from_secs_f64(env.secs + env.warmup + 30.0);
    let out = match child::run_pinned(&args, &env.server, limit) {
        Ok(out) => out,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let report = out.lines().rev().find_map(|l| serde_json::from_str(l).ok());
    match report {
        Some(r) => fill(&mut row, &r),
        None => row.error = Some(format!("file-read printed no report: {}", out.trim())),
    }
    row
}

/// More than this read from storage in a window: the file was not held in the page cache,
/// and the row measured the disk (a reclaimer evicted pages between the read-through and the
/// run).
const DISK_TOLERANCE: u64 = 1 << 20;

fn disk_problem(r: &ReadReport) -> Option<String> {
    let n = r.disk_read_bytes?;
    (n > DISK_TOLERANCE).then(|| {
        format!(
            "the file was not in the page cache: {} MiB were read from storage in the window",
            n >> 20
        )
    })
}

/// The row's figures from the child's report: its ops are the row's requests.
fn fill(row: &mut Row, r: &ReadReport) {
    row.error = disk_problem(r);
    row.load = Some(LoadFigures {
        requests: r.ops,
        bytes: r.bytes,
        secs: r.secs,
        errors: r.errors,
        corrupt: r.corrupt,
        ..LoadFigures::default()
    });
    let syscalls = match (r.enters, r.epoll_waits, r.io_syscalls) {
        (Some(e), _, _) if row.model == crate::results::Model::Completion => Some(e),
        (_, Some(w), Some(io)) => Some(w + io),
        _ => None,
    };
    row.window = Some(ServerFigures {
        cpu_us: r.cpu_us,
        proc_cpu_us: r.proc_cpu_us,
        run_wait_us: r.run_wait_us,
        syscalls,
        enters: r.enters,
        epoll_waits: r.epoll_waits,
        io_syscalls: r.io_syscalls,
        ops_submitted: r.ops_submitted,
        completions: r.completions,
        requests: None,
    });
}
