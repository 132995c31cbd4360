//! report.md (and the tables the suite prints): the run and the machine, then per workload one
//! table per case (medians over the rounds, the CPU figure's range beside it) with its
//! verdict lines, then the two sweeps where they ran.

use super::sweeps;
use super::verdict::{self, digits};
use crate::results::summary::{groups, At, Group, Metric, Stat};
use crate::results::{Results, Row, Unit};
use std::fmt::Write as _;

/// `v` with `prec` decimals; "-" for none.
fn opt(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "-".into(),
    }
}

fn med(g: &Group, m: Metric) -> Option<f64> {
    g.stat(m).map(|s| s.median)
}

/// A figure with the digits its size needs.
pub fn fig(v: Option<f64>) -> String {
    opt(v, v.map_or(2, digits))
}

fn range(s: Option<Stat>) -> String {
    match s {
        Some(s) => {
            let d = digits(s.max);
            format!("{:.d$}–{:.d$}", s.min, s.max)
        }
        None => "-".into(),
    }
}

/// The run, the machine, and how busy it was.
pub fn preamble(r: &Results) -> String {
    let s = &r.settings;
    let mut out = String::from("# corio-bench report\n\n");
    let _ = writeln!(
        out,
        "- command: `{}` (took {:.0} s)",
        r.command, r.took_secs
    );
    let _ = writeln!(
        out,
        "- commit: {}",
        r.commit.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "- machine: {}", r.machine.line());
    let _ = writeln!(out, "- mitigations: {}", r.machine.mitigations);
    let _ = writeln!(
        out,
        "- seccomp of the harness itself: {}",
        r.machine.seccomp
    );
    let _ = writeln!(out, "- how busy: {}", r.machine.busy.line());
    let pinning = match (s.server_core, s.load_core) {
        (Some(a), Some(b)) => format!("server pinned to core {a}, load generator to core {b}"),
        _ => "no pinning (fewer than 2 CPUs)".into(),
    };
    let _ = writeln!(out, "- {pinning}");
    let _ = writeln!(
        out,
        "- per run: {:.2} s warm-up, then {:.2} s measured; {} round(s), the servers' order \
         rotated each round; load generator: corio ({} driver), one thread, every echoed or \
         served byte checked; http: wrk",
        s.warmup, s.secs, s.rounds, s.load_driver
    );
    if let Some(why) = &s.uring_refused {
        let _ = writeln!(
            out,
            "- io_uring is refused on this machine ({why}): only the servers that do not need \
             it ran"
        );
    }
    for k in &r.skipped {
        let _ = writeln!(out, "- skipped {}: {}", k.what, k.reason);
    }
    for p in &r.syscall_costs {
        let each: Vec<String> = p.ns.iter().map(|(n, v)| format!("{n} {v:.0}")).collect();
        let _ = writeln!(
            out,
            "- one syscall under `{}` ({}): {:.0} ns on average ({} ns)",
            p.level,
            p.about,
            p.mean_ns,
            each.join(", ")
        );
    }
    out
}

/// What the columns mean.
pub const COLUMNS: &str = "\
Figures are medians over the rounds. **CPU** is the server's (or proxy's) own CPU time over \
the measured window (user + system, every thread) per unit of work, the figure to compare: it \
stays honest when the load generator, not the server, limits the rate; its **range** is the \
lowest and highest round. **syscalls** are io_uring_enter calls (completion) or epoll_wait + \
I/O syscalls (readiness) from the server's own counters (tokio, monoio, compio and the proxies \
cannot be counted). **instr** are user-space instructions per unit from `corio-bench instr` \
(callgrind), where counted. **vs bare loop** and **vs tokio** are the medians of the per-round \
ratios to the bare loop of the same model and to tokio. **load CPU %** near 100: the load \
generator was the bottleneck. **run-queue wait %** (load/server) above a few percent: another \
process took the core, and the round is noise. A verdict is given only where the two servers' \
ranges over the rounds do not overlap.";

fn header(unit: Unit) -> String {
    let per = unit.short();
    format!(
        "| server | {}/s | MB/s | p50 µs | p99 µs | p999 µs | CPU µs/{per} | range | \
         syscalls/{per} | instr/{per} | vs bare loop | vs tokio | load CPU % | run-queue wait \
         % | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        if unit == Unit::Op { "ops" } else { "req" }
    )
}

/// Failed rounds and load errors, with the first error's words.
fn errors(g: &Group) -> String {
    let failed: Vec<&Row> = g.failed().collect();
    if failed.is_empty() {
        return "0".into();
    }
    let n: u64 = g.rows.iter().map(|r| r.failures()).sum();
    let first = failed
        .iter()
        .find_map(|r| r.error.as_deref())
        .map(|e| format!(": {}", e.replace('|', "/")))
        .unwrap_or_default();
    format!("{} round(s), {n} load errors{first}", failed.len())
}

fn ratio_to(groups: &[Group], g: &Group, other: Option<&str>) -> Option<f64> {
    let at = At::of(g.first());
    let b = at.find(groups, other?)?;
    crate::results::summary::ratio(g, b, Metric::Cpu).map(|s| s.median)
}

fn pct(g: &Group, f: fn(&Row) -> Option<u64>) -> Option<f64> {
    Stat::of(g.rows.iter().filter(|r| r.error.is_none()).filter_map(|r| {
        let secs = r.load.as_ref()?.secs.max(1e-9);
        Some(f(r)? as f64 / 1e4 / secs)
    }))
    .map(|s| s.median)
}

fn table_line(r: &Results, groups: &[Group], g: &Group) -> String {
    let first = g.first();
    let floor = r.workload(&first.workload).and_then(|w| {
        w.subjects
            .iter()
            .find(|s| s.floor && s.model == first.model)
            .map(|s| s.name.as_str())
    });
    // A failed round's figures describe the failure: left out, as the metrics leave them.
    let lm = |f: fn(&crate::results::LoadFigures) -> Option<f64>| {
        let ok = g.rows.iter().filter(|r| r.error.is_none());
        Stat::of(ok.filter_map(|r| f(r.load.as_ref()?))).map(|s| s.median)
    };
    let wait = format!(
        "{}/{}",
        opt(pct(g, |r| r.load.as_ref()?.load_wait_us), 0),
        opt(pct(g, |r| r.window?.run_wait_us), 0)
    );
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        first.server,
        opt(lm(|l| Some(l.rps())), 0),
        opt(lm(|l| Some(l.mbps())), 2),
        opt(med(g, Metric::P50), 1),
        opt(med(g, Metric::P99), 1),
        opt(lm(|l| l.p999_us), 1),
        fig(med(g, Metric::Cpu)),
        range(g.stat(Metric::Cpu)),
        opt(med(g, Metric::Syscalls), 3),
        opt(med(g, Metric::Instr), 0),
        opt(ratio_to(groups, g, floor), 2),
        opt(ratio_to(groups, g, Some("tokio")), 2),
        opt(lm(|l| l.load_cpu_pct()), 0),
        wait,
        errors(g)
    )
}

fn idle_table(gs: &[&Group]) -> String {
    let mut out = String::from(
        "| proxy | pairs | RSS before MiB | RSS with the pairs MiB | KiB per pair | range | \
         errors |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for g in gs {
        let mem = |f: fn(&crate::results::Memory) -> f64| {
            Stat::of(g.rows.iter().filter_map(|r| r.memory.as_ref().map(f))).map(|s| s.median)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            g.first().server,
            opt(mem(|m| m.pairs as f64), 0),
            opt(mem(|m| m.rss_before_kib as f64 / 1024.0), 1),
            opt(mem(|m| m.rss_after_kib as f64 / 1024.0), 1),
            opt(med(g, Metric::KibPerPair), 2),
            range(g.stat(Metric::KibPerPair)),
            errors(g)
        );
    }
    out
}

/// The metrics whose verdicts follow a case's table.
pub fn verdict_metrics(row: &Row) -> Vec<Metric> {
    match (row.unit, row.pattern.as_str()) {
        (Unit::Pair, _) => vec![Metric::KibPerPair],
        (_, "rate") => vec![Metric::Cpu, Metric::P99],
        _ => vec![Metric::Cpu],
    }
}

/// The cases at the baseline syscall cost and worker count: one table each, with verdicts.
pub fn tables(r: &Results) -> String {
    let groups = groups(&r.rows);
    let base_cost = r.settings.syscall_costs.first().map_or("none", |s| s);
    let base_workers = r.settings.workers.first().copied().unwrap_or(1);
    let mut out = String::new();
    let mut workload = "";
    for (i, g) in groups.iter().enumerate() {
        let f = g.first();
        if f.syscall_cost != base_cost || f.workers != base_workers {
            continue;
        }
        let first_of_case = !groups[..i].iter().any(|h| {
            let h = h.first();
            h.case == f.case && h.syscall_cost == base_cost && h.workers == base_workers
        });
        if !first_of_case {
            continue;
        }
        if f.workload != workload {
            workload = &f.workload;
            let about = r.workload(workload).map_or("", |w| w.about.as_str());
            let _ = writeln!(out, "\n## {workload}\n\n{about}.");
        }
        let at = At::of(f);
        let of_case: Vec<&Group> = groups
            .iter()
            .filter(|h| {
                let h = h.first();
                h.case == f.case && h.syscall_cost == base_cost && h.workers == base_workers
            })
            .collect();
        let _ = writeln!(out, "\n### {}\n", f.case);
        if f.unit == Unit::Pair {
            out.push_str(&idle_table(&of_case));
        } else {
            let _ = writeln!(out, "{}", header(f.unit));
            for h in &of_case {
                let _ = writeln!(out, "{}", table_line(r, &groups, h));
            }
        }
        out.push('\n');
        for m in verdict_metrics(f) {
            for line in verdict::lines(r, &groups, &at, m, f.unit) {
                let _ = writeln!(out, "- {line}");
            }
        }
        let last_of_workload = !groups[i + 1..].iter().any(|h| {
            let h = h.first();
            h.workload == f.workload && h.case != f.case
        });
        if last_of_workload {
            if let Some(note) = r.workload(workload).and_then(|w| w.model_note.as_ref()) {
                let _ = writeln!(out, "\n{note}");
            }
        }
    }
    out
}

/// The syscall-cost sweep: per case, each server's CPU per unit at each level, and where the
/// compared servers' lines cross.
pub fn cost_sweep(r: &Results) -> String {
    let levels = sweeps::levels(r);
    if levels.len() < 2 {
        return String::new();
    }
    let groups = groups(&r.rows);
    let base_workers = r.settings.workers[0];
    let mut out = String::from(
        "\n## What a syscall costs\n\nEach server's CPU per unit at each syscall-cost level \
         (median over the rounds; the level's measured price of one syscall in the header).\n",
    );
    let mut seen: Vec<&str> = Vec::new();
    for row in r.rows.iter().filter(|x| x.workers == base_workers) {
        if seen.contains(&row.case.as_str()) || row.unit == Unit::Pair {
            continue;
        }
        seen.push(&row.case);
        let at = At::of(row);
        let head: Vec<String> = levels
            .iter()
            .map(|(l, ns)| format!("{l} ({ns:.0} ns)"))
            .collect();
        let _ = writeln!(
            out,
            "\n### {}\n\n| server | {} |\n|---|{}",
            row.case,
            head.join(" | "),
            "---:|".repeat(levels.len())
        );
        let mut servers: Vec<&str> = Vec::new();
        for x in r.rows.iter().filter(|x| x.case == row.case) {
            if !servers.contains(&x.server.as_str()) {
                servers.push(&x.server);
            }
        }
        for s in servers {
            let cells: Vec<String> = levels
                .iter()
                .map(|(l, _)| {
                    let at = At { cost: l, ..at };
                    fig(at.find(&groups, s).and_then(|g| med(g, Metric::Cpu)))
                })
                .collect();
            let _ = writeln!(out, "| {s} | {} |", cells.join(" | "));
        }
        out.push('\n');
        if let Some(w) = r.workload(&row.workload) {
            for c in &w.comparisons {
                if let Some(line) = sweeps::crossing(&groups, &at, c, &levels) {
                    let _ = writeln!(out, "- {line}");
                }
            }
        }
    }
    out
}

/// The workers sweep: per case and server, CPU per unit and per-core efficiency.
pub fn workers_sweep(r: &Results) -> String {
    if r.settings.workers.len() < 2 {
        return String::new();
    }
    let groups = groups(&r.rows);
    let mut out = String::from(
        "\n## Scaling with cores\n\nThe thread-per-core servers (and tokio's multi-thread \
         scheduler) with one worker per core. **efficiency**: CPU per unit at the first worker \
         count over CPU per unit here (1.00: each core does as much work per CPU-second as one \
         alone); **rate ×**: units per second over the first count's. The load generator is \
         one thread: where it is the bottleneck, the rate cannot grow, and efficiency is the \
         figure to read.\n",
    );
    for at in sweeps::swept_cases(r) {
        let _ = writeln!(
            out,
            "\n### {}\n\n| server | workers | rate /s | CPU µs/unit | range | efficiency | rate × |\n|---|---:|---:|---:|---:|---:|---:|",
            at.case
        );
        for s in sweeps::swept_servers(r, at.case) {
            for p in sweeps::scaling(r, &groups, &at, s) {
                let _ = writeln!(
                    out,
                    "| {s} | {} | {} | {} | {} | {} | {} |",
                    p.workers,
                    opt(p.rate.map(|x| x.median), 0),
                    fig(p.cpu.map(|x| x.median)),
                    range(p.cpu),
                    opt(p.efficiency, 2),
                    opt(p.speedup, 2)
                );
            }
        }
    }
    out
}

/// report.md, whole.
pub fn report(r: &Results) -> String {
    format!(
        "{}\n## What the columns mean\n\n{COLUMNS}\n{}{}{}",
        preamble(r),
        tables(r),
        cost_sweep(r),
        workers_sweep(r)
    )
}
