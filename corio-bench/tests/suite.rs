//! The suite end to end, quick: a complete report (table, verdict, results.json, charts), and
//! on a machine where io_uring is refused, the epoll-only servers instead of a refusal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

#[test]
fn quick_suite_writes_a_complete_report() {
    let out_dir = std::env::temp_dir().join(format!("corio-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
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
    assert!(
        stderr.contains("[case 6/6] churn c=8 · corio-uring · ~"),
        "{stderr}"
    );
    assert!(
        stdout.contains("### pingpong c=50") && stdout.contains(dir),
        "{stdout}"
    );
    let file = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    let results: serde_json::Value = serde_json::from_str(&file("results.json")).unwrap();
    let rows = results["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{results}");
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        assert!(row["load"]["requests"].as_u64().unwrap() > 0, "{row}");
        assert!(row["cpu_us_per_unit"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(row["unit"], "request", "{row}");
    }
    assert_eq!(rows[0]["server"], "raw-epoll");
    assert!(rows[1]["enters"].as_u64().unwrap() > 0, "{}", rows[1]);
    assert!(results["uring_refused"].is_null());
    let report = file("report.md");
    assert!(report.contains("server pinned to core") || report.contains("no pinning"));
    assert!(report.contains("| raw-epoll |") && report.contains("--out"));
    // Both end with the verdict: one line per case.
    for text in [&report, &stdout.to_string()] {
        let verdict = &text[text.find("## Verdict").expect("a verdict")..];
        for case in ["pingpong c=1", "pingpong c=50", "churn c=8"] {
            assert!(verdict.contains(&format!("- **{case}**: ")), "{verdict}");
        }
        assert!(verdict.contains("corio-uring/raw-epoll"), "{verdict}");
    }
    for svg in ["throughput.svg", "p99.svg"] {
        let svg = file(svg);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Axes plus one line per server.
        assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn suite_without_io_uring_runs_the_epoll_servers() {
    let out_dir = std::env::temp_dir().join(format!("corio-bench-nouring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut child = Command::new(BIN)
        .args(["--quick", "--cases", "pingpong c=1", "--out"])
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
    assert!(
        stderr.contains("skipped: corio-uring, corio-uring-compat, raw-uring, monoio, compio"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(results["load_driver"], "Epoll");
    assert!(results["uring_refused"].as_str().unwrap().contains("test"));
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
        report.contains("no comparison: no completion server measured"),
        "{report}"
    );
    std::fs::remove_dir_all(&out_dir).unwrap();
}
