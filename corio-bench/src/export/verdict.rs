//! Verdicts: one line per comparison, the same under a chart in report.html and under a table
//! in report.md. A verdict is given only where the rounds' ranges of the two servers do not
//! overlap; where they do, the line says "within noise" and gives the ratio of the medians for
//! what it is worth. One round gives no range, and so no verdict. A row whose server or load
//! generator waited on a run queue for more than 5 % of the window (another process took the
//! core) is flagged.

use crate::results::summary::{At, Group, Metric, Stat};
use crate::results::{Comparison, Results, Unit, WorkloadInfo};

/// More run-queue wait than this share of the window, at the load generator or the server,
/// means something else took a core.
const DISTURBED: f64 = 0.05;

/// What the rounds say of a against b.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Call {
    /// a's range lies wholly below b's.
    Lower,
    /// a's range lies wholly above b's.
    Higher,
    /// The ranges overlap.
    Noise,
    /// Fewer than two rounds: no range to judge by.
    OneRound,
}

pub fn call(a: &Stat, b: &Stat) -> Call {
    if a.n < 2 || b.n < 2 {
        Call::OneRound
    } else if a.max < b.min {
        Call::Lower
    } else if b.max < a.min {
        Call::Higher
    } else {
        Call::Noise
    }
}

/// Whether another process took a core from any round of `g` (its server's own threads aside,
/// where the workload's threads share their core by design).
pub fn disturbed(g: &Group, w: Option<&WorkloadInfo>) -> bool {
    let own = w.is_some_and(|w| w.threads_share_core);
    g.rows.iter().any(|r| {
        let Some(l) = r.load.as_ref() else {
            return false;
        };
        let window_us = l.secs.max(1e-9) * 1e6;
        let server = r.window.and_then(|s| s.run_wait_us).filter(|_| !own);
        [l.load_wait_us, server]
            .iter()
            .flatten()
            .any(|&us| us as f64 / window_us > DISTURBED)
    })
}

fn range(s: &Stat, digits: usize) -> String {
    format!("{:.digits$}–{:.digits$}", s.min, s.max)
}

/// Digits that show a figure of this size.
pub fn digits(v: f64) -> usize {
    match v.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        v if v >= 1.0 => 2,
        _ => 3,
    }
}

/// One comparison's line for `metric`, or None where either side has no figure.
pub fn line(
    groups: &[Group],
    at: &At,
    cmp: &Comparison,
    metric: Metric,
    unit: Unit,
    w: Option<&WorkloadInfo>,
) -> Option<String> {
    let (ga, gb) = (at.find(groups, &cmp.a)?, at.find(groups, &cmp.b)?);
    let (a, b) = (ga.stat(metric)?, gb.stat(metric)?);
    if b.median <= 0.0 {
        return None;
    }
    let ratio = a.median / b.median;
    let d = digits(a.median.max(b.median));
    let ranges = format!(
        "rounds: {} {}, {} {}",
        cmp.a,
        range(&a, d),
        cmp.b,
        range(&b, d)
    );
    let words = metric.words(unit);
    let (less, more) = if metric.lower_is_better() {
        ("less", "more")
    } else {
        ("fewer", "more")
    };
    let said = match call(&a, &b) {
        Call::Lower => format!(
            "**{} {less}**: {} {words} {ratio:.2}× {}'s ({ranges})",
            cmp.a, cmp.a, cmp.b
        ),
        Call::Higher => format!(
            "**{} {more}**: {} {words} {ratio:.2}× {}'s ({ranges})",
            cmp.a, cmp.a, cmp.b
        ),
        Call::Noise => format!(
            "{} vs {}: within noise ({words} {ratio:.2}× by the medians; the {ranges} overlap)",
            cmp.a, cmp.b
        ),
        Call::OneRound => format!(
            "{} vs {}: one round, no verdict ({words} {ratio:.2}×; run with --rounds 3)",
            cmp.a, cmp.b
        ),
    };
    let mut out = said;
    if metric == Metric::Cpu && cmp.model_pair {
        if let (Some(sa), Some(sb)) = (ga.stat(Metric::Syscalls), gb.stat(Metric::Syscalls)) {
            out.push_str(&format!(
                "; syscalls per {}: {} {:.3}, {} {:.3}",
                unit.name(),
                cmp.a,
                sa.median,
                cmp.b,
                sb.median
            ));
        }
    }
    if disturbed(ga, w) || disturbed(gb, w) {
        out.push_str(" — disturbed: another process took a core in some round; rerun it");
    }
    Some(out)
}

/// Every comparison of the case at `at` for `metric`, as lines.
pub fn lines(r: &Results, groups: &[Group], at: &At, metric: Metric, unit: Unit) -> Vec<String> {
    let w = r.workload(at.workload);
    let Some(info) = w else {
        return Vec::new();
    };
    info.comparisons
        .iter()
        .filter_map(|c| line(groups, at, c, metric, unit, w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::summary::groups;
    use crate::results::Row;

    /// The summary tests' row, with a run-queue wait and 100 syscalls.
    fn row(server: &str, round: usize, cpu_us: u64, wait_us: u64) -> Row {
        let mut r = crate::results::summary::tests::row("c", server, round, cpu_us);
        let w = r.window.as_mut().unwrap();
        (w.run_wait_us, w.syscalls) = (Some(wait_us), Some(100));
        r
    }

    fn verdict(rows: &[Row], a: &str, b: &str) -> String {
        let g = groups(rows);
        let at = At::of(&rows[0]);
        let cmp = Comparison {
            a: a.into(),
            b: b.into(),
            model_pair: true,
        };
        line(&g, &at, &cmp, Metric::Cpu, Unit::Request, None).unwrap()
    }

    #[test]
    fn a_verdict_only_where_the_ranges_are_apart() {
        let apart = [
            row("a", 0, 5000, 0),
            row("b", 0, 7000, 0),
            row("a", 1, 5500, 0),
            row("b", 1, 8000, 0),
        ];
        let v = verdict(&apart, "a", "b");
        assert!(
            v.starts_with("**a less**: a CPU per request 0.70× b's"),
            "{v}"
        );
        assert!(v.contains("rounds: a 5.00–5.50, b 7.00–8.00"), "{v}");
        assert!(v.contains("syscalls per request: a 0.100, b 0.100"), "{v}");
        let v = verdict(&apart, "b", "a");
        assert!(v.starts_with("**b more**"), "{v}");
        // Overlapping ranges: no verdict, whatever the medians say.
        let overlap = [
            row("a", 0, 5000, 0),
            row("b", 0, 5200, 0),
            row("a", 1, 6000, 0),
            row("b", 1, 7000, 0),
        ];
        let v = verdict(&overlap, "a", "b");
        assert!(v.starts_with("a vs b: within noise"), "{v}");
        // One round: no range, no verdict.
        let one = [row("a", 0, 1000, 0), row("b", 0, 9000, 0)];
        assert!(verdict(&one, "a", "b").contains("one round, no verdict"));
        // A round that waited 10 % of its window on a run queue is flagged.
        let busy = [
            row("a", 0, 5000, 100_000),
            row("b", 0, 7000, 0),
            row("a", 1, 5500, 0),
            row("b", 1, 8000, 0),
        ];
        assert!(verdict(&busy, "a", "b").contains("disturbed"));
    }
}
