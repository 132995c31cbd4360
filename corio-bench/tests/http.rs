//! The http workload: every http server answers byte-exact over keep-alive and counts its
//! requests; the quick suite with `--cases http` runs wrk against each, or, where wrk is
//! missing, skips the workload saying why.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

/// The body every server answers `GET /` with (servers/http.rs).
const BODY: &[u8] = b"corio-bench http: sixty-four bytes of body, the same each time.\n";

/// One keep-alive request and its response: (status line, body).
fn get(r: &mut BufReader<TcpStream>, path: &str) -> (String, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    r.get_mut().write_all(req.as_bytes()).unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut len = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().unwrap());
        }
        assert!(!lower.starts_with("connection: close"), "{line}");
    }
    let mut body = vec![0u8; len.expect("a content-length")];
    std::io::Read::read_exact(r, &mut body).unwrap();
    (status.trim_end().to_string(), body)
}

#[test]
fn every_http_server_answers_byte_exact_with_keep_alive() {
    let mut servers = vec!["corio-epoll", "tokio"];
    if uring_works() {
        servers.insert(0, "corio-uring");
    } else {
        println!("skipping corio-uring: io_uring is refused on this machine");
    }
    for server in servers {
        let addr = format!("127.0.0.1:{}", free_port());
        let (child, _) = serve_service(&["http", "--server", server], &addr, &[]);
        let s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s);
        for _ in 0..50 {
            let (status, body) = get(&mut r, "/");
            assert_eq!(status, "HTTP/1.1 200 OK", "{server}");
            assert_eq!(body, BODY, "{server}");
        }
        let (status, _) = get(&mut r, "/nothing");
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{server}");
        drop(r);
        let line = stop_for_stats(child);
        assert!(line.contains(&format!("\"server\":\"{server}\"")), "{line}");
        assert_eq!(json_field(&line, "requests_hint"), 51.0, "{line}");
    }
}

fn wrk_installed() -> bool {
    Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn quick_http_suite_runs_wrk_against_every_server() {
    if !wrk_installed() {
        println!("skipping: wrk is not installed (the suite skips the http workload)");
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("corio-bench-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = run(
        &[
            "--quick",
            "--rounds",
            "1",
            "--cases",
            "http",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = results["rows"].as_array().unwrap();
    let servers: Vec<&str> = rows.iter().map(|r| r["server"].as_str().unwrap()).collect();
    let want = if uring_works() {
        vec!["corio-uring", "corio-epoll", "tokio"]
    } else {
        vec!["corio-epoll", "tokio"]
    };
    assert_eq!(servers, want);
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        assert_eq!(row["case"], "http c=50", "{row}");
        assert!(row["window"]["requests"].as_u64().unwrap() > 0, "{row}");
        assert!(row["load"]["p99_us"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(row["load"]["errors"], 0, "{row}");
        assert!(row["cpu_us_per_unit"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert!(stdout.contains("### http c=50"), "{stdout}");
    if uring_works() {
        assert!(
            stdout.contains("corio-uring vs corio-epoll") || stdout.contains("**corio-uring "),
            "{stdout}"
        );
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn without_wrk_the_http_workload_is_skipped_saying_why() {
    let out_dir = std::env::temp_dir().join(format!("corio-bench-nowrk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    // No PATH: wrk cannot be found (the suite runs its servers from its own absolute path).
    let mut child = Command::new(BIN)
        .args(["--quick", "--cases", "http", "--out"])
        .arg(&out_dir)
        .env("PATH", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the suite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipping the http workload: wrk is not installed"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(results["rows"].as_array().unwrap().is_empty(), "{results}");
    assert_eq!(results["skipped"][0]["what"], "http", "{results}");
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        report.contains("- skipped http: wrk is not installed"),
        "{report}"
    );
    std::fs::remove_dir_all(&out_dir).unwrap();
}
