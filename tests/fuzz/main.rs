//! A differential op fuzzer: seeded random scripts of socket operations (script.rs), with some
//! extreme inputs (reads with 4 GiB of room, file steps at offsets up to u64::MAX: files.rs),
//! run on an io_uring runtime, an io_uring runtime with registered descriptors and an epoll
//! runtime in this one process, each checked step by step against a model of what the kernel
//! may do (model.rs), then against each other: the outcomes the model calls deterministic must
//! be the same under every driver.
//!
//! `cargo test --test fuzz` runs 2,000 scripts from a fresh first seed each run (printed with
//! the failures; `CORIO_FUZZ_SEED` fixes it). The long run:
//! `CORIO_FUZZ_SEED=<first> CORIO_FUZZ_SEEDS=<count> cargo test --test fuzz -- --ignored`.
//! A failing seed is printed with the command that replays it.

#[path = "../support/mod.rs"]
mod support;

mod exec;
mod files;
mod model;
mod script;
mod sides;
mod steps;

use corio::{DriverChoice, Runtime};
use std::collections::BTreeMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Steps per script, at most (a quarter of that at least).
const MAX_OPS: usize = 24;
/// Scripts of the normal run.
const SEEDS: u64 = 2000;
/// A script that takes longer than this has hung.
const SCRIPT_LIMIT: Duration = Duration::from_secs(20);
/// The run stops after this many failing seeds.
const MAX_FAILURES: usize = 5;

struct Driven {
    name: &'static str,
    driver: DriverChoice,
    /// io_uring with registered descriptors (`Builder::registered_fds`).
    registered: bool,
    rt: Runtime,
    /// Poll descriptors (epoll) or table slots (io_uring) the fresh runtime had in use, for
    /// the leak check.
    base_fds: u64,
}

fn runtime(driver: DriverChoice, registered: bool) -> io::Result<Runtime> {
    Runtime::builder()
        .driver(driver)
        .registered_fds(registered)
        .build()
}

/// The runtimes every script runs on: io_uring, io_uring with registered descriptors (where
/// the kernel has what they need), and epoll.
fn drivers() -> Vec<Driven> {
    let mut out = Vec::new();
    for (name, driver, registered) in [
        ("io_uring", DriverChoice::IoUring, false),
        ("io_uring+registered", DriverChoice::IoUring, true),
        ("epoll", DriverChoice::Epoll, false),
    ] {
        match runtime(driver, registered) {
            Ok(rt) if registered && rt.driver_info().registered_fds.is_none() => {
                println!("fuzz: skipping {name}: this kernel lacks what it needs")
            }
            Ok(rt) => out.push(Driven {
                name,
                driver,
                registered,
                base_fds: rt.driver_stats().registered_fds,
                rt,
            }),
            Err(e) => println!("fuzz: skipping {name}: {e}"),
        }
    }
    out
}

fn replay(seed: u64) -> String {
    format!(
        "replay: CORIO_FUZZ_SEED={seed} CORIO_FUZZ_SEEDS=1 cargo test -p corio --test fuzz -- \
         --ignored --nocapture fuzz_long"
    )
}

/// Runs one script on one runtime; on failure, the error with the trace's tail.
fn run_on(d: &mut Driven, script: &script::Script, seed: u64) -> Result<exec::Outcome, String> {
    let trace = exec::Trace::default();
    let res = catch_unwind(AssertUnwindSafe(|| {
        d.rt.block_on(corio::time::timeout(
            SCRIPT_LIMIT,
            exec::run(script, seed, strict(), &trace),
        ))
    }));
    let res = match res {
        Ok(Ok(Ok(mut out))) => settle(d).map(|()| {
            out.trace = trace.take();
            out
        }),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(format!("hung: no progress in {SCRIPT_LIMIT:?}")),
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    res.map_err(|e| {
        d.rt = runtime(d.driver, d.registered).expect("a runtime like the first");
        let trace = trace.into_inner();
        let tail = trace[trace.len().saturating_sub(40)..].join("\n  ");
        format!("{e}\n  trace (last steps):\n  {tail}")
    })
}

/// After a script everything it opened is gone: no op left in the ring, no fd registered.
fn settle(d: &Driven) -> Result<(), String> {
    let base = d.base_fds;
    d.rt.block_on(async {
        for _ in 0..200 {
            let s = corio::current_driver_stats();
            if s.in_flight == 0 && s.registered_fds <= base {
                return Ok(());
            }
            corio::time::sleep(Duration::from_millis(5)).await;
        }
        let s = corio::current_driver_stats();
        Err(format!(
            "after the script, {} ops are still in flight and {} fds registered (fresh: {base})",
            s.in_flight, s.registered_fds
        ))
    })
}

/// Runs `seed` under every driver; compares the deterministic outcomes. Returns the known
/// defects tolerated.
fn run_seed(ds: &mut [Driven], seed: u64, extras: bool) -> Result<Vec<&'static str>, String> {
    let script = script::generate(seed, MAX_OPS, extras);
    let mut outcomes = Vec::new();
    for d in ds.iter_mut() {
        let out = run_on(d, &script, seed).map_err(|e| format!("on {}: {e}", d.name))?;
        outcomes.push((d.name, out));
    }
    let Some(((a, first), rest)) = outcomes.split_first() else {
        return Ok(Vec::new());
    };
    for (b, other) in rest {
        for (i, key, class) in &first.det {
            let same_state = other.det.iter().find(|(j, k, _)| j == i && k == key);
            if let Some((_, _, theirs)) = same_state.filter(|(_, _, c)| c != class) {
                return Err(format!(
                    "the drivers disagree at step {i} (from state {key:?}): {a} {class:?}, \
                     {b} {theirs:?}\n  {a}:\n  {}\n  {b}:\n  {}",
                    first.trace.join("\n  "),
                    other.trace.join("\n  ")
                ));
            }
        }
    }
    Ok(outcomes
        .iter()
        .flat_map(|(_, o)| o.tolerated.clone())
        .collect())
}

/// Runs `count` seeds from `first` on two threads, each with its own runtimes; panics with
/// every failing seed and its replay command.
fn fuzz(first: u64, count: u64) {
    let _alone = alone();
    let baseline = support::open_fds();
    let started = Instant::now();
    let failures = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let tolerated = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for t in 0..2 {
            let (failures, done, tolerated) = (&failures, &done, &tolerated);
            s.spawn(move || {
                let mut ds = drivers();
                for seed in (first + t..first + count).step_by(2) {
                    if failures.lock().unwrap().len() >= MAX_FAILURES {
                        return;
                    }
                    match run_seed(&mut ds, seed, true) {
                        Ok(known) => {
                            let mut t = tolerated.lock().unwrap();
                            for k in known {
                                t.entry(k).or_insert((seed, 0)).1 += 1;
                            }
                        }
                        Err(e) => {
                            let msg = format!("seed {seed} failed {e}\n{}", replay(seed));
                            eprintln!("fuzz: {msg}");
                            failures.lock().unwrap().push(msg);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    println!(
        "fuzz: {} scripts from seed {first} in {:?}, {} failed",
        done.load(Ordering::Relaxed),
        started.elapsed(),
        failures.len()
    );
    for (what, (seed, n)) in tolerated.into_inner().unwrap() {
        println!(
            "fuzz: KNOWN DEFECT met (tolerated, or its trigger skipped) in {n} runs (first: seed \
             {seed}; CORIO_FUZZ_STRICT=1 fails on it): {what}"
        );
    }
    assert!(
        failures.is_empty(),
        "seeds {first}..{} (rerun them: CORIO_FUZZ_SEED={first} CORIO_FUZZ_SEEDS={count} cargo \
         test -p corio --test fuzz -- --ignored fuzz_long):\n{}",
        first + count,
        failures.join("\n\n")
    );
    assert_eq!(support::open_fds(), baseline, "fds leaked across the run");
}

/// The fd count is per process: a run checks it, so runs take turns.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static RUNS: Mutex<()> = Mutex::new(());
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `CORIO_FUZZ_STRICT=1`: known defects fail the run like any other finding.
fn strict() -> bool {
    // Strict unless asked otherwise: both known defects are fixed.
    std::env::var_os("CORIO_FUZZ_STRICT").is_none_or(|v| v != "0")
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
    )
}

/// The normal run draws a fresh first seed each time (from the clock), so its coverage grows
/// from run to run; `CORIO_FUZZ_SEED` fixes it. The range is in the failure message, and each
/// failing seed comes with its replay command.
#[test]
fn fuzz_2000_scripts_on_both_drivers() {
    let first = env_u64("CORIO_FUZZ_SEED").unwrap_or_else(fresh_seed);
    println!(
        "fuzz: seeds {first}..{} (this range again: CORIO_FUZZ_SEED={first} cargo test -p corio \
         --test fuzz fuzz_2000)",
        first + SEEDS
    );
    fuzz(first, SEEDS);
}

/// A first seed not used before (nanoseconds of the clock, below 2^40 so it stays readable).
fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) % (1 << 40)
}

/// Issue 21 defect 6: the seeds the long run failed on epoll (a large `write_all` under a
/// timeout that completed, then a write that blocked while the peer drained: its bytes arrived
/// before it reported, which the model did not allow). The model was wrong, not the runtime.
#[test]
fn fuzz_seeds_of_the_long_run_of_issue_21() {
    let _alone = alone();
    let mut ds = drivers();
    for seed in [901361, 911551, 921416, 928666] {
        // The scripts as that run drew them, and with today's extra inputs.
        for extras in [false, true] {
            if let Err(e) = run_seed(&mut ds, seed, extras) {
                panic!(
                    "seed {seed} (extras: {extras}) failed {e}\n{}",
                    replay(seed)
                );
            }
        }
    }
}

#[test]
#[ignore = "long run: CORIO_FUZZ_SEED / CORIO_FUZZ_SEEDS choose the seeds"]
fn fuzz_long() {
    fuzz(
        env_u64("CORIO_FUZZ_SEED").unwrap_or(1_000_000),
        env_u64("CORIO_FUZZ_SEEDS").unwrap_or(100_000),
    );
}
