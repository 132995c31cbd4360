//! The suite end to end, quick: a complete report (tables, verdicts, results.json, report.html)
//! from interleaved rounds; the same reports made again from results.json alone; the
//! syscall-cost sweep, with the proof that each level's filter was installed; and on a machine
//! where io_uring is refused, the epoll-only servers instead of a refusal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("corio-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read_json(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn quick_suite_writes_a_complete_report_from_interleaved_rounds() {
    if !uring_works() {
        println!("skipped: io_uring is refused here (the next test covers that machine)");
        return;
    }
    let out_dir = out_dir("suite");
    let dir = out_dir.to_str().unwrap();
    let out = run(
        &[
            "suite",
            "--quick",
            "--servers",
            "raw-epoll,corio-uring",
            "--cases",
            "pingpong c=1,pingpong c=50,churn",
            "--out",
            dir,
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // 3 cases × 2 servers × 2 rounds, the order rotated in the second round.
    assert!(
        stderr.contains("[run 12/12] churn c=8 · corio-uring · round 2 · ~"),
        "{stderr}"
    );
    assert!(
        stdout.contains("### pingpong c=50") && stdout.contains(dir),
        "{stdout}"
    );
    let results = read_json(&out_dir);
    assert_eq!(results["schema"], 2);
    let rows = results["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "{results}");
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        assert!(row["load"]["requests"].as_u64().unwrap() > 0, "{row}");
        assert!(row["cpu_us_per_unit"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(row["unit"], "request", "{row}");
        assert_eq!(row["syscall_cost"], "none", "{row}");
    }
    let round = |i: usize| (rows[i]["server"].as_str(), rows[i]["round"].as_u64());
    assert_eq!(round(0), (Some("corio-uring"), Some(0)));
    assert_eq!(round(2), (Some("raw-epoll"), Some(1)));
    assert!(rows[0]["window"]["enters"].as_u64().unwrap() > 0);
    assert!(results["settings"]["uring_refused"].is_null());
    assert!(results["machine"]["kernel"].as_str().is_some());
    assert!(results["machine"]["mitigations"]
        .as_str()
        .unwrap()
        .starts_with("mitigations="));
    let echo = &results["workloads"][0];
    assert_eq!(echo["name"], "echo");
    assert_eq!(echo["comparisons"][0]["a"], "corio-uring");
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("server pinned to core") || report.contains("no pinning"));
    assert!(report.contains("| raw-epoll |") && report.contains("--out"));
    assert!(report.contains("- how busy: load average"), "{report}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(html.contains("class=\"chart\" data-series="));
    // The reports again, from results.json alone: the same bytes.
    let again = out_dir.join("again");
    let out = run(
        &[
            "report",
            out_dir.join("results.json").to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    for file in ["report.md", "report.html"] {
        let a = std::fs::read(out_dir.join(file)).unwrap();
        let b = std::fs::read(again.join(file)).unwrap();
        assert!(a == b, "{file} differs when made from results.json");
    }
    // Not a results file: a clear refusal.
    let bad = run(
        &["report", out_dir.join("report.md").to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(bad.status.code(), Some(1));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn the_syscall_cost_sweep_installs_each_level_s_filter() {
    let out_dir = out_dir("cost");
    let out = run(
        &[
            "--quick",
            "--rounds",
            "1",
            "--servers",
            "corio-epoll",
            "--cases",
            "pingpong c=50",
            "--syscall-cost",
            "none,seccomp,seccomp-nocache-x2",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let results = read_json(&out_dir);
    let probes = results["syscall_costs"].as_array().unwrap();
    let levels: Vec<(&str, u64)> = probes
        .iter()
        .map(|p| (p["level"].as_str().unwrap(), p["filters"].as_u64().unwrap()))
        .collect();
    // The harness itself runs unfiltered here (or under a container's filters, counted once).
    let base = levels[0].1;
    assert_eq!(
        levels,
        [
            ("none", base),
            ("seccomp", base + 1),
            ("seccomp-nocache-x2", base + 2)
        ]
    );
    for p in probes {
        assert!(p["mean_ns"].as_f64().unwrap() > 0.0, "{p}");
    }
    // The server ran, and echoed every byte, under every level.
    let rows = results["rows"].as_array().unwrap();
    let costs: Vec<&str> = rows
        .iter()
        .map(|r| {
            assert!(r["error"].is_null(), "{r}");
            assert_eq!(r["load"]["corrupt"], 0, "{r}");
            r["syscall_cost"].as_str().unwrap()
        })
        .collect();
    assert_eq!(costs, ["none", "seccomp", "seccomp-nocache-x2"]);
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("## What a syscall costs"), "{report}");
    assert!(report.contains("| server | none ("), "{report}");
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn suite_without_io_uring_runs_the_epoll_servers() {
    let out_dir = out_dir("nouring");
    let mut child = Command::new(BIN)
        .args([
            "--quick",
            "--rounds",
            "1",
            "--cases",
            "pingpong c=1",
            "--out",
        ])
        .arg(&out_dir)
        .env("CORIO_FORCE_URING_UNAVAILABLE", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the suite did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("io_uring is refused here"), "{stderr}");
    for s in [
        "corio-uring",
        "corio-uring-compat",
        "raw-uring",
        "monoio",
        "compio",
    ] {
        assert!(
            stderr.contains(&format!("skipping echo/{s}: io_uring is refused here")),
            "{stderr}"
        );
    }
    let results = read_json(&out_dir);
    assert_eq!(results["settings"]["load_driver"], "Epoll");
    assert!(results["settings"]["uring_refused"]
        .as_str()
        .unwrap()
        .contains("test"));
    let servers: Vec<&str> = results["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["error"].is_null(), "{r}");
            r["server"].as_str().unwrap()
        })
        .collect();
    assert_eq!(servers, ["corio-epoll", "raw-epoll", "tokio"]);
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        report.contains("io_uring is refused on this machine"),
        "{report}"
    );
    assert!(
        report.contains("- skipped echo/corio-uring: io_uring is refused here"),
        "{report}"
    );
    std::fs::remove_dir_all(&out_dir).unwrap();
}
