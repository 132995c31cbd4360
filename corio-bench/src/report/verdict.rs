//! The report's last section: per case, which model cost less server CPU per unit of work, by
//! what ratio, and one line on why from the syscall counters. The ratios pair each completion
//! server with the readiness server that differs from it only in the model: corio on its two
//! drivers, and the two bare loops. Where neither pair ran, the cheapest server of each model
//! stands in. Then the ratios the workload also asks for (`Workload::also`, e.g. corio-uring
//! over tokio) and its one line from the model (`Workload::model_note`).

use super::table::{cases, find};
use crate::row::Row;
use crate::servers::Model;
use std::fmt::Write as _;

/// (completion, readiness) servers compared like for like.
const PAIRS: [(&str, &str); 2] = [("corio-uring", "corio-epoll"), ("raw-uring", "raw-epoll")];

/// Ratios within this of 1 are one run's noise on a shared machine (docs/benchmarks.md).
const NOISE: f64 = 0.10;

/// More run-queue wait than this share of the window, at the load generator or the server,
/// means something else took a core: the row is noise (docs/benchmarks.md).
const DISTURBED: f64 = 0.05;

/// Whether another process took a core from `r`'s server or load generator for long.
fn disturbed(r: &Row) -> bool {
    let Some(l) = r.load.as_ref() else {
        return false;
    };
    let window_us = l.secs.max(1e-9) * 1e6;
    // A server whose own threads share its core (a blocking pool) waits for itself.
    let server = r.server_window.and_then(|s| s.run_wait_us);
    let server = server.filter(|_| !r.case.workload.threads_share_core);
    let waits = [l.load_wait_us, server];
    waits
        .iter()
        .flatten()
        .any(|&us| us as f64 / window_us > DISTURBED)
}

/// What the ratios of a case say.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Winner {
    Completion,
    Readiness,
    /// Within the noise.
    Even,
    /// One pair says completion, another readiness, each beyond the noise.
    Mixed,
}

fn decide(ratios: &[f64]) -> Winner {
    let (low, high) = (1.0 - NOISE, 1.0 + NOISE);
    if ratios.iter().any(|&r| r < low) && ratios.iter().any(|&r| r > high) {
        return Winner::Mixed;
    }
    let mean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    if mean < low {
        Winner::Completion
    } else if mean > high {
        Winner::Readiness
    } else {
        Winner::Even
    }
}

/// A completion row, a readiness row, and the first's CPU per request over the second's.
struct Pair<'a> {
    completion: &'a Row,
    readiness: &'a Row,
    ratio: f64,
}

fn pair<'a>(completion: &'a Row, readiness: &'a Row) -> Option<Pair<'a>> {
    let ratio = completion.cpu_us_per_unit()? / readiness.cpu_us_per_unit()?;
    ratio.is_finite().then_some(Pair {
        completion,
        readiness,
        ratio,
    })
}

fn cheapest<'a>(rows: &'a [Row], case: &str, model: Model) -> Option<&'a Row> {
    rows.iter()
        .filter(|r| r.case.name == case && r.server.model == model)
        .filter(|r| r.cpu_us_per_unit().is_some())
        .min_by(|a, b| {
            a.cpu_us_per_unit()
                .partial_cmp(&b.cpu_us_per_unit())
                .unwrap()
        })
}

pub fn verdict(rows: &[Row]) -> String {
    let mut out = String::from(
        "\n## Verdict\n\nServer CPU per unit of work, completion over readiness: below 1, completion \
         cost less. Within ±10 % of 1, one run cannot tell them apart (rerun the case with \
         `--cases NAME --secs 5`).\n\n",
    );
    for case in cases(rows) {
        let _ = writeln!(
            out,
            "- **{case}**: {}{}",
            case_verdict(rows, case),
            extras(rows, case)
        );
    }
    out
}

/// The workload's further ratios and its line from the model, for `case`.
fn extras(rows: &[Row], case: &str) -> String {
    let Some(w) = rows
        .iter()
        .find(|r| r.case.name == case)
        .map(|r| r.case.workload)
    else {
        return String::new();
    };
    let also: Vec<String> = w
        .also
        .iter()
        .filter_map(|&(a, b)| {
            let ratio =
                find(rows, case, a)?.cpu_us_per_unit()? / find(rows, case, b)?.cpu_us_per_unit()?;
            ratio.is_finite().then(|| {
                let more = 1.0 / ratio;
                format!(
                    "{a}/{b} {ratio:.2}× ({more:.2}× the {} per CPU-second)",
                    w.unit.plural()
                )
            })
        })
        .collect();
    let mut out = String::new();
    if !also.is_empty() {
        let _ = write!(out, " Also: {}.", also.join(", "));
    }
    if let Some(note) = w.model_note {
        let _ = write!(out, " {note}");
    }
    out
}

fn case_verdict(rows: &[Row], case: &str) -> String {
    let mut pairs: Vec<Pair> = PAIRS
        .iter()
        .filter_map(|&(c, r)| pair(find(rows, case, c)?, find(rows, case, r)?))
        .collect();
    let like_for_like = !pairs.is_empty();
    if !like_for_like {
        let best = |m| cheapest(rows, case, m);
        match (best(Model::Completion), best(Model::Readiness)) {
            (Some(c), Some(r)) => pairs.extend(pair(c, r)),
            (None, Some(_)) => return "no comparison: no completion server measured.".into(),
            (Some(_), None) => return "no comparison: no readiness server measured.".into(),
            (None, None) => return "no comparison: no server measured.".into(),
        }
    }
    let Some(first) = pairs.first() else {
        return "no comparison: the CPU figures are not finite.".into();
    };
    let ratios: Vec<f64> = pairs.iter().map(|p| p.ratio).collect();
    let winner = decide(&ratios);
    let figures = pairs
        .iter()
        .map(|p| {
            let (c, r) = (p.completion.server.name, p.readiness.server.name);
            format!("{c}/{r} {:.2}×", p.ratio)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let said = match winner {
        Winner::Completion => "completion cost less",
        Winner::Readiness => "readiness cost less",
        Winner::Even => "no clear winner",
        Winner::Mixed => "mixed",
    };
    let cheapest = if like_for_like {
        ""
    } else {
        "cheapest of each model: "
    };
    let noisy = pairs
        .iter()
        .any(|p| disturbed(p.completion) || disturbed(p.readiness));
    let warning = if noisy {
        " Disturbed: run-queue wait above 5 % in these rows, so rerun before trusting it."
    } else {
        ""
    };
    format!(
        "{said} ({cheapest}{figures}). {}{warning}",
        reason(first, winner)
    )
}

/// One line from the syscall counters of the first pair.
fn reason(p: &Pair, winner: Winner) -> String {
    let (Some(c), Some(r)) = (
        p.completion.syscalls_per_unit(),
        p.readiness.syscalls_per_unit(),
    ) else {
        return "No syscall counts for these servers.".into();
    };
    let unit = p.completion.case.workload.unit.name();
    let counts = format!(
        "{} made {c:.3} io_uring_enter per {unit}, {} {r:.3} epoll_wait + I/O syscalls",
        p.completion.server.name, p.readiness.server.name
    );
    if c >= r || c <= 0.0 {
        return format!("{counts}: completion saved no syscalls here.");
    }
    let fewer = r / c;
    match winner {
        Winner::Completion => format!("{counts}: {fewer:.1}× fewer syscalls per {unit}."),
        Winner::Readiness => format!(
            "{counts}: {fewer:.1}× fewer syscalls did not make up for the rest of each \
             {unit}'s cost."
        ),
        Winner::Even => format!(
            "{counts}: {fewer:.1}× fewer syscalls, yet no clear difference in CPU (the syscalls \
             saved are a small part of each {unit}'s cost)."
        ),
        Winner::Mixed => format!(
            "{counts}: {fewer:.1}× fewer syscalls; the two pairs disagree, so this run cannot \
             say whether they paid."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadResult;
    use crate::snap::ServerSnap;
    use crate::workloads::all_cases;

    /// A row of `server` in case `case` that spent `cpu_us` and `syscalls` over 1000 requests.
    fn row(case: usize, server: &str, cpu_us: u64, syscalls: u64) -> Row {
        let spec = crate::servers::find(server).unwrap();
        let mut r = Row::new(&all_cases()[case], spec);
        r.load = Some(LoadResult {
            requests: 1000,
            secs: 1.0,
            ..LoadResult::default()
        });
        r.server_window = Some(ServerSnap {
            cpu_us,
            enters: Some(syscalls),
            epoll_waits: Some(syscalls / 2),
            io_syscalls: Some(syscalls - syscalls / 2),
            ..ServerSnap::default()
        });
        r
    }

    #[test]
    fn the_pairs_decide_and_the_counters_explain() {
        let rows = vec![
            row(0, "corio-uring", 8000, 2000),
            row(0, "corio-epoll", 10000, 3000),
            row(0, "raw-uring", 7000, 2000),
            row(0, "raw-epoll", 10000, 3000),
            row(1, "corio-uring", 5000, 250),
            row(1, "corio-epoll", 5100, 2250),
            row(2, "corio-uring", 6000, 125),
            row(2, "corio-epoll", 4000, 2000),
            row(2, "raw-uring", 3000, 125),
            row(2, "raw-epoll", 4000, 2000),
        ];
        let v = verdict(&rows);
        let lines: Vec<&str> = v.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(lines.len(), 3, "{v}");
        assert!(lines[0].contains("completion cost less"), "{}", lines[0]);
        assert!(
            lines[0].contains("corio-uring/corio-epoll 0.80×"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("raw-uring/raw-epoll 0.70×"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("2.000 io_uring_enter") && lines[0].contains("1.5× fewer"));
        assert!(lines[1].contains("no clear winner (corio-uring/corio-epoll 0.98×)"));
        assert!(lines[1].contains("9.0× fewer syscalls, yet no clear difference"));
        assert!(
            lines[2].starts_with("- **pingpong c=500**: mixed"),
            "{}",
            lines[2]
        );
    }

    /// `row`, in the case named `name`, with `wait_us` of server run-queue wait.
    fn row_in(name: &str, server: &str, cpu_us: u64, wait_us: u64) -> Row {
        let case = all_cases()
            .into_iter()
            .position(|c| c.name == name)
            .unwrap();
        let mut r = row(case, server, cpu_us, 10);
        r.server_window.as_mut().unwrap().run_wait_us = Some(wait_us);
        r
    }

    #[test]
    fn workloads_add_their_ratios_and_model_line() {
        let rows = vec![
            row_in("file-read qd=64", "corio-uring", 1500, 0),
            row_in("file-read qd=64", "corio-epoll", 1400, 0),
            row_in("file-read qd=64", "raw-uring", 1200, 0),
            // A blocking pool waits for its own core: not a disturbance here.
            row_in("file-read qd=64", "tokio", 15000, 900_000),
            row_in("pingpong c=50", "corio-uring", 5000, 0),
            row_in("pingpong c=50", "corio-uring-compat", 5250, 0),
            row_in("pingpong c=50", "corio-epoll", 5000, 0),
        ];
        let v = verdict(&rows);
        let file = v.lines().find(|l| l.contains("file-read qd=64")).unwrap();
        assert!(
            file.contains("Also: corio-uring/tokio 0.10× (10.00× the ops per CPU-second)"),
            "{file}"
        );
        assert!(
            file.contains("corio-uring/raw-uring 1.25× (0.80× the ops"),
            "{file}"
        );
        assert!(
            file.contains("Model: a readiness runtime cannot wait"),
            "{file}"
        );
        assert!(!file.contains("Disturbed"), "{file}");
        let echo = v.lines().find(|l| l.contains("pingpong c=50")).unwrap();
        assert!(
            echo.contains("Also: corio-uring-compat/corio-uring 1.05×"),
            "{echo}"
        );
        assert!(!echo.contains("Model:"), "{echo}");
        // The same wait on an echo server is a disturbance.
        let rows = vec![
            row_in("pingpong c=50", "corio-uring", 5000, 900_000),
            row_in("pingpong c=50", "corio-epoll", 5000, 0),
        ];
        assert!(verdict(&rows).contains("Disturbed"));
    }

    #[test]
    fn without_pairs_the_cheapest_of_each_model_stand_in() {
        let rows = vec![
            row(0, "tokio", 10000, 0),
            row(0, "monoio", 12500, 0),
            row(0, "compio", 13000, 0),
            row(1, "tokio", 5000, 0),
        ];
        let v = verdict(&rows);
        assert!(
            v.contains("readiness cost less (cheapest of each model: monoio/tokio 1.25×)"),
            "{v}"
        );
        assert!(v.contains("No syscall counts"), "{v}");
        assert!(
            v.contains("no comparison: no completion server measured"),
            "{v}"
        );
        assert_eq!(decide(&[0.95, 1.05]), Winner::Even);
        assert_eq!(decide(&[0.5, 1.5]), Winner::Mixed);
    }
}
