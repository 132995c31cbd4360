//! Workloads: what the suite measures. `REGISTRY` is the table of them; the suite, `--cases`
//! and the report read it and nothing else. A workload names its cases, says which servers it
//! can drive, and runs one case against one server, returning a [`Row`] (a failed run is a row
//! with its error, never a panic or a hang).
//!
//! Adding a workload is one file here that defines a `Workload` (its cases, `supports`, `run`),
//! its `mod` line, and one line in `REGISTRY`. Case names must be unique across workloads;
//! `--cases` picks them by name, by prefix, or by workload name.

mod echo;

use crate::row::Row;
use crate::servers::ServerSpec;
use std::fmt;

/// Every workload, in the order the suite runs them.
pub static REGISTRY: &[&Workload] = &[&echo::ECHO];

pub struct Workload {
    /// The name `--cases` accepts for all of its cases.
    pub name: &'static str,
    /// What one unit of work is ("request"): CPU and syscalls are reported per unit.
    pub unit: &'static str,
    pub cases: fn() -> Vec<Case>,
    /// Whether it can drive this server; the suite skips the others for its cases.
    pub supports: fn(&ServerSpec) -> bool,
    /// Runs one case against one server; bounded in time.
    pub run: fn(&Case, &'static ServerSpec, &RunEnv) -> Row,
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One case of a workload. The numbers mean what the workload says they mean; for echo:
/// connections, bytes per request, requests in flight per connection, and the open-loop rate.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub workload: &'static Workload,
    /// The workload's word for how the load behaves (echo: pingpong, churn, bulk, rate).
    pub pattern: &'static str,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    /// Requests per second in total, for open-loop cases.
    pub rate: Option<f64>,
}

/// What every run gets from the suite.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Measured seconds.
    pub secs: f64,
    /// Unmeasured seconds before them, connections already open.
    pub warmup: f64,
    /// The core the server is pinned to (the suite's own thread is on another one).
    pub server_core: Option<usize>,
    /// The driver of corio's load generator.
    pub load_driver: corio::DriverChoice,
}

/// Every case of every workload, in suite order.
pub fn all_cases() -> Vec<Case> {
    REGISTRY.iter().flat_map(|w| (w.cases)()).collect()
}

/// Whether a `--cases` word picks anything: a workload's name, a case's name, or the start of
/// one.
pub fn known_word(word: &str) -> bool {
    all_cases().iter().any(|c| picks(c, word, &all_cases()))
}

/// The word picks the case of that exact name, else every case of the workload of that name,
/// else every case whose name it begins.
fn picks(c: &Case, word: &str, all: &[Case]) -> bool {
    if all.iter().any(|c| c.name == word) {
        c.name == word
    } else if REGISTRY.iter().any(|w| w.name == word) {
        c.workload.name == word
    } else {
        c.name.starts_with(word)
    }
}

/// The cases any of `words` picks, in suite order; all of them for no words.
pub fn select(words: &[String]) -> Vec<Case> {
    let all = all_cases();
    if words.is_empty() {
        return all;
    }
    all.iter()
        .filter(|c| words.iter().any(|w| picks(c, w, &all)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(words: &[&str]) -> Vec<String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        select(&words).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn words_pick_by_name_prefix_or_workload() {
        assert_eq!(
            names(&["pingpong c=50", "churn"]),
            ["pingpong c=50", "churn c=8"]
        );
        assert_eq!(names(&["pingpong", "pipe"]).len(), 4);
        assert_eq!(names(&["echo"]).len(), all_cases().len());
        assert!(names(&["nothing"]).is_empty());
        assert!(known_word("bulk") && known_word("echo") && !known_word("nothing"));
        let mut seen: Vec<String> = all_cases().into_iter().map(|c| c.name).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "case names are unique");
    }
}
