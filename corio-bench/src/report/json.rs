//! results.json: the run's settings and every raw figure of every row, null where unknown.

use crate::load::{round, LoadJson};
use crate::row::Row;
use crate::suite::Options;
use serde::Serialize;

#[derive(Serialize)]
struct Results<'a> {
    command: &'a str,
    machine: String,
    pinning: Option<Pinning>,
    secs: f64,
    warmup: f64,
    took_secs: f64,
    load_driver: String,
    /// Why io_uring is refused here (only the servers that do not need it ran); null where it
    /// works.
    uring_refused: Option<&'a str>,
    /// Workloads that could not run here, and why.
    skipped: Vec<Skipped<'a>>,
    rows: Vec<RowJson<'a>>,
}

#[derive(Serialize)]
struct Skipped<'a> {
    workload: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Pinning {
    server_core: usize,
    load_core: usize,
}

#[derive(Serialize)]
struct RowJson<'a> {
    case: &'a str,
    workload: &'a str,
    /// What the per-unit figures count: request, op (a file read) or MB.
    unit: &'a str,
    mode: &'a str,
    conns: usize,
    size: usize,
    depth: usize,
    rate: Option<f64>,
    server: &'a str,
    model: &'a str,
    load: Option<LoadJson>,
    server_cpu_us: Option<u64>,
    proc_cpu_us: Option<u64>,
    server_run_wait_us: Option<u64>,
    enters: Option<u64>,
    epoll_waits: Option<u64>,
    io_syscalls: Option<u64>,
    ops_submitted: Option<u64>,
    completions: Option<u64>,
    requests_hint: Option<u64>,
    cpu_us_per_unit: Option<f64>,
    proc_cpu_us_per_unit: Option<f64>,
    syscalls_per_unit: Option<f64>,
    error: Option<&'a str>,
}

/// A ratio for the file: four decimals, null when not finite.
fn num(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| round(v, 4))
}

fn row(r: &Row) -> RowJson<'_> {
    let s = r.server_window;
    RowJson {
        case: &r.case.name,
        workload: r.case.workload.name,
        unit: r.case.workload.unit.name(),
        mode: r.case.pattern,
        conns: r.case.conns,
        size: r.case.size,
        depth: r.case.depth,
        rate: r.case.rate,
        server: r.server.name,
        model: r.server.model.name(),
        load: r.load.as_ref().map(|l| l.json()),
        server_cpu_us: s.map(|s| s.cpu_us),
        proc_cpu_us: s.and_then(|s| s.proc_cpu_us),
        server_run_wait_us: s.and_then(|s| s.run_wait_us),
        enters: s.and_then(|s| s.enters),
        epoll_waits: s.and_then(|s| s.epoll_waits),
        io_syscalls: s.and_then(|s| s.io_syscalls),
        ops_submitted: s.and_then(|s| s.ops_submitted),
        completions: s.and_then(|s| s.completions),
        requests_hint: s.and_then(|s| s.requests),
        cpu_us_per_unit: num(r.cpu_us_per_unit()),
        proc_cpu_us_per_unit: num(r.proc_cpu_us_per_unit()),
        syscalls_per_unit: num(r.syscalls_per_unit()),
        error: r.error.as_deref(),
    }
}

pub fn results_json(opts: &Options, rows: &[Row], took: std::time::Duration) -> String {
    let results = Results {
        command: &opts.command,
        machine: super::machine(),
        pinning: opts.pin.map(|(server_core, load_core)| Pinning {
            server_core,
            load_core,
        }),
        secs: opts.secs,
        warmup: opts.warmup,
        took_secs: round(took.as_secs_f64(), 1),
        load_driver: format!("{:?}", opts.load_driver),
        uring_refused: opts.uring_refused.as_deref(),
        skipped: opts
            .skipped
            .iter()
            .map(|(workload, reason)| Skipped { workload, reason })
            .collect(),
        rows: rows.iter().map(row).collect(),
    };
    let mut out = serde_json::to_string_pretty(&results).expect("plain data serializes");
    out.push('\n');
    out
}
