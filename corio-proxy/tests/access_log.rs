//! The access log: one JSON line per ended pair, with byte counts that match what each client
//! sent and received, and how it ended (`done`, `idle`, `connect_failed`, `drain`); reopened
//! on SIGHUP (logrotate); `-` writes to stderr. Runs under the driver `CORIO_DRIVER` names
//! (test.sh runs it once per driver).

mod support;

use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;
use support::{
    closed_by_peer, connect, pattern, ping, refused_addr, wait_for, Echo, Proxy, TempFile,
};

fn start(log: &str, upstream: &str, extra: &[&str]) -> Proxy {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
        "--workers",
        "2",
        "--access-log",
        log,
    ];
    args.extend_from_slice(extra);
    Proxy::start(&args)
}

/// The log's lines so far, parsed.
fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Waits (the writer flushes at least every second) for `n` lines.
fn wait_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    wait_for(Duration::from_secs(5), || {
        let l = lines(path);
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| panic!("fewer than {n} lines: {:?}", lines(path)))
}

#[test]
fn fifty_clients_byte_counts_match() {
    let echo = Echo::start();
    let log = TempFile::path(".log");
    let p = start(log.as_str(), &echo.addr.to_string(), &[]);
    let mut sent = HashMap::new();
    for i in 0..50u64 {
        let len = 1000 + 37 * i as usize;
        let mut s = connect(p.addr());
        let port = s.local_addr().unwrap().port();
        let data = pattern(i, len);
        s.write_all(&data).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        sent.insert(port, len as u64);
    }
    let got = wait_lines(&log.0, 50);
    assert_eq!(got.len(), 50);
    for l in &got {
        let client: std::net::SocketAddr = l["client"].as_str().unwrap().parse().unwrap();
        let len = sent[&client.port()];
        assert_eq!(l["bytes_up"], len, "{l}");
        assert_eq!(l["bytes_down"], len, "{l}");
        assert_eq!(l["end"], "done", "{l}");
        assert_eq!(l["listener"], p.addr().to_string(), "{l}");
        assert_eq!(l["upstream"], echo.addr.to_string(), "{l}");
        assert!(l["duration_ms"].is_u64(), "{l}");
        let ts = l["ts"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{l}");
    }
}

#[test]
fn idle_timeout_and_reopen_on_sighup() {
    let echo = Echo::start();
    let log = TempFile::path(".log");
    let p = start(
        log.as_str(),
        &echo.addr.to_string(),
        &["--idle-timeout", "300ms"],
    );
    let mut quiet = connect(p.addr());
    ping(&mut quiet, b"then nothing");
    assert!(closed_by_peer(&mut quiet));
    let got = wait_lines(&log.0, 1);
    assert_eq!(got[0]["end"], "idle", "{}", got[0]);
    assert_eq!(
        (got[0]["bytes_up"].as_u64(), got[0]["bytes_down"].as_u64()),
        (Some(12), Some(12))
    );
    // logrotate: the file moves away, SIGHUP, the next line goes to a new file at the path.
    let rotated = TempFile(log.0.with_extension("log.1"));
    std::fs::rename(&log.0, &rotated.0).unwrap();
    p.signal(libc::SIGHUP);
    assert!(p
        .wait_line("access log reopened", Duration::from_secs(5))
        .is_some());
    let mut c = connect(p.addr());
    ping(&mut c, b"after rotation");
    c.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_peer(&mut c));
    let got = wait_lines(&log.0, 1);
    assert_eq!((got.len(), &got[0]["end"]), (1, &Value::from("done")));
    assert_eq!(
        lines(&rotated.0).len(),
        1,
        "the rotated file keeps the old line"
    );
}

#[test]
fn connect_failed_and_drain_are_recorded_and_stderr_works() {
    let dead = refused_addr().to_string();
    let mut p = start("-", &dead, &["--connect-timeout", "1s"]);
    let mut c = connect(p.addr());
    assert!(closed_by_peer(&mut c));
    let line = p.wait_line("\"end\":\"connect_failed\"", Duration::from_secs(5));
    let line: Value = serde_json::from_str(&line.expect("a connect_failed line")).unwrap();
    assert_eq!(line["upstream"], dead, "{line}");
    assert_eq!(line["bytes_up"], 0);
    let _ = p.wait_exit(Duration::ZERO);

    // A pair still open when the drain timeout runs out: `drain`, written before the exit.
    let echo = Echo::start();
    let log = TempFile::path(".log");
    p = start(
        log.as_str(),
        &echo.addr.to_string(),
        &["--drain-timeout", "300ms"],
    );
    let mut stuck = connect(p.addr());
    ping(&mut stuck, b"stays");
    p.signal(libc::SIGTERM);
    let status = p.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(status.code(), Some(0));
    let got = lines(&log.0);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["end"], "drain", "{}", got[0]);
    assert_eq!(got[0]["bytes_up"], 5);
}

/// A reset from the client is `client_error`; one from the upstream is `upstream_error`.
#[test]
fn resets_name_the_side_that_failed() {
    // An upstream that echoes one message on each connection, then resets it.
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in up.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap_or(0);
            let _ = conn.write_all(&buf[..n]);
            // Wait for the word to reset this one, or for the peer to go.
            let _ = conn.read(&mut buf);
            support::set_linger_zero(&conn);
        }
    });
    let log = TempFile::path(".log");
    let p = start(log.as_str(), &up_addr, &[]);
    let mut c = connect(p.addr());
    ping(&mut c, b"then a reset");
    support::set_linger_zero(&c);
    drop(c);
    let got = wait_lines(&log.0, 1);
    assert_eq!(got[0]["end"], "client_error", "{}", got[0]);
    let mut u = connect(p.addr());
    ping(&mut u, b"then the upstream resets");
    u.write_all(b"x").unwrap();
    assert!(closed_by_peer(&mut u));
    let got = wait_lines(&log.0, 2);
    assert_eq!(got[1]["end"], "upstream_error", "{}", got[1]);
}
