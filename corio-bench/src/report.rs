//! The suite's outputs: a table on stdout, and a folder with report.md, results.json and SVG
//! charts (throughput and p99 latency against connection count, one series per server).

use crate::load::Mode;
use crate::servers::ServerKind;
use crate::suite::{Options, Row, LOAD_DRIVER};
use crate::svg::{Chart, Scale, Series};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.prec$}"))
}

/// The bare loop of the same model: what a runtime's overhead is measured against.
fn floor_of(server: ServerKind) -> ServerKind {
    match server.model() {
        "completion" => ServerKind::RawUring,
        _ => ServerKind::RawEpoll,
    }
}

fn find<'a>(rows: &'a [Row], case: &str, server: ServerKind) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.case.name == case && r.server == server)
}

/// The comparison table, one block per case, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut cases: Vec<&str> = Vec::new();
    for r in rows {
        if !cases.contains(&r.case.name.as_str()) {
            cases.push(&r.case.name);
        }
    }
    for case in cases {
        let _ = writeln!(out, "\n### {case}\n");
        let _ = writeln!(
            out,
            "| server | req/s | MB/s | p50 µs | p99 µs | p999 µs | server CPU µs/req | syscalls/req | CPU vs bare loop | CPU vs tokio | load CPU % | run-queue wait % load/server | errors |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in rows.iter().filter(|r| r.case.name == case) {
            let cpu = r.cpu_us_per_req();
            let ratio = |other: Option<&Row>| -> Option<f64> {
                let base = other?.cpu_us_per_req()?;
                Some(cpu? / base)
            };
            let vs_floor = ratio(find(rows, case, floor_of(r.server)));
            let vs_tokio = ratio(find(rows, case, ServerKind::Tokio));
            let errors = match (&r.error, &r.load) {
                (Some(e), _) => format!("failed: {}", e.replace('|', "/")),
                (None, Some(l)) => {
                    let n = l.errors + l.corrupt + l.connect_errors;
                    if n == 0 {
                        "0".into()
                    } else {
                        format!(
                            "{} (corrupt {}, connect {})",
                            n, l.corrupt, l.connect_errors
                        )
                    }
                }
                (None, None) => "-".into(),
            };
            let l = r.load.as_ref();
            let pct = |us: Option<u64>| {
                let secs = l?.secs;
                Some(us? as f64 / 1e4 / secs.max(1e-9))
            };
            let wait = format!(
                "{}/{}",
                opt(pct(l.and_then(|l| l.load_wait_us)), 0),
                opt(pct(r.server_window.and_then(|s| s.run_wait_us)), 0)
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.server.name(),
                opt(l.map(|l| l.rps()), 0),
                opt(l.map(|l| l.mbps()), 2),
                opt(l.map(|l| l.p50_us), 1),
                opt(l.map(|l| l.p99_us), 1),
                opt(l.map(|l| l.p999_us), 1),
                opt(cpu, 2),
                opt(r.syscalls_per_req(), 3),
                opt(vs_floor, 2),
                opt(vs_tokio, 2),
                opt(l.and_then(|l| l.load_cpu_pct()), 0),
                wait,
                errors
            );
        }
    }
    out
}

fn json_num(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or("null".into(), |v| format!("{v:.4}"))
}

fn json_u(v: Option<u64>) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn results_json(opts: &Options, rows: &[Row], took: std::time::Duration) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"command\": {},", json_str(&opts.command));
    let _ = writeln!(out, "  \"machine\": {},", json_str(&machine()));
    let _ = writeln!(
        out,
        "  \"pinning\": {},",
        opts.pin.map_or("null".into(), |(s, l)| format!(
            "{{\"server_core\":{s},\"load_core\":{l}}}"
        ))
    );
    let _ = writeln!(
        out,
        "  \"secs\": {}, \"warmup\": {}, \"took_secs\": {:.1}, \"load_driver\": \"{:?}\",",
        opts.secs,
        opts.warmup,
        took.as_secs_f64(),
        LOAD_DRIVER
    );
    out.push_str("  \"rows\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let l = r.load.as_ref();
        let s = r.server_window;
        let rate = match r.case.mode {
            Mode::Rate(x) => x.to_string(),
            _ => "null".into(),
        };
        let _ = write!(
            out,
            "    {{\"case\":{},\"mode\":\"{}\",\"conns\":{},\"size\":{},\"depth\":{},\"rate\":{},\"server\":\"{}\",\"load\":{},\"server_cpu_us\":{},\"proc_cpu_us\":{},\"server_run_wait_us\":{},\"enters\":{},\"epoll_waits\":{},\"io_syscalls\":{},\"ops_submitted\":{},\"completions\":{},\"cpu_us_per_req\":{},\"proc_cpu_us_per_req\":{},\"syscalls_per_req\":{},\"error\":{}}}",
            json_str(&r.case.name),
            r.case.mode.name(),
            r.case.conns,
            r.case.size,
            r.case.depth,
            rate,
            r.server.name(),
            l.map_or("null".into(), |l| l.to_json()),
            json_u(s.map(|s| s.cpu_us)),
            json_u(s.and_then(|s| s.proc_cpu_us)),
            json_u(s.and_then(|s| s.run_wait_us)),
            json_u(s.and_then(|s| s.enters)),
            json_u(s.and_then(|s| s.epoll_waits)),
            json_u(s.and_then(|s| s.io_syscalls)),
            json_u(s.and_then(|s| s.ops_submitted)),
            json_u(s.and_then(|s| s.completions)),
            json_num(r.cpu_us_per_req()),
            json_num(r.proc_cpu_us_per_req()),
            json_num(r.syscalls_per_req()),
            r.error.as_deref().map_or("null".into(), json_str),
        );
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

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

const COLORS: [&str; 6] = [
    "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b",
];

/// `metric` against connection count over the ping-pong cases (depth 1), one series per
/// server; readiness-model servers dashed.
pub fn chart(
    rows: &[Row],
    title: &str,
    unit: &str,
    y_scale: Scale,
    metric: fn(&Row) -> Option<f64>,
) -> String {
    let series = ServerKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &server)| Series {
            name: server.name().into(),
            color: COLORS[i % COLORS.len()],
            dashed: server.model() == "readiness",
            points: rows
                .iter()
                .filter(|r| {
                    r.server == server && r.case.mode == Mode::PingPong && r.case.depth == 1
                })
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

/// Prints the table and writes the report folder; returns its path.
pub fn write(opts: &Options, rows: &[Row], took: std::time::Duration) -> io::Result<PathBuf> {
    let table = table(rows);
    println!("{table}");
    let dir = opts.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("corio-bench-report-{t}"))
    });
    std::fs::create_dir_all(&dir)?;
    let pinning = match opts.pin {
        Some((s, l)) => format!("server pinned to core {s}, load generator to core {l}"),
        None => "no pinning (fewer than 2 CPUs)".into(),
    };
    let md = format!(
        "# corio-bench report\n\n\
         - command: `{}` (took {:.0} s)\n\
         - machine: {}\n\
         - {}\n\
         - per run: {:.2} s warm-up, then {:.2} s measured; load generator: corio ({:?} \
         driver), one thread, every echoed byte checked\n\n\
         ## What the columns mean\n\n\
         - **req/s, MB/s**: requests (bulk: 16 KiB chunks) completed in the measured window, \
         and their payload bytes, per second.\n\
         - **p50/p99/p999**: request latency at the load generator (log-linear histogram, \
         within 3 %). rate: from each request's scheduled send time (no coordinated \
         omission); churn: connect + echo + close; bulk: time through the socket buffers of a \
         saturated stream, so mostly queueing.\n\
         - **server CPU µs/req**: the server process's user+system CPU time over the measured \
         window (its own getrusage, sampled on SIGUSR1 at the window's start and end) per \
         request. results.json also has `proc_cpu_us_per_req`, the same from \
         /proc/<pid>/stat (clock ticks) as a cross-check.\n\
         - **syscalls/req**: io_uring_enter calls (corio-uring, raw-uring) or epoll_wait + I/O \
         syscalls (corio-epoll, raw-epoll) over the same window, from the servers' own \
         counters; tokio and monoio cannot be counted.\n\
         - **CPU vs bare loop**: server CPU/req over that of the bare loop of the same model \
         (raw-uring for completion servers, raw-epoll for readiness ones); **CPU vs tokio**: \
         over tokio's.\n\
         - **load CPU %**: the load generator thread's CPU time over the window, in percent of \
         its core; near 100 the load generator, not the server, limited req/s, and server \
         CPU/req is the figure to compare.\n\
         - **run-queue wait %**: how long the load generator thread / the server's threads \
         were runnable but not running (schedstat run_delay) over the window. More than a few \
         percent means something else took their core: that row is noise, rerun it.\n\n\
         ![throughput](throughput.svg)\n![p99](p99.svg)\n{table}",
        opts.command,
        took.as_secs_f64(),
        machine(),
        pinning,
        opts.warmup,
        opts.secs,
        LOAD_DRIVER,
    );
    std::fs::write(dir.join("report.md"), md)?;
    std::fs::write(dir.join("results.json"), results_json(opts, rows, took))?;
    std::fs::write(
        dir.join("throughput.svg"),
        chart(
            rows,
            "ping-pong throughput",
            "requests/s",
            Scale::Linear,
            |r| r.load.as_ref().map(|l| l.rps()),
        ),
    )?;
    std::fs::write(
        dir.join("p99.svg"),
        chart(
            rows,
            "ping-pong p99 latency",
            "p99 µs (log scale)",
            Scale::Log,
            |r| r.load.as_ref().map(|l| l.p99_us),
        ),
    )?;
    Ok(dir)
}
