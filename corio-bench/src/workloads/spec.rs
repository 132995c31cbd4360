//! What a workload is to the suite: its cases, the servers (or proxies) it drives, and how it
//! runs one case against one of them in one round, returning a [`Row`] (a failed run is a row
//! with its error, never a panic or a hang). A workload knows nothing of the report: the row
//! and the [`WorkloadInfo`] it describes itself with are all the report reads.

use crate::child::Placement;
use crate::results::{Comparison, Model, Row, SubjectInfo, Unit, WorkloadInfo};
use crate::servers::ServerSpec;
use std::fmt;

pub struct Workload {
    /// The name `--cases` accepts for all of its cases.
    pub name: &'static str,
    pub about: &'static str,
    pub cases: fn(&CaseParams) -> Vec<Case>,
    /// The servers (or proxies) it can drive, in report order.
    pub subjects: fn() -> Vec<Subject>,
    /// Whether it drives this subject in this case.
    pub supports: fn(&Case, &Subject) -> bool,
    /// Err(why) where it cannot run on this machine (a program it drives is missing): the
    /// suite then skips its cases, saying why. Asked once per suite.
    pub available: fn() -> Result<(), String>,
    /// Err(why) where one subject cannot run here (HAProxy not installed).
    pub subject_available: fn(&Subject) -> Result<(), String>,
    /// Runs one case against one subject; bounded in time.
    pub run: fn(&Case, &Subject, &RunEnv) -> Row,
    /// Called once after the suite's last run: removes what its runs created.
    pub finish: fn(),
    /// The like-for-like model pairs (completion, readiness) its verdicts compare.
    pub model_pairs: &'static [(&'static str, &'static str)],
    /// Further pairs (a, b) whose ratio a/b the verdicts give (e.g. corio-uring over tokio).
    pub also: &'static [(&'static str, &'static str)],
    /// One line on why the models differ here, from the model itself.
    pub model_note: Option<&'static str>,
    /// The servers' own threads share their core by design (a blocking pool).
    pub threads_share_core: bool,
    /// The shortest measured window that sees its work at all (a `--quick` or `--secs` run
    /// shorter than this gets this).
    pub min_secs: f64,
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Workload {
    /// How it describes itself in results.json.
    pub fn info(&self) -> WorkloadInfo {
        let pair = |&(a, b): &(&str, &str), model_pair| Comparison {
            a: a.into(),
            b: b.into(),
            model_pair,
        };
        WorkloadInfo {
            name: self.name.into(),
            about: self.about.into(),
            comparisons: self
                .model_pairs
                .iter()
                .map(|p| pair(p, true))
                .chain(self.also.iter().map(|p| pair(p, false)))
                .collect(),
            model_note: self.model_note.map(str::to_string),
            threads_share_core: self.threads_share_core,
            subjects: (self.subjects)()
                .iter()
                .map(|s| SubjectInfo {
                    name: s.name.into(),
                    model: s.model,
                    about: s.about.into(),
                    floor: s.floor,
                })
                .collect(),
        }
    }
}

/// `Workload::available` for a workload that needs nothing.
pub fn always() -> Result<(), String> {
    Ok(())
}

/// `Workload::subject_available` where every subject can run.
pub fn every(_: &Subject) -> Result<(), String> {
    Ok(())
}

/// `Workload::finish` for a workload that leaves nothing behind.
pub fn nothing() {}

/// A server or proxy a workload drives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Subject {
    pub name: &'static str,
    pub model: Model,
    pub about: &'static str,
    /// The bare loop of its model.
    pub floor: bool,
    /// It cannot start where io_uring is refused.
    pub needs_uring: bool,
    /// It runs in the `--workers` sweep.
    pub scales: bool,
    /// It runs only in the `--workers` sweep.
    pub sweep_only: bool,
}

/// What the cases of a run depend on.
#[derive(Debug, Clone, Copy)]
pub struct CaseParams {
    /// Idle pairs opened through each proxy in the proxy workload's idle case.
    pub idle_pairs: usize,
}

/// One case of a workload. The numbers mean what the workload says: for echo, connections,
/// bytes per request, requests in flight per connection, the open-loop rate; for file-read,
/// no connections, 4 KiB per read, the queue depth.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub workload: &'static Workload,
    pub unit: Unit,
    /// The workload's word for how the load behaves (pingpong, churn, bulk, rate, ...).
    pub pattern: &'static str,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    /// Requests per second in total, for open-loop cases.
    pub rate: Option<f64>,
    /// It runs in the default suite (else only when `--cases` names it or its workload).
    pub in_default: bool,
    /// It runs in the `--workers` sweep.
    pub scales: bool,
}

/// What every run gets from the suite.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Measured seconds.
    pub secs: f64,
    /// Unmeasured seconds before them, connections already open.
    pub warmup: f64,
    /// Where the server (or proxy) runs: its cores and its syscall-cost filter.
    pub server: Placement,
    /// The syscall-cost level's name.
    pub cost: String,
    /// The load generator's core (this process's thread is pinned to it).
    pub load_core: Option<usize>,
    /// The driver of corio's load generator.
    pub load_driver: corio::DriverChoice,
    /// Server worker threads.
    pub workers: usize,
    pub round: usize,
    /// A `--quick` run: a smoke test, where checking every byte matters more than cost.
    pub quick: bool,
}

impl RunEnv {
    /// A row of `case` for `subject`, with nothing measured yet.
    pub fn row(&self, case: &Case, subject: &Subject) -> Row {
        Row {
            workload: case.workload.name.into(),
            case: case.name.clone(),
            unit: case.unit,
            pattern: case.pattern.into(),
            conns: case.conns,
            size: case.size,
            depth: case.depth,
            rate: case.rate,
            server: subject.name.into(),
            model: subject.model,
            syscall_cost: self.cost.clone(),
            workers: self.workers,
            round: self.round,
            load: None,
            window: None,
            memory: None,
            instr_per_unit: None,
            error: None,
            cpu_us_per_unit: None,
            syscalls_per_unit: None,
        }
    }
}

impl Subject {
    /// A server of the registry, as a subject.
    pub fn server(s: &'static ServerSpec) -> Subject {
        Subject {
            name: s.name,
            model: s.model,
            about: s.about,
            floor: s.floor,
            needs_uring: s.needs_uring,
            scales: s.scales,
            sweep_only: s.sweep_only,
        }
    }

    /// The registry's server of this subject's name.
    pub fn spec(&self) -> Option<&'static ServerSpec> {
        crate::servers::find(self.name)
    }
}

/// The registry's servers that have a service, as subjects.
pub fn servers_with(has: fn(&ServerSpec) -> bool) -> Vec<Subject> {
    crate::servers::REGISTRY
        .iter()
        .filter(|s| has(s))
        .map(|s| Subject::server(s))
        .collect()
}
