//! report.html: one self-contained file (inline SVG and CSS, no script, and a content
//! security policy that forbids loading anything). At the top the machine (kernel, CPU,
//! cores, mitigations, seccomp, how busy it was) and the legend (one colour per server, in
//! every chart); then per workload, for each unit its cases are counted in, a chart per figure
//! (server CPU, syscalls, p50, p99, instructions, memory per pair) with the verdict lines under
//! it and the table folded below; then the syscall-cost and workers sweeps where they ran.
//!
//! Each chart is a `<figure class="chart">` whose `data-series` lists the servers drawn in it
//! (name, colour, number of points): the browser test checks every one is on screen.

use super::charts::{self, Series};
use super::markdown;
use super::sweeps;
use super::verdict;
use crate::results::summary::{groups, At, Group, Metric};
use crate::results::{Results, Row, Unit};
use std::fmt::Write as _;

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}\
h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ddd;padding:2px 6px}\
td{text-align:right}td:first-child{text-align:left}\
dl.machine{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}dd{margin:0}\
.legend span{display:inline-block;margin:2px 10px 2px 0;white-space:nowrap}\
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}\
.legend i.readiness{clip-path:polygon(50% 0,100% 100%,0 100%)}.legend i.completion{border-radius:6px}\
figure{margin:16px 0}figcaption{font-size:13px}figcaption ul{margin:4px 0;padding-left:18px}\
details{margin:8px 0}code{background:#f4f4f4;padding:0 3px}.note{color:#555}";

/// Escapes text for HTML, then turns the markdown a verdict uses (`**bold**`, `` `code` ``)
/// into HTML.
pub fn inline(md: &str) -> String {
    let esc = md
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut rest = esc.as_str();
    while let Some(i) = rest.find(['*', '`']) {
        out.push_str(&rest[..i]);
        if rest[i..].starts_with("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = &rest[i + 2..];
        } else if rest[i..].starts_with('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = &rest[i + 1..];
        } else {
            out.push('*');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// A markdown table (as `markdown.rs` writes them) as an HTML table.
fn table(md: &str) -> String {
    let mut out = String::from("<table>");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    for (i, line) in rows.iter().enumerate() {
        if i == 1 {
            continue; // the |---| line
        }
        let tag = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for cell in line.trim().trim_matches('|').split('|') {
            let _ = write!(out, "<{tag}>{}</{tag}>", inline(cell.trim()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// A chart with its series' list for the browser test, and lines under it.
fn figure(svg: Result<String, String>, series: &[Series], lines: &[String]) -> String {
    let svg = match svg {
        Ok(svg) => svg,
        Err(e) => return format!("<p class=\"note\">chart not drawn: {}</p>", inline(&e)),
    };
    let list: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "{{\"name\":\"{}\",\"color\":\"{}\",\"points\":{}}}",
                s.name,
                charts::hex(&s.name),
                s.points
                    .iter()
                    .filter(|p| p.is_some_and(|p| p.min > 0.0))
                    .count()
            )
        })
        .collect();
    let mut out = format!(
        "<figure class=\"chart\" data-series='[{}]'>{svg}<figcaption>",
        list.join(",")
    );
    if !lines.is_empty() {
        out.push_str("<ul>");
        for l in lines {
            let _ = write!(out, "<li>{}</li>", inline(l));
        }
        out.push_str("</ul>");
    }
    out.push_str("</figcaption></figure>\n");
    out
}

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

/// The servers that have a row among `groups`, in order of appearance.
fn servers<'a>(groups: &[&'a Group]) -> Vec<&'a Row> {
    let mut out: Vec<&Row> = Vec::new();
    for g in groups {
        if !out.iter().any(|r| r.server == g.first().server) {
            out.push(g.first());
        }
    }
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

fn cost_section(r: &Results, all: &[Group]) -> String {
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

fn workers_section(r: &Results, all: &[Group]) -> String {
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

/// report.html, whole.
pub fn report(r: &Results) -> String {
    let all = groups(&r.rows);
    let mut body = header(r);
    body.push_str(&legend(r));
    for w in &r.workloads {
        body.push_str(&workload_section(r, &all, &w.name));
    }
    body.push_str(&cost_section(r, &all));
    body.push_str(&workers_section(r, &all));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_markdown_becomes_html() {
        assert_eq!(
            inline("**a less**: `x` <b> & *"),
            "<strong>a less</strong>: <code>x</code> &lt;b&gt; &amp; *"
        );
        let t = table("| a | b |\n|---|---:|\n| x | 1 |\n");
        assert_eq!(
            t,
            "<table><tr><th>a</th><th>b</th></tr><tr><td>x</td><td>1</td></tr></table>"
        );
    }
}
