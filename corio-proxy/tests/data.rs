//! Bytes through corio-proxy to echo upstreams: byte-exact in both directions at once (64 B to
//! 16 MiB, buffered and splice, SO_REUSEPORT and balanced accept), 1,000 concurrent pairs, and
//! half-close in each direction. Runs under both drivers (CORIO_DRIVER from ./test.sh).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;
use support::{connect, pattern, round_trip, Echo, Proxy};

const SIZES: [usize; 6] = [64, 1000, 16 << 10, 100_003, 1 << 20, 16 << 20];

fn byte_exact(extra: &[&str]) {
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
    ];
    args.extend_from_slice(extra);
    let proxy = Proxy::start(&args);
    let addr = proxy.addr();
    let threads: Vec<_> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            std::thread::spawn(move || {
                let data = pattern(i as u64, len);
                let got = round_trip(addr, data.clone());
                assert_eq!(got.len(), len, "size {len}: length");
                assert!(got == data, "size {len}: bytes differ");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(proxy);
}

/// Every size, all at once, each writing and reading concurrently, through pooled buffers.
#[test]
fn byte_exact_both_directions_buffered() {
    byte_exact(&[]);
}

/// The same through provided buffers (one operation per read).
#[test]
fn byte_exact_both_directions_pooled() {
    byte_exact(&["--copy", "pooled"]);
}

/// The same through splice pipes.
#[test]
fn byte_exact_both_directions_splice() {
    byte_exact(&["--copy", "splice"]);
}

/// The same with connections handed from worker 0 to the least-loaded worker.
#[test]
fn byte_exact_with_balanced_accept() {
    byte_exact(&["--accept", "balanced"]);
}

/// 1,000 pairs open at the same time, each exchanging its own bytes; then all closed cleanly.
#[test]
fn thousand_concurrent_pairs() {
    support::raise_nofile();
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let proxy = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
        "--admin",
        "127.0.0.1:0",
    ]);
    let addr = proxy.addr();
    const N: usize = 1000;
    let mut conns: Vec<_> = (0..N).map(|_| connect(addr)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&pattern(i as u64, 1000)).unwrap();
    }
    let active = support::wait_for(Duration::from_secs(20), || {
        let n = proxy.metric("corio_proxy_client_connections_active", "");
        (n == N as u64).then_some(n)
    });
    assert_eq!(active, Some(N as u64), "all pairs live at once");
    for (i, c) in conns.iter_mut().enumerate() {
        let mut back = vec![0u8; 1000];
        c.read_exact(&mut back).unwrap();
        assert!(back == pattern(i as u64, 1000), "pair {i}: bytes differ");
    }
    drop(conns);
    let done = support::wait_for(Duration::from_secs(20), || {
        (proxy.metric("corio_proxy_client_connections_active", "") == 0).then_some(())
    });
    assert!(done.is_some(), "pairs left open: {}", proxy.metrics());
    assert_eq!(
        proxy.metric("corio_proxy_client_connections_total", ""),
        N as u64
    );
    assert_eq!(proxy.metric("corio_proxy_pair_errors_total", ""), 0);
    let bytes = (N * 1000) as u64;
    assert_eq!(
        proxy.metric("corio_proxy_bytes_total", "client_to_upstream"),
        bytes
    );
    assert_eq!(
        proxy.metric("corio_proxy_bytes_total", "upstream_to_client"),
        bytes
    );
}

/// Client half-closes first: its FIN reaches the upstream as shutdown(Write), while the
/// upstream's replies still come back; then the upstream's FIN ends the pair.
#[test]
fn half_close_from_the_client() {
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let proxy = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
    ]);
    let mut s = connect(proxy.addr());
    s.write_all(b"before the FIN").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"before the FIN");
}

/// Upstream half-closes first: it sends a banner and shuts its write side; the client sees the
/// banner then EOF, and can still send — every byte reaches the upstream, which reports the
/// count and closes.
#[test]
fn half_close_from_the_upstream() {
    for copy in ["buffered", "pooled", "splice"] {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = upstream.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut c, _) = upstream.accept().unwrap();
            c.write_all(b"banner").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            got
        });
        let proxy = Proxy::start(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--workers",
            "1",
            "--copy",
            copy,
        ]);
        let mut s = connect(proxy.addr());
        let mut banner = Vec::new();
        s.read_to_end(&mut banner).unwrap();
        assert_eq!(banner, b"banner", "{copy}");
        let data = pattern(7, 300_000);
        s.write_all(&data).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = server.join().unwrap();
        assert!(
            got == data,
            "{copy}: the client's bytes after the upstream's FIN"
        );
        drop(proxy);
    }
}

/// Idle pairs hold no copy buffer and no pipe: after one exchange each, the pool gauges say
/// none is in use, the proxy holds two sockets per pair (plus pooled pipes), and its RSS grew
/// by less than 8 KiB per pair.
#[test]
fn idle_pairs_hold_no_buffer_or_pipe() {
    support::raise_nofile();
    for copy in ["buffered", "pooled", "splice"] {
        let echo = Echo::start();
        let up = echo.addr.to_string();
        let proxy = Proxy::start(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--workers",
            "2",
            "--admin",
            "127.0.0.1:0",
            "--copy",
            copy,
        ]);
        let mut warm = connect(proxy.addr());
        support::ping(&mut warm, b"warm");
        let (fds, rss) = (proxy.fds(), proxy.rss_kib());
        const N: usize = 500;
        let mut conns: Vec<_> = (0..N).map(|_| connect(proxy.addr())).collect();
        for (i, c) in conns.iter_mut().enumerate() {
            support::ping(c, &pattern(i as u64, 64));
        }
        std::thread::sleep(Duration::from_millis(100));
        let m = proxy.metrics();
        assert_eq!(
            support::metric_value(&m, "corio_proxy_buffers_in_use", ""),
            0,
            "{copy}"
        );
        assert_eq!(
            support::metric_value(&m, "corio_proxy_pipes_in_use", ""),
            0,
            "{copy}"
        );
        let pooled = support::metric_value(&m, "corio_proxy_pipes_pooled", "") as usize;
        // +1: the admin connection `metrics()` just used may not be closed on the proxy's
        // side yet.
        let grown = proxy.fds() - fds;
        assert!(
            grown <= 2 * N + 2 * pooled + 1,
            "{copy}: {grown} more fds for {N} idle pairs"
        );
        let per_pair = (proxy.rss_kib().saturating_sub(rss)) * 1024 / N as u64;
        assert!(
            per_pair < 8 << 10,
            "{copy}: {per_pair} bytes of RSS per idle pair"
        );
        drop(conns);
    }
}
