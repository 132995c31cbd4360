//! `corio-bench instr`: instructions per request under callgrind (skipped with a printed reason
//! where valgrind is missing), and the message that says how to install it.

use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// `tool` is on PATH (vgdb has no `--version` to ask).
fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
}

/// The bare epoll loop and corio on epoll (no io_uring needed), one short run each: every
/// figure is there, the bare loop's is of the size a loop needs (a few hundred), corio's is
/// more than the bare loop's, and the table and the ratio line name both.
#[test]
fn counts_instructions_per_request() {
    if !have("valgrind") || !have("vgdb") {
        println!("skipping: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let args = [
        "instr",
        "--servers",
        "raw-epoll,corio-epoll",
        "--cases",
        "c50",
        "--secs",
        "0.4",
        "--warmup",
        "0.6",
        "--json",
    ];
    let out = run(&args, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout} {stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(rows.len(), 2, "{stdout}");
    let per = |server: &str| {
        let row = rows.iter().find(|r| r["server"] == server).expect(server);
        assert!(row["requests"].as_u64().unwrap() > 100, "{row}");
        row["per_request"].as_f64().expect("a figure")
    };
    let (floor, corio) = (per("raw-epoll"), per("corio-epoll"));
    assert!((50.0..2000.0).contains(&floor), "raw-epoll: {floor}");
    assert!(corio > floor, "corio-epoll {corio} vs raw-epoll {floor}");
}

/// Without valgrind on PATH: exit 1 and say how to install it, at once.
#[test]
fn says_how_to_install_valgrind() {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["instr", "--servers", "raw-epoll"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("valgrind is not installed") && stderr.contains("apt-get install valgrind"),
        "{stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}
