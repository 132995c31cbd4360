//! Workloads: what the suite measures. `REGISTRY` is the table of them; the suite, `--cases`
//! and the report read it and nothing else. A workload names its cases, says which servers it
//! can drive, and runs one case against one server, returning a [`Row`] (a failed run is a row
//! with its error, never a panic or a hang).
//!
//! Adding a workload is one file here that defines a `Workload` (its cases, `supports`, `run`,
//! and what the verdict should add), its `mod` line, and one line in `REGISTRY`. Case names
//! must be unique across workloads; `--cases` picks them by name, by prefix, or by workload
//! name.

mod echo;
mod file_read;
mod file_serve;
mod fixture;
mod http;

use crate::load::LoadResult;
use crate::row::Row;
use crate::servers::ServerSpec;
use std::fmt;

/// Every workload, in the order the suite runs them.
pub static REGISTRY: &[&Workload] = &[
    &echo::ECHO,
    &file_read::FILE_READ,
    &file_serve::FILE_SERVE,
    &http::HTTP,
];

pub struct Workload {
    /// The name `--cases` accepts for all of its cases.
    pub name: &'static str,
    /// What one unit of work is: CPU and syscalls are reported per unit.
    pub unit: Unit,
    pub cases: fn() -> Vec<Case>,
    /// Whether it can drive this server; the suite skips the others for its cases.
    pub supports: fn(&ServerSpec) -> bool,
    /// Runs one case against one server; bounded in time.
    pub run: fn(&Case, &'static ServerSpec, &RunEnv) -> Row,
    /// Err(why) where it cannot run on this machine (a program it drives is missing): the
    /// suite then skips its cases, saying why. Asked once per suite.
    pub available: fn() -> Result<(), String>,
    /// Called once after the suite's last run: removes what its runs created.
    pub finish: fn(),
    /// Server pairs (a, b) whose CPU-per-unit ratio a/b the verdict also gives, beyond the
    /// like-for-like model pairs (e.g. corio-uring over tokio).
    pub also: &'static [(&'static str, &'static str)],
    /// One line on why the models differ here, from the model itself (where the syscall
    /// counters cannot tell, e.g. a thread hop per operation).
    pub model_note: Option<&'static str>,
    /// The servers' own threads share their core by design (a blocking pool): a server's
    /// run-queue wait is then its own, not a sign that something else took the core.
    pub threads_share_core: bool,
}

/// What one unit of work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Request,
    /// One file read.
    Op,
    /// One megabyte (10^6 bytes) served.
    Megabyte,
}

impl Unit {
    /// The word in the report ("CPU µs per request").
    pub fn name(self) -> &'static str {
        match self {
            Unit::Request => "request",
            Unit::Op => "op",
            Unit::Megabyte => "MB",
        }
    }

    /// The plural ("requests per CPU-second").
    pub fn plural(self) -> &'static str {
        match self {
            Unit::Request => "requests",
            Unit::Op => "ops",
            Unit::Megabyte => "MB",
        }
    }

    /// The short form in column headers ("µs/req").
    pub fn short(self) -> &'static str {
        match self {
            Unit::Request => "req",
            Unit::Op => "op",
            Unit::Megabyte => "MB",
        }
    }

    /// How many units a run did.
    pub fn count(self, l: &LoadResult) -> f64 {
        match self {
            Unit::Request | Unit::Op => l.requests as f64,
            Unit::Megabyte => l.bytes as f64 / 1e6,
        }
    }
}

/// `Workload::available` for a workload that needs nothing.
fn always() -> Result<(), String> {
    Ok(())
}

/// `Workload::finish` for a workload that leaves nothing behind.
fn nothing() {}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One case of a workload. The numbers mean what the workload says they mean; for echo:
/// connections, bytes per request, requests in flight per connection, and the open-loop rate;
/// for file-read: no connections, 4 KiB per read, and the queue depth.
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
    /// A `--quick` run: a smoke test, where checking every byte matters more than cost.
    pub quick: bool,
}

/// Calls every workload's `finish`.
pub fn finish_all() {
    for w in REGISTRY {
        (w.finish)();
    }
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
        assert_eq!(names(&["echo"]).len(), 7);
        assert_eq!(
            names(&["file"]),
            ["file-read qd=1", "file-read qd=64", "file-serve c=50"]
        );
        assert_eq!(names(&["file-read"]).len(), 2);
        assert_eq!(names(&["http"]), ["http c=50"]);
        assert!(names(&["nothing"]).is_empty());
        assert!(known_word("bulk") && known_word("echo") && !known_word("nothing"));
        let mut seen: Vec<String> = all_cases().into_iter().map(|c| c.name).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "case names are unique");
    }
}
