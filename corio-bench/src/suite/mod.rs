//! The suite: every selected case against every server (or proxy) that can run it, in
//! interleaved rounds (`plan.rs`), under each syscall-cost level and worker count asked for;
//! the server pinned to one core (or N, in the workers sweep), the load generator (this
//! process) to another. Where io_uring is refused it keeps to the servers that do not need it
//! and says so. It ends in one [`Results`], which `crate::export` writes as report.md,
//! results.json and report.html. Progress goes to stderr (`progress.rs`).

mod plan;
mod progress;

use crate::child::{self, Placement};
use crate::results::{self, BusyProbe, CostProbe, Machine, Results, Settings, Skipped};
use crate::seccomp::Level;
use crate::serve::ProbeReport;
use crate::sys;
use crate::workloads::{self, Case, RunEnv, Subject};
use corio::{DriverChoice, DriverKind};
use plan::{Dims, Step};
use progress::Progress;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the suite runs, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured seconds per run, after `warmup` unmeasured ones.
    pub secs: f64,
    pub warmup: f64,
    pub rounds: usize,
    /// Server (or proxy) names; empty: every one.
    pub servers: Vec<String>,
    pub cases: Vec<Case>,
    pub out: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
    pub quick: bool,
    /// Syscall-cost levels; the first is the baseline.
    pub levels: Vec<Level>,
    /// Worker counts; the first is the baseline.
    pub workers: Vec<usize>,
}

/// Runs the suite and writes its report; the exit code.
pub fn suite_cmd(opts: Options) -> i32 {
    match run(&opts) {
        Ok(results) => crate::export::write_and_print(&results, opts.out.as_deref()),
        Err(e) => {
            eprintln!("corio-bench: {e}");
            1
        }
    }
}

/// Where this process and its servers run: (server cores, load core).
fn cores() -> (Vec<usize>, Option<usize>) {
    let cpus = sys::allowed_cpus();
    match cpus[..] {
        [server, load, ..] => match sys::pin_current_thread(&[load]) {
            Ok(()) => {
                // The workers sweep takes cores from the first on, the load's last.
                let mut server_cores = vec![server];
                server_cores.extend(cpus.iter().copied().filter(|&c| c != server && c != load));
                server_cores.push(load);
                (server_cores, Some(load))
            }
            Err(e) => {
                eprintln!("corio-bench: not pinning (sched_setaffinity: {e})");
                (Vec::new(), None)
            }
        },
        _ => {
            eprintln!("corio-bench: only one CPU available: server and load share it, unpinned");
            (Vec::new(), None)
        }
    }
}

/// Why io_uring is refused here; None where it works. Err if corio cannot run at all.
fn uring_refused() -> Result<Option<String>, String> {
    let rt = corio::Runtime::builder()
        .driver(DriverChoice::Auto)
        .build()
        .map_err(|e| format!("corio cannot start a runtime: {e}"))?;
    let info = rt.driver_info();
    Ok((info.kind != DriverKind::IoUring).then(|| info.reason.clone()))
}

/// The servers that may run `case` here: asked for, and able to run on this machine.
struct Chooser<'a> {
    opts: &'a Options,
    uring_refused: bool,
    skipped: Vec<Skipped>,
}

impl Chooser<'_> {
    fn subjects(&mut self, case: &Case) -> Vec<Subject> {
        let w = case.workload;
        let mut out = Vec::new();
        for s in (w.subjects)() {
            let asked =
                self.opts.servers.is_empty() || self.opts.servers.iter().any(|n| n == s.name);
            if !asked || !(w.supports)(case, &s) {
                continue;
            }
            let why = if s.needs_uring && self.uring_refused {
                Some("io_uring is refused here".to_string())
            } else {
                (w.subject_available)(&s).err()
            };
            match why {
                None => out.push(s),
                Some(reason) => {
                    let what = format!("{}/{}", w.name, s.name);
                    if !self.skipped.iter().any(|k| k.what == what) {
                        eprintln!("corio-bench: skipping {what}: {reason}");
                        self.skipped.push(Skipped { what, reason });
                    }
                }
            }
        }
        out
    }
}

/// Leaves out the cases of every workload that cannot run here, saying why.
fn available_cases(cases: &[Case], skipped: &mut Vec<Skipped>) -> Vec<Case> {
    let mut refused: Vec<&str> = Vec::new();
    for c in cases {
        let w = c.workload;
        if refused.contains(&w.name) || skipped.iter().any(|s| s.what == w.name) {
            continue;
        }
        if let Err(reason) = (w.available)() {
            eprintln!("corio-bench: skipping the {} workload: {reason}", w.name);
            skipped.push(Skipped {
                what: w.name.into(),
                reason,
            });
            refused.push(w.name);
        }
    }
    cases
        .iter()
        .filter(|c| !skipped.iter().any(|s| s.what == c.workload.name))
        .cloned()
        .collect()
}

/// Calls every workload's `finish` when dropped: after the last run, or on a panic.
struct Finish;

impl Drop for Finish {
    fn drop(&mut self) {
        workloads::finish_all();
    }
}

/// Runs the suite; Err where nothing can run.
pub fn run(opts: &Options) -> Result<Results, String> {
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let busy = BusyProbe::start();
    sys::raise_fd_limit();
    let (server_cores, load_core) = cores();
    let refused = uring_refused()?;
    if let Some(why) = &refused {
        eprintln!(
            "corio-bench: io_uring is refused here ({why}): running only the servers that do \
             not need it, the load generator on epoll"
        );
    }
    let load_driver = if refused.is_some() {
        DriverChoice::Epoll
    } else {
        DriverChoice::IoUring
    };
    let mut skipped = Vec::new();
    let cases = available_cases(&opts.cases, &mut skipped);
    let mut chooser = Chooser {
        opts,
        uring_refused: refused.is_some(),
        skipped,
    };
    let dims = Dims {
        rounds: opts.rounds,
        levels: &opts.levels,
        workers: &opts.workers,
    };
    let steps = plan::plan(&cases, |c| chooser.subjects(c), &dims);
    if steps.is_empty() {
        if chooser.skipped.is_empty() {
            return Err("nothing to run: no server asked for runs the cases asked for".into());
        }
        eprintln!("corio-bench: nothing could run here (the report says why)");
    }
    let syscall_costs = probe_costs(&opts.levels, server_cores.first().copied());
    let _finish = Finish;
    let mut progress = Progress::new(steps.len(), opts.secs + opts.warmup + 0.1);
    let mut rows = Vec::with_capacity(steps.len());
    for step in &steps {
        progress.start(step);
        let env = env_for(step, opts, &server_cores, load_core, load_driver);
        let mut row = (step.case.workload.run)(step.case, &step.subject, &env);
        if let Some(e) = &row.error {
            progress.note(&format!("  {}: {e}", step.subject.name));
        }
        row.derive();
        rows.push(row);
        progress.done();
    }
    progress.finish();
    let mut workloads: Vec<results::WorkloadInfo> = Vec::new();
    for c in &cases {
        if !workloads.iter().any(|w| w.name == c.workload.name) {
            workloads.push(c.workload.info());
        }
    }
    let mut machine = Machine::probe();
    machine.busy = busy.finish();
    Ok(Results {
        schema: results::SCHEMA,
        command: opts.command.clone(),
        commit: results::commit(),
        started_unix,
        took_secs: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        machine,
        settings: Settings {
            secs: opts.secs,
            warmup: opts.warmup,
            rounds: opts.rounds,
            quick: opts.quick,
            load_driver: format!("{load_driver:?}"),
            server_core: server_cores.first().copied(),
            load_core,
            uring_refused: refused,
            syscall_costs: opts.levels.iter().map(|l| l.name()).collect(),
            workers: opts.workers.clone(),
        },
        workloads,
        syscall_costs,
        skipped: chooser.skipped,
        rows,
    })
}

/// What one run gets: its cores (the first `workers` of the server cores), its filter.
fn env_for(
    step: &Step,
    opts: &Options,
    server_cores: &[usize],
    load_core: Option<usize>,
    load_driver: DriverChoice,
) -> RunEnv {
    let n = step.workers.min(server_cores.len());
    RunEnv {
        secs: opts.secs.max(step.case.workload.min_secs),
        warmup: opts.warmup,
        server: Placement {
            cores: server_cores[..n].to_vec(),
            filter: step.level.filter(),
        },
        cost: step.level.name(),
        load_core,
        load_driver,
        workers: step.workers,
        round: step.round,
        quick: opts.quick,
    }
}

/// What one syscall costs under each level, on the server core: the median of three probes.
fn probe_costs(levels: &[Level], core: Option<usize>) -> Vec<CostProbe> {
    let mut out = Vec::new();
    for &level in levels {
        let at = Placement {
            cores: core.into_iter().collect(),
            filter: level.filter(),
        };
        let mut probes: Vec<ProbeReport> = Vec::new();
        for _ in 0..3 {
            let run = child::run_pinned(&["syscall-probe"], &at, Duration::from_secs(20));
            match run.map(|out| serde_json::from_str::<ProbeReport>(out.trim())) {
                Ok(Ok(p)) => probes.push(p),
                Ok(Err(e)) => eprintln!("corio-bench: syscall-probe printed no report: {e}"),
                Err(e) => eprintln!("corio-bench: syscall-probe under {}: {e}", level.name()),
            }
        }
        let Some(first) = probes.first() else {
            continue;
        };
        let ns: Vec<(String, f64)> = first
            .ns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let stat = results::summary::Stat::of(probes.iter().map(|p| p.ns[i].1));
                (
                    name.clone(),
                    stat.map_or(f64::NAN, |s| (s.median * 10.0).round() / 10.0),
                )
            })
            .collect();
        let mean_ns = ns.iter().map(|(_, v)| v).sum::<f64>() / ns.len().max(1) as f64;
        out.push(CostProbe {
            level: level.name(),
            about: level.about(),
            ns,
            mean_ns: (mean_ns * 10.0).round() / 10.0,
            filters: first.filters,
        });
    }
    out
}
