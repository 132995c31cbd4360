//! User-space instructions per request, from `corio-bench instr` (callgrind; deterministic
//! where CPU time is noise), fed into a run's rows: `corio-bench report RESULTS --instr
//! INSTR.json` sets `instr_per_unit` on the echo rows of each (server, case) the instr run
//! counted, at the run's baseline syscall cost and worker count, and the reports chart it and
//! add it to the tables. The instr file is `corio-bench instr --json`'s array of rows; of each
//! row this reads `server`, `case` (the suite's case name, or the instr table's `c=N` or
//! `c=N, depth D`) and `per_request` (null: not counted).

use super::{Results, Row};
use serde::Deserialize;

/// One figure of an instr run.
#[derive(Debug, Clone, Deserialize)]
pub struct InstrFigure {
    pub server: String,
    pub case: String,
    pub per_request: Option<f64>,
}

/// The echo case an instr case names: (connections, requests in flight per connection).
fn shape(case: &str) -> Option<(usize, usize)> {
    let mut parts = case.split(',').map(str::trim);
    let conns = parts.next()?.strip_prefix("c=")?.parse().ok()?;
    let depth = match parts.next() {
        None => 1,
        Some(d) => d.strip_prefix("depth ")?.parse().ok()?,
    };
    parts.next().is_none().then_some((conns, depth))
}

fn matches(row: &Row, f: &InstrFigure) -> bool {
    if row.server != f.server {
        return false;
    }
    if row.case == f.case {
        return true;
    }
    row.workload == "echo"
        && row.pattern == "pingpong"
        && shape(&f.case) == Some((row.conns, row.depth))
}

/// Sets the figures on their rows; returns the figures that matched no row.
pub fn attach(r: &mut Results, figures: &[InstrFigure]) -> Vec<String> {
    let cost = r
        .settings
        .syscall_costs
        .first()
        .cloned()
        .unwrap_or_else(|| "none".into());
    let workers = r.settings.workers.first().copied().unwrap_or(1);
    let mut unmatched = Vec::new();
    for f in figures {
        let Some(v) = f.per_request.filter(|v| v.is_finite()) else {
            continue;
        };
        let mut hit = false;
        for row in r.rows.iter_mut() {
            if row.syscall_cost == cost && row.workers == workers && matches(row, f) {
                row.instr_per_unit = Some(v);
                hit = true;
            }
        }
        if !hit {
            unmatched.push(format!("{} {}", f.server, f.case));
        }
    }
    unmatched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::summary::tests::row;
    use crate::results::{Machine, Settings, SCHEMA};

    #[test]
    fn instr_figures_find_their_echo_rows() {
        assert_eq!(shape("c=50"), Some((50, 1)));
        assert_eq!(shape("c=50, depth 16"), Some((50, 16)));
        assert_eq!(shape("c=500, depth"), None);
        let mut rows = vec![row("pingpong c=50", "corio-uring", 0, 5000)];
        rows.push(row("pingpong c=50", "corio-uring", 1, 5000));
        rows.push(row("pingpong c=50", "tokio", 0, 5000));
        let mut r = Results {
            schema: SCHEMA,
            command: String::new(),
            commit: None,
            started_unix: 0,
            took_secs: 0.0,
            machine: Machine::default(),
            settings: Settings {
                syscall_costs: vec!["none".into()],
                workers: vec![1],
                ..Settings::default()
            },
            workloads: Vec::new(),
            syscall_costs: Vec::new(),
            skipped: Vec::new(),
            rows,
        };
        let json = r#"[
            {"server":"corio-uring","case":"c=50","instructions":1000,"per_request":2311.0},
            {"server":"tokio","case":"c=500","per_request":1600.0},
            {"server":"monoio","case":"c=50","per_request":null}
        ]"#;
        let figures: Vec<InstrFigure> = serde_json::from_str(json).unwrap();
        assert_eq!(attach(&mut r, &figures), ["tokio c=500"]);
        assert_eq!(r.rows[0].instr_per_unit, Some(2311.0));
        assert_eq!(r.rows[1].instr_per_unit, Some(2311.0));
        assert_eq!(r.rows[2].instr_per_unit, None);
    }
}
