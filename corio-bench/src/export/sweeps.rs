//! What the two sweeps say, for both report.md and report.html: where the models' CPU lines
//! cross as syscalls get dearer (`--syscall-cost`), and how each server's cost per unit holds
//! up as it gets more cores (`--workers`).

use super::verdict::{call, Call};
use crate::results::summary::{At, Group, Metric, Stat};
use crate::results::{Comparison, Results, Row};

/// The syscall-cost levels of a run, with the measured mean ns per syscall of each (NaN where
/// the probe failed), in the order they ran.
pub fn levels(r: &Results) -> Vec<(String, f64)> {
    r.settings
        .syscall_costs
        .iter()
        .map(|l| {
            let ns = r
                .syscall_costs
                .iter()
                .find(|p| &p.level == l)
                .map_or(f64::NAN, |p| p.mean_ns);
            (l.clone(), ns)
        })
        .collect()
}

/// a's median CPU per unit over b's at each level (None where either is missing), and what
/// the rounds say.
fn ratios(
    groups: &[Group],
    case: &At,
    cmp: &Comparison,
    levels: &[(String, f64)],
) -> Vec<Option<(f64, Call)>> {
    levels
        .iter()
        .map(|(level, _)| {
            let at = At {
                cost: level,
                ..*case
            };
            let a = at.find(groups, &cmp.a)?.stat(Metric::Cpu)?;
            let b = at.find(groups, &cmp.b)?.stat(Metric::Cpu)?;
            (b.median > 0.0).then(|| (a.median / b.median, call(&a, &b)))
        })
        .collect()
}

/// One line on where a's and b's CPU lines cross over the levels, or that they do not. A
/// crossing is claimed only where the rounds say so on both sides: a level where one costs
/// less beyond noise, and a later one where the other does.
pub fn crossing(
    groups: &[Group],
    case: &At,
    cmp: &Comparison,
    levels: &[(String, f64)],
) -> Option<String> {
    let rs = ratios(groups, case, cmp, levels);
    let known: Vec<(usize, f64, Call)> = rs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|(x, c)| (i, x, c)))
        .collect();
    if known.len() < 2 {
        return None;
    }
    let show = |&(i, x, c): &(usize, f64, Call)| {
        let (name, ns) = &levels[i];
        let call = match c {
            Call::Lower | Call::Higher => "",
            Call::Noise => ", within noise",
            Call::OneRound => ", one round",
        };
        format!("{x:.2}× at {name} ({ns:.0} ns/syscall{call})")
    };
    let figures = known.iter().map(show).collect::<Vec<_>>().join(", ");
    let head = format!("{}/{} CPU per unit: {figures}", cmp.a, cmp.b);
    let apart: Vec<&(usize, f64, Call)> = known
        .iter()
        .filter(|k| matches!(k.2, Call::Lower | Call::Higher))
        .collect();
    // The last level where one side was ahead beyond noise before the other was.
    for pair in apart.windows(2) {
        let (&(i, x0, c0), &(j, x1, c1)) = (pair[0], pair[1]);
        if c0 != c1 {
            let (n0, n1) = (levels[i].1, levels[j].1);
            let at = n0 + (1.0 - x0) * (n1 - n0) / (x1 - x0);
            let cheaper = if c1 == Call::Lower { &cmp.a } else { &cmp.b };
            return Some(format!(
                "{head}. **The lines cross** between {} and {}, at about {at:.0} ns per \
                 syscall (linear between the two); from there on {cheaper} costs less.",
                levels[i].0, levels[j].0
            ));
        }
    }
    let one_round = known.iter().all(|k| k.2 == Call::OneRound);
    let tail = match apart.first().map(|k| k.2) {
        None if one_round => "one round: no crossing can be told (run with --rounds 3).".into(),
        None => "within noise at every level: no crossing measured.".to_string(),
        Some(c) => {
            let who = if c == Call::Lower { &cmp.a } else { &cmp.b };
            let all = if apart.len() == known.len() {
                "at every level"
            } else {
                "wherever the rounds tell them apart"
            };
            format!("no crossing over these levels: {who} costs less {all}.")
        }
    };
    Some(format!("{head}; {tail}"))
}

/// One server's figures at one worker count, in the workers sweep.
pub struct Scaling {
    pub workers: usize,
    pub cpu: Option<Stat>,
    pub rate: Option<Stat>,
    /// CPU per unit at the baseline worker count over CPU per unit here: 1.0 means each core
    /// does as much per CPU-second as one alone.
    pub efficiency: Option<f64>,
    /// Units per second here over the baseline's.
    pub speedup: Option<f64>,
}

/// The workers sweep of `server` in `case` (at the baseline syscall cost).
pub fn scaling(r: &Results, groups: &[Group], case: &At, server: &str) -> Vec<Scaling> {
    let workers = &r.settings.workers;
    let stat = |w: usize, m: Metric| {
        let at = At {
            workers: w,
            ..*case
        };
        at.find(groups, server)?.stat(m)
    };
    let base_cpu = stat(workers[0], Metric::Cpu);
    let base_rate = stat(workers[0], Metric::Rate);
    workers
        .iter()
        .map(|&w| {
            let (cpu, rate) = (stat(w, Metric::Cpu), stat(w, Metric::Rate));
            Scaling {
                workers: w,
                cpu,
                rate,
                efficiency: base_cpu.zip(cpu).map(|(b, c)| b.median / c.median),
                speedup: rate.zip(base_rate).map(|(r, b)| r.median / b.median),
            }
        })
        .collect()
}

/// The (workload, case) pairs that ran in the workers sweep, as lookups at the baseline cost.
pub fn swept_cases<'a>(r: &'a Results) -> Vec<At<'a>> {
    let base_cost = r.settings.syscall_costs.first().map_or("none", |s| s);
    let mut out: Vec<At> = Vec::new();
    for row in r
        .rows
        .iter()
        .filter(|row| row.workers != r.settings.workers[0])
    {
        if !out.iter().any(|a| a.case == row.case) {
            out.push(At {
                cost: base_cost,
                workers: r.settings.workers[0],
                ..At::of(row)
            });
        }
    }
    out
}

/// The servers of `rows` that ran at more than the baseline worker count in `case`.
pub fn swept_servers<'a>(r: &'a Results, case: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for row in r
        .rows
        .iter()
        .filter(|row: &&Row| row.case == case && row.workers != r.settings.workers[0])
    {
        if !out.contains(&row.server.as_str()) {
            out.push(&row.server);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::summary::groups;
    use crate::results::Row;

    /// The summary tests' row, under a syscall-cost level.
    fn row(server: &str, cost: &str, round: usize, cpu_us: u64) -> Row {
        let mut r = crate::results::summary::tests::row("c", server, round, cpu_us);
        r.syscall_cost = cost.into();
        r
    }

    #[test]
    fn the_crossing_is_found_between_the_levels_where_the_ratio_passes_one() {
        let mut rows = Vec::new();
        for round in 0..2 {
            let j = round as u64 * 10;
            rows.push(row("u", "none", round, 6000 + j));
            rows.push(row("e", "none", round, 5000 + j));
            rows.push(row("u", "seccomp", round, 6100 + j));
            rows.push(row("e", "seccomp", round, 6100 + j));
            rows.push(row("u", "x4", round, 6500 + j));
            rows.push(row("e", "x4", round, 9000 + j));
        }
        let g = groups(&rows);
        let at = At::of(&rows[0]);
        let levels = vec![
            ("none".to_string(), 100.0),
            ("seccomp".to_string(), 200.0),
            ("x4".to_string(), 1000.0),
        ];
        let cmp = Comparison {
            a: "u".into(),
            b: "e".into(),
            model_pair: true,
        };
        let line = crossing(&g, &at, &cmp, &levels).unwrap();
        // 1.20 at 100 ns (e cheaper, apart), 1.00 at 200 ns (noise), 0.72 at 1000 ns (u
        // cheaper, apart): they cross between none and x4.
        assert!(line.contains("1.20× at none (100 ns/syscall)"), "{line}");
        assert!(
            line.contains("1.00× at seccomp (200 ns/syscall, within noise)"),
            "{line}"
        );
        assert!(
            line.contains("The lines cross** between none and x4"),
            "{line}"
        );
        assert!(line.contains("from there on u costs less"), "{line}");
        // Without the last level: e cheaper where the rounds can tell, and no crossing.
        let line = crossing(&g, &at, &cmp, &levels[..2]).unwrap();
        assert!(
            line.ends_with(
                "no crossing over these levels: e costs less wherever the rounds tell them apart."
            ),
            "{line}"
        );
        let flat = Comparison {
            a: "e".into(),
            b: "u".into(),
            model_pair: true,
        };
        let only_two = &levels[..1];
        assert!(crossing(&g, &at, &flat, only_two).is_none());
    }
}
