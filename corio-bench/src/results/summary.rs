//! From rows to what a report shows: the rows of one (case, server, syscall cost, workers)
//! grouped over their rounds, each figure's median and range over the rounds, and ratios taken
//! within a round. Medians and ranges, not means: one disturbed round on a shared machine
//! moves a mean, not a median, and it shows as a wide range.

use super::row::{Row, Unit};

/// A figure a report charts or compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Server CPU per unit of work, µs.
    Cpu,
    /// Driver syscalls per unit.
    Syscalls,
    P50,
    P99,
    /// User-space instructions per unit (callgrind).
    Instr,
    /// Resident memory per idle pair, KiB.
    KibPerPair,
    /// Units of work per second.
    Rate,
}

impl Metric {
    /// The figure of a row; None where it was not measured, and for a row that failed (its
    /// figures describe the failure, not the server).
    pub fn of(self, r: &Row) -> Option<f64> {
        if r.error.is_some() {
            return None;
        }
        let v = match self {
            Metric::Cpu => r.cpu_per_unit(),
            Metric::Syscalls => r.syscalls_per_unit(),
            // No request answered: the quantiles of nothing.
            Metric::P50 => r.load.as_ref().filter(|l| l.requests > 0)?.p50_us,
            Metric::P99 => r.load.as_ref().filter(|l| l.requests > 0)?.p99_us,
            Metric::Instr => r.instr_per_unit,
            Metric::KibPerPair => r.memory?.kib_per_pair(),
            Metric::Rate => {
                let l = r.load.as_ref()?;
                Some(r.unit.count(l) / l.secs.max(1e-9))
            }
        };
        v.filter(|v| v.is_finite())
    }

    /// The chart's title for a case counted in `unit`.
    pub fn title(self, unit: Unit) -> String {
        match self {
            Metric::Cpu => format!("server CPU µs per {}", unit.name()),
            Metric::Syscalls => format!(
                "syscalls per {} (io_uring_enter, or epoll_wait + I/O syscalls)",
                unit.name()
            ),
            Metric::P50 => "p50 latency, µs".into(),
            Metric::P99 => "p99 latency, µs".into(),
            Metric::Instr => format!("user-space instructions per {}", unit.name()),
            Metric::KibPerPair => "resident memory per idle pair, KiB".into(),
            Metric::Rate => format!("{} per second", unit.plural()),
        }
    }

    /// A few words for a verdict line ("CPU per request").
    pub fn words(self, unit: Unit) -> String {
        match self {
            Metric::Cpu => format!("CPU per {}", unit.name()),
            Metric::Syscalls => format!("syscalls per {}", unit.name()),
            Metric::P50 => "p50".into(),
            Metric::P99 => "p99".into(),
            Metric::Instr => format!("instructions per {}", unit.name()),
            Metric::KibPerPair => "memory per pair".into(),
            Metric::Rate => format!("{} per second", unit.plural()),
        }
    }

    /// Whether less is better (all but the rate).
    pub fn lower_is_better(self) -> bool {
        self != Metric::Rate
    }
}

/// A figure over the rounds: median, lowest, highest, and how many rounds had it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    /// None where no value is finite.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// The rows of one (workload, case, server, syscall cost, workers), one per round.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub rows: Vec<&'a Row>,
}

impl<'a> Group<'a> {
    pub fn first(&self) -> &'a Row {
        self.rows[0]
    }

    pub fn stat(&self, m: Metric) -> Option<Stat> {
        Stat::of(self.rows.iter().filter_map(|r| m.of(r)))
    }

    /// Rows of this group that failed (an error, or load errors).
    pub fn failed(&self) -> impl Iterator<Item = &'a Row> + '_ {
        self.rows
            .iter()
            .copied()
            .filter(|r| r.error.is_some() || r.failures() > 0)
    }

    fn same(&self, r: &Row) -> bool {
        let f = self.first();
        f.workload == r.workload
            && f.case == r.case
            && f.server == r.server
            && f.syscall_cost == r.syscall_cost
            && f.workers == r.workers
    }
}

/// The rows grouped over rounds, in the order each group first appears.
pub fn groups(rows: &[Row]) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|g| g.same(r)) {
            Some(g) => g.rows.push(r),
            None => out.push(Group { rows: vec![r] }),
        }
    }
    out
}

/// Where to look a group up: a case under one syscall cost and worker count.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub workload: &'a str,
    pub case: &'a str,
    pub cost: &'a str,
    pub workers: usize,
}

impl<'a> At<'a> {
    pub fn of(r: &'a Row) -> At<'a> {
        At {
            workload: &r.workload,
            case: &r.case,
            cost: &r.syscall_cost,
            workers: r.workers,
        }
    }

    pub fn find<'g>(&self, groups: &'g [Group<'a>], server: &str) -> Option<&'g Group<'a>> {
        groups.iter().find(|g| {
            let f = g.first();
            f.workload == self.workload
                && f.case == self.case
                && f.syscall_cost == self.cost
                && f.workers == self.workers
                && f.server == server
        })
    }
}

/// a's metric over b's, round by round (rounds where both have it), as a Stat.
pub fn ratio(a: &Group, b: &Group, m: Metric) -> Option<Stat> {
    Stat::of(a.rows.iter().filter_map(|ra| {
        let rb = b.rows.iter().find(|rb| rb.round == ra.round)?;
        let (x, y) = (m.of(ra)?, m.of(rb)?);
        (y > 0.0).then_some(x / y)
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::{LoadFigures, Model, ServerFigures};

    pub(crate) fn row(case: &str, server: &str, round: usize, cpu_us: u64) -> Row {
        Row {
            workload: "echo".into(),
            case: case.into(),
            unit: Unit::Request,
            pattern: "pingpong".into(),
            conns: 50,
            size: 64,
            depth: 1,
            rate: None,
            server: server.into(),
            model: Model::Completion,
            syscall_cost: "none".into(),
            workers: 1,
            round,
            load: Some(LoadFigures {
                requests: 1000,
                secs: 1.0,
                ..LoadFigures::default()
            }),
            window: Some(ServerFigures {
                cpu_us,
                ..ServerFigures::default()
            }),
            memory: None,
            instr_per_unit: None,
            error: None,
            cpu_us_per_unit: None,
            syscalls_per_unit: None,
        }
    }

    #[test]
    fn groups_take_medians_ranges_and_per_round_ratios() {
        let rows = vec![
            row("c", "a", 0, 1000),
            row("c", "b", 0, 2000),
            row("c", "a", 1, 3000),
            row("c", "b", 1, 3000),
            row("c", "a", 2, 2000),
        ];
        let g = groups(&rows);
        assert_eq!(g.len(), 2);
        let s = g[0].stat(Metric::Cpu).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        // Per-round ratios 0.5 and 1.0 (round 2 has no b): median 0.75.
        let r = ratio(&g[0], &g[1], Metric::Cpu).unwrap();
        assert_eq!((r.median, r.n), (0.75, 2));
        let at = At::of(&rows[0]);
        assert!(at.find(&g, "b").is_some() && at.find(&g, "z").is_none());
        assert_eq!(Stat::of([f64::NAN]), None);
        // A failed row gives no figure.
        let mut failed = row("c", "a", 3, 1);
        failed.error = Some("refused".into());
        assert_eq!(Metric::Cpu.of(&failed), None);
    }
}
