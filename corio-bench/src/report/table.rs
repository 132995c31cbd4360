//! The comparison table, one block per case, as Markdown; CPU and syscalls per the case's
//! unit of work (request, file read, megabyte).

use crate::row::Row;
use crate::servers::{self, ServerSpec};
use crate::workloads::Unit;
use std::fmt::Write as _;

/// `v` with `prec` decimals; "-" for none or a figure the run did not measure (NaN).
pub fn opt(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "-".into(),
    }
}

pub fn find<'a>(rows: &'a [Row], case: &str, server: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.case.name == case && r.server.name == server)
}

/// The case names in the order they ran.
pub fn cases(rows: &[Row]) -> Vec<&str> {
    let mut cases: Vec<&str> = Vec::new();
    for r in rows {
        if !cases.contains(&r.case.name.as_str()) {
            cases.push(&r.case.name);
        }
    }
    cases
}

/// The table's header for a case whose work is counted in `unit`s.
fn header(unit: Unit) -> String {
    let (rate, per) = match unit {
        Unit::Op => ("ops/s", "op"),
        Unit::Request | Unit::Megabyte => ("req/s", unit.short()),
    };
    format!(
        "| server | {rate} | MB/s | p50 µs | p99 µs | p999 µs | server CPU µs/{per} | \
         syscalls/{per} | CPU vs bare loop | CPU vs tokio | load CPU % | run-queue wait % \
         load/server | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    for case in cases(rows) {
        let Some(first) = rows.iter().find(|r| r.case.name == case) else {
            continue;
        };
        let _ = writeln!(out, "\n### {case}\n\n{}", header(first.case.workload.unit));
        for r in rows.iter().filter(|r| r.case.name == case) {
            let _ = writeln!(out, "{}", line(rows, r));
        }
    }
    out
}

/// `r`'s server CPU per request over that of `other`'s row in the same case.
fn cpu_ratio(rows: &[Row], r: &Row, other: Option<&ServerSpec>) -> Option<f64> {
    let base = find(rows, &r.case.name, other?.name)?.cpu_us_per_unit()?;
    Some(r.cpu_us_per_unit()? / base)
}

fn errors(r: &Row) -> String {
    match (&r.error, &r.load) {
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
    }
}

fn line(rows: &[Row], r: &Row) -> String {
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
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.server.name,
        opt(l.map(|l| l.rps()), 0),
        opt(l.map(|l| l.mbps()), 2),
        opt(l.map(|l| l.p50_us), 1),
        opt(l.map(|l| l.p99_us), 1),
        opt(l.map(|l| l.p999_us), 1),
        opt(r.cpu_us_per_unit(), 2),
        opt(r.syscalls_per_unit(), 3),
        opt(cpu_ratio(rows, r, servers::floor_of(r.server.model)), 2),
        opt(cpu_ratio(rows, r, servers::find("tokio")), 2),
        opt(l.and_then(|l| l.load_cpu_pct()), 0),
        wait,
        errors(r)
    )
}
