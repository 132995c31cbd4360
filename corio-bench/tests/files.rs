//! The file workloads: the quick suite with `--cases file` runs every file-read runner and
//! every file server byte-exact (a quick run checks every read byte for byte; the load
//! generator checks every served byte) and removes its files; the checks themselves catch a
//! file and a server with the wrong bytes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Runs the binary with `args` (killed past `limit`); its pid, stdout, stderr and success.
fn run_with_pid(args: &[&str], limit: Duration) -> (u32, String, String, bool) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("corio-bench {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        pid,
        text(&out.stdout),
        text(&out.stderr),
        out.status.success(),
    )
}

#[test]
fn quick_file_suite_is_byte_exact_and_cleans_up() {
    let out_dir =
        std::env::temp_dir().join(format!("corio-bench-files-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let dir = out_dir.to_str().unwrap();
    let (pid, stdout, stderr, ok) = run_with_pid(
        &["--quick", "--rounds", "1", "--cases", "file", "--out", dir],
        Duration::from_secs(120),
    );
    assert!(ok, "{stdout}\n{stderr}");
    let scratch = std::env::temp_dir().join(format!("corio-bench-files-{pid}"));
    assert!(!scratch.exists(), "{} was left behind", scratch.display());
    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = results["rows"].as_array().unwrap();
    let uring = uring_works();
    let servers = |case: &str| -> Vec<&str> {
        rows.iter()
            .filter(|r| r["case"] == case)
            .map(|r| r["server"].as_str().unwrap())
            .collect()
    };
    let (readers, file_servers) = if uring {
        (
            vec![
                "corio-uring",
                "corio-epoll",
                "raw-uring",
                "tokio",
                "monoio",
                "compio",
            ],
            vec!["corio-uring", "corio-epoll", "tokio", "monoio", "compio"],
        )
    } else {
        (vec!["corio-epoll", "tokio"], vec!["corio-epoll", "tokio"])
    };
    assert_eq!(servers("file-read qd=1"), readers);
    assert_eq!(servers("file-read qd=64"), readers);
    assert_eq!(servers("file-serve c=50"), file_servers);
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        let load = &row["load"];
        assert!(load["requests"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(load["corrupt"], 0, "{row}");
        assert_eq!(load["errors"], 0, "{row}");
        assert!(row["cpu_us_per_unit"].as_f64().unwrap() > 0.0, "{row}");
        let unit = if row["workload"] == "file-read" {
            "op"
        } else {
            "MB"
        };
        assert_eq!(row["unit"], unit, "{row}");
    }
    // The io_uring runners count their enters; at depth 64 they batch.
    if uring {
        let raw = rows
            .iter()
            .find(|r| r["case"] == "file-read qd=64" && r["server"] == "raw-uring")
            .unwrap();
        assert!(raw["syscalls_per_unit"].as_f64().unwrap() < 0.5, "{raw}");
    }
    // Each case's table, then its verdict lines (one round: no verdict, but the lines), then
    // the workload's line from the model.
    for case in ["file-read qd=1", "file-read qd=64", "file-serve c=50"] {
        let section = stdout
            .split("\n### ")
            .find(|s| s.starts_with(case))
            .unwrap_or_else(|| panic!("{case} in {stdout}"));
        assert!(section.contains("corio-epoll vs tokio"), "{section}");
    }
    assert!(
        stdout.contains("Model: a readiness runtime cannot wait"),
        "{stdout}"
    );
    assert!(stdout.contains("| CPU µs/op |") && stdout.contains("| CPU µs/MB |"));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn file_read_catches_a_file_with_other_bytes() {
    let path = std::env::temp_dir().join(format!("corio-bench-zeros-{}", std::process::id()));
    std::fs::write(&path, vec![0u8; 64 * 1024]).unwrap();
    let file = path.to_str().unwrap();
    let mut runners = vec!["corio-epoll", "tokio"];
    if uring_works() {
        runners.extend(["corio-uring", "raw-uring"]);
    }
    for server in runners {
        let out = run(
            &[
                "file-read",
                "--server",
                server,
                "--file",
                file,
                "--depth",
                "4",
                "--secs",
                "0.1",
                "--warmup",
                "0",
            ],
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{server}: {out:?}");
        let json = String::from_utf8_lossy(&out.stdout);
        let ops = json_field(&json, "ops");
        assert!(ops > 0.0, "{server}: {json}");
        // Every read is wrong; the window's edges read the two counters one after the other
        // while reads complete, so they may differ by one.
        let corrupt = json_field(&json, "corrupt");
        assert!(
            (corrupt - ops).abs() <= 1.0,
            "{server}: every read is wrong: {json}"
        );
    }
    // Shorter than one block: refused with a message.
    std::fs::write(&path, b"short").unwrap();
    let out = run(
        &["file-read", "--server", "corio-epoll", "--file", file],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than one"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn fetch_catches_a_server_that_sends_other_bytes() {
    // Answers every request byte with 4 KiB of zeros, for 10 s at most.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let stop = Instant::now() + Duration::from_secs(10);
        let mut conns = 0;
        while Instant::now() < stop && conns < 2 {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            conns += 1;
            std::thread::spawn(move || {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut req = [0u8; 16];
                while let Ok(n) = s.read(&mut req) {
                    if n == 0 || (0..n).any(|_| s.write_all(&[0u8; 4096]).is_err()) {
                        return;
                    }
                }
            });
        }
    });
    let out = run(
        &[
            "load", "--addr", &addr, "--mode", "fetch", "--size", "4096", "--conns", "2", "--secs",
            "0.3", "--warmup", "0", "--json",
        ],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        json_field(&json, "corrupt"),
        2.0,
        "one per connection: {json}"
    );
    assert_eq!(json_field(&json, "requests"), 0.0, "{json}");
    server.join().unwrap();
}
