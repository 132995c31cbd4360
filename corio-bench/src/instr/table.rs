//! The markdown table `instr` prints: a row per server, a column per case, then each server's
//! ratio to tokio's count and to the bare loop of its model, and what failed.

use super::run::{InstrRow, Plan};
use std::fmt::Write as _;

/// A count as the table shows it: whole numbers with thousands separators from 100 up, one
/// decimal below.
pub fn figure(v: f64) -> String {
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cell<'a>(rows: &'a [InstrRow], server: &str, case: &str) -> Option<&'a InstrRow> {
    rows.iter().find(|r| r.server == server && r.case == case)
}

fn per_request(rows: &[InstrRow], server: &str, case: &str) -> Option<f64> {
    cell(rows, server, case)?.per_request
}

/// The ratio line of `server` over `base`, one figure per case ("—" where either is missing).
fn ratios(rows: &[InstrRow], plan: &Plan, server: &str, base: &str) -> Option<String> {
    let figures: Vec<String> = plan
        .cases
        .iter()
        .map(|c| {
            match (
                per_request(rows, server, c.name()),
                per_request(rows, base, c.name()),
            ) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                _ => "—".into(),
            }
        })
        .collect();
    figures
        .iter()
        .any(|f| f != "—")
        .then(|| format!("- {server} / {base}: {}", figures.join(" / ")))
}

pub fn render(rows: &[InstrRow], plan: &Plan) -> String {
    let mut t = String::new();
    let _ = write!(t, "| instructions / request |");
    for c in &plan.cases {
        let _ = write!(t, " {} |", c.name());
    }
    let _ = write!(t, "\n|---|");
    for _ in &plan.cases {
        t.push_str("---:|");
    }
    t.push('\n');
    for &server in &plan.servers {
        let _ = write!(t, "| {server} |");
        for c in &plan.cases {
            let text = match cell(rows, server, c.name()) {
                Some(InstrRow {
                    per_request: Some(v),
                    load_errors,
                    ..
                }) => {
                    // A lost connection leaves the rate, and so the figure, in doubt.
                    let mark = if load_errors.unwrap_or(0) > 0 {
                        " (!)"
                    } else {
                        ""
                    };
                    format!("{}{mark}", figure(*v))
                }
                _ => "—".into(),
            };
            let _ = write!(t, " {text} |");
        }
        t.push('\n');
    }
    t.push('\n');
    let order_cases: Vec<&str> = plan.cases.iter().map(|c| c.name()).collect();
    let _ = writeln!(t, "Ratios ({}):", order_cases.join(" / "));
    for &server in &plan.servers {
        for base in ["tokio", floor_of(server)] {
            if server == base || base.is_empty() {
                continue;
            }
            if let Some(line) = ratios(rows, plan, server, base) {
                let _ = writeln!(t, "{line}");
            }
        }
    }
    let failed: Vec<&InstrRow> = rows.iter().filter(|r| r.per_request.is_none()).collect();
    if !failed.is_empty() {
        t.push('\n');
        for r in failed {
            let why = r.error.as_deref().unwrap_or("no figure");
            let _ = writeln!(t, "- {} {}: {why}", r.server, r.case);
        }
    }
    if rows.iter().any(|r| r.load_errors.unwrap_or(0) > 0) {
        let _ = writeln!(
            t,
            "\n(!) the load lost connections in that run: its rate, and so the figure, is in doubt"
        );
    }
    for note in &plan.notes {
        let _ = writeln!(t, "\nNote: {note}");
    }
    t
}

/// The bare loop of a corio server's model ("" for the others).
fn floor_of(server: &str) -> &'static str {
    match server {
        "corio-uring" | "corio-uring-compat" => "raw-uring",
        "corio-epoll" => "raw-epoll",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::figure;

    #[test]
    fn figures_read_like_the_issue() {
        assert_eq!(figure(2311.4), "2,311");
        assert_eq!(figure(145.0), "145");
        assert_eq!(figure(12.84), "12.8");
        assert_eq!(figure(1_234_567.0), "1,234,567");
    }

    /// `instr --json`'s rows are what `report --instr` reads: the same server names and cases,
    /// and the figure (or null) under `per_request`.
    #[test]
    fn json_rows_are_what_report_reads() {
        use crate::instr::run::InstrRow;
        use crate::instr::Case;
        use crate::results::instr::InstrFigure;
        let row = |case: Case, per_request| InstrRow {
            server: "corio-uring".into(),
            case: case.name().into(),
            instructions: Some(1_000_000),
            requests: Some(1000),
            per_request,
            span_secs: Some(3.0),
            load_errors: Some(0),
            error: None,
        };
        let rows = [row(Case::C50, Some(1000.0)), row(Case::D16, None)];
        let json = serde_json::to_string(&rows).unwrap();
        let read: Vec<InstrFigure> = serde_json::from_str(&json).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[0].server.as_str(), read[0].case.as_str()),
            ("corio-uring", "c=50")
        );
        assert_eq!(read[0].per_request, Some(1000.0));
        assert_eq!(read[1].case, "c=50, depth 16");
        assert_eq!(read[1].per_request, None);
    }
}
