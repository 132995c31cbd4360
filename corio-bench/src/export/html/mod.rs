//! report.html: one self-contained file (inline SVG and CSS, no script, and a content
//! security policy that forbids loading anything). At the top the machine (kernel, CPU,
//! cores, mitigations, seccomp, how busy it was) and the legend (one colour per server, in
//! every chart); then per workload, for each unit its cases are counted in, a chart per figure
//! (server CPU, syscalls, p50, p99, instructions, memory per pair) with the verdict lines under
//! it and the table folded below; then the syscall-cost and workers sweeps where they ran.
//!
//! Each chart is a `<figure class="chart">` whose `data-series` lists the servers drawn in it
//! (name, colour, number of points): the browser test checks every one is on screen.

mod parts;
mod sweeps;

use super::charts::{self, Series};
use super::markdown;
use super::verdict;
use crate::results::summary::{groups, At, Group, Metric};
use crate::results::{Results, Row, Unit};
use parts::{figure, inline, servers, table, STYLE};
use std::fmt::Write as _;

fn header(r: &Results) -> String {
    let m = &r.machine;
    let s = &r.settings;
    let mut out = String::from("<h1>corio-bench report</h1>\n<dl class=\"machine\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", inline(&v));
    };
    item("kernel", format!("Linux {}", m.kernel));
    item("CPU", format!("{} ({} cores)", m.cpu_model, m.cores));
    item("mitigations", m.mitigations.clone());
    item("seccomp", m.seccomp.clone());
    item("how busy", m.busy.line());
    item("command", format!("`{}`", r.command));
    item(
        "commit",
        r.commit.clone().unwrap_or_else(|| "unknown".into()),
    );
    item("took", format!("{:.0} s", r.took_secs));
    item(
        "each run",
        format!(
            "{:.2} s warm-up, {:.2} s measured; {} round(s), interleaved; load generator on \
             core {}, server on core {}",
            s.warmup,
            s.secs,
            s.rounds,
            s.load_core.map_or("-".into(), |c| c.to_string()),
            s.server_core.map_or("-".into(), |c| c.to_string())
        ),
    );
    for p in &r.syscall_costs {
        item(
            &format!("a syscall under {}", p.level),
            format!("{:.0} ns on average ({})", p.mean_ns, p.about),
        );
    }
    if let Some(why) = &s.uring_refused {
        item("io_uring", format!("refused here ({why})"));
    }
    for k in &r.skipped {
        item("skipped", format!("{}: {}", k.what, k.reason));
    }
    out.push_str("</dl>\n");
    out
}

fn legend(r: &Results) -> String {
    let mut out = String::from("<p class=\"legend\">");
    let mut seen: Vec<&str> = Vec::new();
    for w in &r.workloads {
        for s in &w.subjects {
            if seen.contains(&s.name.as_str()) || !r.rows.iter().any(|x| x.server == s.name) {
                continue;
            }
            seen.push(&s.name);
            let _ = write!(
                out,
                "<span title=\"{}\"><i class=\"{}\" style=\"background:{}\"></i>{} ({})</span>",
                inline(&s.about),
                s.model.name(),
                charts::hex(&s.name),
                s.name,
                s.model.name()
            );
        }
    }
    out.push_str(
        "</p><p class=\"note\">Circles: completion; triangles and dashed lines: readiness. \
         Markers at the median of the rounds, bars from the lowest to the highest round.</p>\n",
    );
    out
}

/// The baseline groups (first syscall cost, first worker count) of one workload.
fn baseline<'a, 'g>(r: &Results, all: &'g [Group<'a>], workload: &str) -> Vec<&'g Group<'a>> {
    let cost = r.settings.syscall_costs.first().map_or("none", |s| s);
    let workers = r.settings.workers.first().copied().unwrap_or(1);
    all.iter()
        .filter(|g| {
            let f = g.first();
            f.workload == workload && f.syscall_cost == cost && f.workers == workers
        })
        .collect()
}

fn workload_section(r: &Results, all: &[Group], name: &str) -> String {
    let base = baseline(r, all, name);
    if base.is_empty() {
        return String::new();
    }
    let about = r.workload(name).map_or("", |w| w.about.as_str());
    let mut out = format!("<h2 id=\"{name}\">{name}</h2>\n<p>{}.</p>\n", inline(about));
    let mut units: Vec<Unit> = Vec::new();
    for g in &base {
        if !units.contains(&g.first().unit) {
            units.push(g.first().unit);
        }
    }
    for unit in units {
        let of_unit: Vec<&Group> = base
            .iter()
            .copied()
            .filter(|g| g.first().unit == unit)
            .collect();
        let mut cases: Vec<&Row> = Vec::new();
        for g in &of_unit {
            if !cases.iter().any(|c| c.case == g.first().case) {
                cases.push(g.first());
            }
        }
        let metrics: &[Metric] = if unit == Unit::Pair {
            &[Metric::KibPerPair]
        } else {
            &[
                Metric::Cpu,
                Metric::Syscalls,
                Metric::P50,
                Metric::P99,
                Metric::Instr,
            ]
        };
        for &m in metrics {
            let series: Vec<Series> = servers(&of_unit)
                .iter()
                .map(|s| Series {
                    name: s.server.clone(),
                    model: s.model,
                    points: cases
                        .iter()
                        .map(|c| At::of(c).find(all, &s.server).and_then(|g| g.stat(m)))
                        .collect(),
                })
                .filter(|s| s.points.iter().any(|p| p.is_some_and(|p| p.min > 0.0)))
                .collect();
            if series.is_empty() {
                continue;
            }
            let mut lines = Vec::new();
            for c in &cases {
                let at = At::of(c);
                let w = r.workload(name);
                for cmp in w.map_or(&[][..], |w| &w.comparisons[..]) {
                    if m != Metric::Cpu && m != Metric::KibPerPair && !cmp.model_pair {
                        continue;
                    }
                    if let Some(l) = verdict::line(all, &at, cmp, m, unit, w) {
                        lines.push(format!("{}: {l}", c.case));
                    }
                }
            }
            let names: Vec<String> = cases.iter().map(|c| c.case.clone()).collect();
            let title = m.title(unit);
            out.push_str(&figure(
                charts::cases(&title, &names, &series),
                &series,
                &lines,
            ));
        }
    }
    if let Some(note) = r.workload(name).and_then(|w| w.model_note.as_ref()) {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", inline(note));
    }
    out
}

fn tables(r: &Results) -> String {
    let md = markdown::tables(r);
    let mut out = String::from("<h2 id=\"tables\">Tables</h2>\n");
    for section in md.split("\n### ").skip(1) {
        let (title, body) = section.split_once('\n').unwrap_or((section, ""));
        let _ = writeln!(
            out,
            "<details><summary>{}</summary>{}</details>",
            inline(title.trim()),
            table(body)
        );
    }
    out
}

/// report.html, whole.
pub fn report(r: &Results) -> String {
    let all = groups(&r.rows);
    let mut body = header(r);
    body.push_str(&legend(r));
    for w in &r.workloads {
        body.push_str(&workload_section(r, &all, &w.name));
    }
    body.push_str(&sweeps::cost_section(r, &all));
    body.push_str(&sweeps::workers_section(r, &all));
    body.push_str(&tables(r));
    let _ = write!(
        body,
        "<h2>What the figures mean</h2><p>{}</p><p class=\"note\">The data of this report is \
         results.json beside it; <code>corio-bench report results.json</code> makes this \
         report again from it.</p>",
        inline(markdown::COLUMNS)
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>corio-bench report</title><style>{STYLE}</style></head>\n<body>\n{body}\n\
         </body></html>\n"
    )
}
