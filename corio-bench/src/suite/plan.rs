//! What a suite run will do: every (case, round, syscall-cost level, worker count, server) it
//! runs, in order. Within a case, rounds are interleaved: each round runs every server once,
//! the order rotated by one each round, so a slow minute on a shared machine lands on
//! different servers in different rounds. Cases run one after another, so that the rounds of
//! one case lie close together in time.

use crate::seccomp::Level;
use crate::workloads::{Case, Subject};

/// One run of the plan.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub case: &'a Case,
    pub subject: Subject,
    pub round: usize,
    pub level: Level,
    pub workers: usize,
}

/// The dimensions a run sweeps, the first value of each being the baseline.
pub struct Dims<'a> {
    pub rounds: usize,
    pub levels: &'a [Level],
    pub workers: &'a [usize],
}

/// The (level, workers) pairs a case runs: every level at the baseline worker count, and for a
/// case of the workers sweep, every other worker count at the baseline level.
fn points(case: &Case, d: &Dims) -> Vec<(Level, usize)> {
    let base = d.workers[0];
    let mut out: Vec<(Level, usize)> = d.levels.iter().map(|&l| (l, base)).collect();
    if case.scales {
        out.extend(d.workers[1..].iter().map(|&w| (d.levels[0], w)));
    }
    out
}

/// Whether the workers sweep runs at all.
fn sweeping(d: &Dims) -> bool {
    d.workers.len() > 1
}

/// The servers of `case` that run at `workers`: the case's own at the baseline (with the
/// sweep-only ones too where the sweep runs, for their baseline point), the scaling ones
/// elsewhere.
fn runs_at(case: &Case, s: &Subject, workers: usize, d: &Dims) -> bool {
    let sweep = sweeping(d) && case.scales;
    if workers == d.workers[0] {
        !s.sweep_only || (sweep && s.scales)
    } else {
        s.scales
    }
}

/// The plan: `subjects(case)` are the servers that may run the case here.
pub fn plan<'a>(
    cases: &'a [Case],
    mut subjects: impl FnMut(&Case) -> Vec<Subject>,
    d: &Dims,
) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    for case in cases {
        let all = subjects(case);
        for round in 0..d.rounds {
            for (level, workers) in points(case, d) {
                let mut order: Vec<Subject> = all
                    .iter()
                    .copied()
                    .filter(|s| runs_at(case, s, workers, d))
                    .collect();
                if !order.is_empty() {
                    let n = order.len();
                    order.rotate_left(round % n);
                }
                steps.extend(order.into_iter().map(|subject| Step {
                    case,
                    subject,
                    round,
                    level,
                    workers,
                }));
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{select, CaseParams};

    #[test]
    fn rounds_rotate_and_the_sweeps_add_their_points() {
        let p = CaseParams { idle_pairs: 1 };
        let cases = select(&["pingpong c=50".into(), "churn".into()], &p);
        let subjects = |c: &Case| (c.workload.subjects)();
        let none = [Level::None];
        let d = Dims {
            rounds: 2,
            levels: &none,
            workers: &[1],
        };
        let steps = plan(&cases, subjects, &d);
        let names = |steps: &[Step], case: &str, round| -> Vec<&str> {
            steps
                .iter()
                .filter(|s| s.case.name == case && s.round == round)
                .map(|s| s.subject.name)
                .collect()
        };
        let r0 = names(&steps, "churn c=8", 0);
        let r1 = names(&steps, "churn c=8", 1);
        assert!(
            !r0.contains(&"tokio-mt"),
            "sweep-only servers stay out: {r0:?}"
        );
        assert_eq!(r0.len(), r1.len());
        assert_eq!(r0[1], r1[0], "the order rotates by one");
        // Levels multiply every case; workers add the scaling servers to scaling cases only.
        let levels = [Level::None, Level::Seccomp];
        let d = Dims {
            rounds: 1,
            levels: &levels,
            workers: &[1, 2],
        };
        let steps = plan(&cases, subjects, &d);
        let at = |case: &str, l: Level, w: usize| {
            steps
                .iter()
                .filter(|s| s.case.name == case && s.level == l && s.workers == w)
                .map(|s| s.subject.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(at("churn c=8", Level::Seccomp, 1), r0);
        assert!(at("churn c=8", Level::None, 2).is_empty());
        let two = at("pingpong c=50", Level::None, 2);
        assert!(
            two.contains(&"tokio-mt") && two.contains(&"corio-uring"),
            "{two:?}"
        );
        assert!(!two.contains(&"raw-uring"), "{two:?}");
        assert!(at("pingpong c=50", Level::None, 1).contains(&"tokio-mt"));
        assert!(at("pingpong c=50", Level::Seccomp, 2).is_empty());
    }
}
