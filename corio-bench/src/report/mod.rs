//! The suite's outputs: the table and the verdict on stdout, and a folder with report.md,
//! results.json and SVG charts (throughput and p99 latency against connection count, one
//! series per server). The table is `table.rs`, results.json `json.rs`, the verdict
//! `verdict.rs`.

mod json;
mod table;
mod verdict;

use crate::row::Row;
use crate::servers::{Model, REGISTRY};
use crate::suite::Options;
use crate::svg::{Chart, Scale, Series};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

pub use json::results_json;
pub use table::table;
pub use verdict::verdict;

/// Kernel, CPU count and model.
pub fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    // Not available_parallelism: this thread is pinned to one core by now.
    // SAFETY: sysconf only reads a system value.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("Linux {kernel}, {cpus} CPUs ({model})")
}

const COLORS: [&str; 8] = [
    "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// `metric` against connection count over the echo ping-pong cases (depth 1), one series per
/// server; readiness-model servers dashed.
pub fn chart(
    rows: &[Row],
    title: &str,
    unit: &str,
    y_scale: Scale,
    metric: fn(&Row) -> Option<f64>,
) -> String {
    let pingpong = |r: &Row| {
        r.case.workload.name == "echo" && r.case.pattern == "pingpong" && r.case.depth == 1
    };
    let series = REGISTRY
        .iter()
        .enumerate()
        .map(|(i, &server)| Series {
            name: server.name.into(),
            color: COLORS[i % COLORS.len()],
            dashed: server.model == Model::Readiness,
            points: rows
                .iter()
                .filter(|r| r.server == server && pingpong(r))
                .filter_map(|r| Some((r.case.conns as f64, metric(r)?)))
                .collect(),
        })
        .collect();
    Chart {
        title: title.into(),
        x_label: "connections (log scale)".into(),
        y_label: unit.into(),
        y_scale,
        series,
    }
    .render()
}

/// Prints the table and the verdict, and writes the report folder; returns its path.
pub fn write(opts: &Options, rows: &[Row], took: std::time::Duration) -> io::Result<PathBuf> {
    let (table, verdict) = (table(rows), verdict(rows));
    println!("{table}{verdict}");
    let dir = opts.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("corio-bench-report-{t}"))
    });
    std::fs::create_dir_all(&dir)?;
    let md = format!(
        "{}{}\n## Results\n{table}{verdict}",
        preamble(opts, took),
        server_list(rows)
    );
    std::fs::write(dir.join("report.md"), md)?;
    std::fs::write(dir.join("results.json"), results_json(opts, rows, took))?;
    let rps = chart(
        rows,
        "ping-pong throughput",
        "requests/s",
        Scale::Linear,
        |r| r.load.as_ref().map(|l| l.rps()),
    );
    std::fs::write(dir.join("throughput.svg"), rps)?;
    let p99 = chart(
        rows,
        "ping-pong p99 latency",
        "p99 µs (log scale)",
        Scale::Log,
        |r| r.load.as_ref().map(|l| l.p99_us),
    );
    std::fs::write(dir.join("p99.svg"), p99)?;
    Ok(dir)
}

/// The servers that ran, with their model, as a Markdown table.
fn server_list(rows: &[Row]) -> String {
    let mut out = String::from("## Servers\n\n| server | model | what |\n|---|---|---|\n");
    for s in REGISTRY
        .iter()
        .filter(|s| rows.iter().any(|r| r.server == **s))
    {
        let _ = writeln!(out, "| {} | {} | {} |", s.name, s.model.name(), s.about);
    }
    out
}

/// What each column means, for report.md.
const COLUMNS: &str = "\
## What the columns mean

Each case counts its work in its own unit: echo and http per request, file-read per 4 KiB \
read (op), file-serve per megabyte (10^6 bytes) served.

- **req/s (ops/s), MB/s**: requests (bulk: 16 KiB chunks; file-read: reads; file-serve: 1 MiB \
answers) completed in the measured window, and their payload bytes, per second. http: the \
requests the server counted in the window.
- **p50/p99/p999**: request latency at the load generator (HDR histogram, 3 significant \
digits). rate: from each request's scheduled send time (no coordinated omission); churn: \
connect + echo + close; bulk: time through the socket buffers of a saturated stream, so \
mostly queueing; http: wrk's, over its whole run (no p999); file-read: not measured.
- **server CPU µs/unit**: the server process's user+system CPU time over the measured window \
(its own getrusage, sampled on SIGUSR1 at the window's start and end; file-read: the reader \
process's, every thread of it) per unit of work. results.json also has \
`proc_cpu_us_per_unit`, the same from /proc/<pid>/stat (clock ticks) as a cross-check.
- **syscalls/unit**: io_uring_enter calls (corio-uring, corio-uring-compat, raw-uring) or \
epoll_wait + I/O syscalls (corio-epoll, raw-epoll) over the same window, from the servers' \
own counters; tokio, monoio and compio cannot be counted.
- **CPU vs bare loop**: server CPU per unit over that of the bare loop of the same model \
(raw-uring for completion servers, raw-epoll for readiness ones); **CPU vs tokio**: over \
tokio's.
- **load CPU %**: the load generator's CPU time over the window, in percent of its core (http: \
wrk's over its run); near 100 the load generator, not the server, limited the rate, and \
server CPU per unit is the figure to compare. file-read has no load generator.
- **run-queue wait %**: how long the load generator thread / the server's threads were \
runnable but not running (schedstat run_delay) over the window. More than a few percent \
means something else took their core: that row is noise, rerun it. Not so where a server's \
own threads share its core by design (tokio's blocking pool in file-read and file-serve): \
their waits for each other count here too.

![throughput](throughput.svg)
![p99](p99.svg)

";

/// report.md up to the table: the run, the machine, and what each column means.
fn preamble(opts: &Options, took: std::time::Duration) -> String {
    let pinning = match opts.pin {
        Some((s, l)) => format!("server pinned to core {s}, load generator to core {l}"),
        None => "no pinning (fewer than 2 CPUs)".into(),
    };
    let mut notes = String::new();
    if let Some(why) = &opts.uring_refused {
        let _ = writeln!(
            notes,
            "- io_uring is refused on this machine ({why}): only the servers that do not need \
             it ran"
        );
    }
    for (w, why) in &opts.skipped {
        let _ = writeln!(notes, "- skipped the {w} workload: {why}");
    }
    format!(
        "# corio-bench report\n\n\
         - command: `{}` (took {:.0} s)\n\
         - machine: {}\n\
         - {pinning}\n{notes}\
         - per run: {:.2} s warm-up, then {:.2} s measured; load generator: corio ({:?} \
         driver), one thread, every echoed or served byte checked; http: wrk\n\n{COLUMNS}",
        opts.command,
        took.as_secs_f64(),
        machine(),
        opts.warmup,
        opts.secs,
        opts.load_driver,
    )
}
