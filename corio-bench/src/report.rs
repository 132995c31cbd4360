//! The suite's outputs: a table on stdout, and a folder with report.md, results.json and SVG
//! charts (throughput and p99 latency against connection count, one series per server).

use crate::load::Mode;
use crate::servers::ServerKind;
use crate::suite::{Options, Row};
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
            "| server | req/s | MB/s | p50 µs | p99 µs | p999 µs | server CPU µs/req | syscalls/req | CPU vs bare loop | CPU vs tokio | errors |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
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
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
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

pub fn results_json(opts: &Options, rows: &[Row]) -> String {
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
        "  \"secs\": {}, \"warmup\": {},",
        opts.secs, opts.warmup
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
            "    {{\"case\":{},\"mode\":\"{}\",\"conns\":{},\"size\":{},\"depth\":{},\"rate\":{},\"server\":\"{}\",\"load\":{},\"server_cpu_us\":{},\"enters\":{},\"epoll_waits\":{},\"io_syscalls\":{},\"ops_submitted\":{},\"completions\":{},\"cpu_us_per_req\":{},\"syscalls_per_req\":{},\"error\":{}}}",
            json_str(&r.case.name),
            r.case.mode.name(),
            r.case.conns,
            r.case.size,
            r.case.depth,
            rate,
            r.server.name(),
            l.map_or("null".into(), |l| l.to_json()),
            json_u(s.map(|s| s.cpu_us)),
            json_u(s.and_then(|s| s.enters)),
            json_u(s.and_then(|s| s.epoll_waits)),
            json_u(s.and_then(|s| s.io_syscalls)),
            json_u(s.and_then(|s| s.ops_submitted)),
            json_u(s.and_then(|s| s.completions)),
            json_num(r.cpu_us_per_req()),
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

/// A line chart of `metric` against connection count over the ping-pong cases, log-scaled
/// on both axes, one series per server.
pub fn chart(rows: &[Row], title: &str, unit: &str, metric: fn(&Row) -> Option<f64>) -> String {
    let (w, h, ml, mr, mt, mb) = (720.0, 420.0, 70.0, 150.0, 40.0, 50.0);
    let points: Vec<(ServerKind, f64, f64)> = rows
        .iter()
        .filter(|r| r.case.mode == Mode::PingPong && r.case.depth == 1)
        .filter_map(|r| Some((r.server, r.case.conns as f64, metric(r)?)))
        .filter(|p| p.2 > 0.0)
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n",
        (w - mr + ml) / 2.0
    );
    if points.is_empty() {
        svg.push_str("<text x=\"40\" y=\"80\">no data</text>\n</svg>\n");
        return svg;
    }
    let lx = |x: f64| x.max(1.0).log10();
    let (xmin, xmax) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(lx(p.1)), b.max(lx(p.1)))
    });
    let (ymin, ymax) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.2.log10()), b.max(p.2.log10()))
    });
    let (ymin, ymax) = (ymin.floor(), ymax.ceil().max(ymin.floor() + 1.0));
    let xspan = (xmax - xmin).max(1e-9);
    let px = |x: f64| ml + (lx(x) - xmin) / xspan * (w - ml - mr);
    let py = |y: f64| h - mb - (y.log10() - ymin) / (ymax - ymin) * (h - mt - mb);
    // Axes and grid.
    let _ = writeln!(
        svg,
        "<line x1=\"{ml}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{ml}\" y1=\"{mt}\" x2=\"{ml}\" y2=\"{}\" stroke=\"black\"/>",
        h - mb,
        w - mr,
        h - mb,
        h - mb
    );
    let mut e = ymin as i32;
    while e as f64 <= ymax {
        let v = 10f64.powi(e);
        let y = py(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{ml}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - mr,
            ml - 6.0,
            y + 4.0,
            if v >= 1.0 { format!("{v:.0}") } else { format!("{v}") }
        );
        e += 1;
    }
    let mut xs: Vec<f64> = points.iter().map(|p| p.1).collect();
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.dedup();
    for &x in &xs {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x}</text>",
            px(x),
            h - mb + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">connections</text><text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">{unit}</text>",
        (w - mr + ml) / 2.0,
        h - 10.0,
        h / 2.0,
        h / 2.0
    );
    for (i, server) in ServerKind::ALL.iter().enumerate() {
        let mut series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == *server)
            .map(|p| (p.1, p.2))
            .collect();
        if series.is_empty() {
            continue;
        }
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = series
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        for (x, y) in &series {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                px(*x),
                py(*y)
            );
        }
        let ly = mt + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w - mr + 10.0,
            w - mr + 30.0,
            w - mr + 35.0,
            ly + 4.0,
            server.name()
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Prints the table and writes the report folder; returns its path.
pub fn write(opts: &Options, rows: &[Row]) -> io::Result<PathBuf> {
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
         - command: `{}`\n- machine: {}\n- {}\n- per case: {:.2} s warm-up, {:.2} s measured; load generator: corio on io_uring, one thread\n\n\
         Server CPU µs/req is the server process's user+system CPU time (getrusage, sampled by \
         the server on SIGUSR1 at the start and end of the measured window) divided by the \
         requests completed in the window. syscalls/req: io_uring_enter calls (completion \
         servers) or epoll_wait + I/O syscalls (readiness servers), from the drivers' own \
         counters over the same window; tokio and monoio cannot be counted. CPU vs bare loop: \
         against raw-uring for completion servers, raw-epoll for readiness servers.\n\n\
         ![throughput](throughput.svg)\n![p99](p99.svg)\n{table}",
        opts.command,
        machine(),
        pinning,
        opts.warmup,
        opts.secs
    );
    std::fs::write(dir.join("report.md"), md)?;
    std::fs::write(dir.join("results.json"), results_json(opts, rows))?;
    std::fs::write(
        dir.join("throughput.svg"),
        chart(rows, "ping-pong throughput", "requests/s", |r| {
            r.load.as_ref().map(|l| l.rps())
        }),
    )?;
    std::fs::write(
        dir.join("p99.svg"),
        chart(rows, "ping-pong p99 latency", "µs", |r| {
            r.load.as_ref().map(|l| l.p99_us)
        }),
    )?;
    Ok(dir)
}
