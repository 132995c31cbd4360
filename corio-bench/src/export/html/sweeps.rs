//! report.html's sweeps: each server's CPU per unit against the price of a syscall, with where
//! the compared lines cross; and against the worker count, with per-core efficiency.

use super::parts::{figure, servers};
use crate::export::charts::{self, Series};
use crate::export::sweeps;
use crate::results::summary::{At, Group, Metric};
use crate::results::{Results, Unit};

pub(super) fn cost_section(r: &Results, all: &[Group]) -> String {
    let levels = sweeps::levels(r);
    if levels.len() < 2 {
        return String::new();
    }
    let mut out = String::from(
        "<h2 id=\"syscall-cost\">What a syscall costs</h2>\n<p>Each server's CPU per unit \
         against the measured price of one syscall under each syscall-cost level (x). Readiness \
         pays it on every read, write and epoll_wait; completion on each io_uring_enter only.</p>\n",
    );
    let base_workers = r.settings.workers[0];
    let xs: Vec<(f64, String)> = levels.iter().map(|(l, ns)| (*ns, l.clone())).collect();
    let mut seen: Vec<&str> = Vec::new();
    for row in r.rows.iter().filter(|x| x.workers == base_workers) {
        if seen.contains(&row.case.as_str()) || row.unit == Unit::Pair {
            continue;
        }
        seen.push(&row.case);
        let at = At::of(row);
        let of_case: Vec<&Group> = all
            .iter()
            .filter(|g| g.first().case == row.case && g.first().workers == base_workers)
            .collect();
        let series: Vec<Series> = servers(&of_case)
            .iter()
            .map(|s| Series {
                name: s.server.clone(),
                model: s.model,
                points: levels
                    .iter()
                    .map(|(l, _)| {
                        let at = At { cost: l, ..at };
                        at.find(all, &s.server).and_then(|g| g.stat(Metric::Cpu))
                    })
                    .collect(),
            })
            .collect();
        let lines: Vec<String> = r.workload(&row.workload).map_or(Vec::new(), |w| {
            w.comparisons
                .iter()
                .filter_map(|c| sweeps::crossing(all, &at, c, &levels))
                .collect()
        });
        let title = format!("{}: server CPU µs per {}", row.case, row.unit.name());
        let svg = charts::lines(&title, "ns per syscall", &xs, &series);
        out.push_str(&figure(svg, &series, &lines));
    }
    out
}

pub(super) fn workers_section(r: &Results, all: &[Group]) -> String {
    if r.settings.workers.len() < 2 {
        return String::new();
    }
    let mut out = String::from(
        "<h2 id=\"workers\">Scaling with cores</h2>\n<p>CPU per unit at each worker count (one \
         worker per core). Flat lines: each core does as much work per CPU-second as one alone. \
         The load generator is one thread, so the rate it can offer does not grow.</p>\n",
    );
    let xs: Vec<(f64, String)> = r
        .settings
        .workers
        .iter()
        .map(|&w| (w as f64, w.to_string()))
        .collect();
    for at in sweeps::swept_cases(r) {
        let mut series = Vec::new();
        let mut lines = Vec::new();
        for s in sweeps::swept_servers(r, at.case) {
            let points = sweeps::scaling(r, all, &at, s);
            let model = r
                .rows
                .iter()
                .find(|x| x.server == s)
                .map(|x| x.model)
                .unwrap_or(crate::results::Model::Readiness);
            let eff: Vec<String> = points
                .iter()
                .map(|p| {
                    format!(
                        "{} workers {:.2}",
                        p.workers,
                        p.efficiency.unwrap_or(f64::NAN)
                    )
                })
                .collect();
            lines.push(format!("{s}: per-core efficiency {}", eff.join(", ")));
            series.push(Series {
                name: s.to_string(),
                model,
                points: points.iter().map(|p| p.cpu).collect(),
            });
        }
        let title = format!("{}: server CPU µs per request", at.case);
        out.push_str(&figure(
            charts::lines(&title, "workers (one per core)", &xs, &series),
            &series,
            &lines,
        ));
    }
    out
}
