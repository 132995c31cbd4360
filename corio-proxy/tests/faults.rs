//! corio-proxy under faults: refused and timed-out upstreams (failover, passive health), all
//! upstreams down, an upstream killed mid-stream, client resets (fds back to baseline), idle
//! timeout, max-conns that queues, a client that never reads (RSS bounded). Runs under both drivers.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{closed_by_peer, connect, pattern, ping, refused_addr, wait_for, Echo, Proxy};

fn proxy(upstreams: &[String], extra: &[&str]) -> Proxy {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--admin",
        "127.0.0.1:0",
    ];
    for u in upstreams {
        args.extend_from_slice(&["--upstream", u]);
    }
    args.extend_from_slice(extra);
    Proxy::start(&args)
}

/// A refused upstream is passed over for the next one; after 3 failures in a row it is
/// skipped (its healthy gauge drops to 0) and no later client tries it.
#[test]
fn refused_upstream_fails_over_and_is_skipped() {
    let echo = Echo::start();
    let dead = refused_addr().to_string();
    let p = proxy(
        &[dead.clone(), echo.addr.to_string()],
        &["--fail-timeout", "1m"],
    );
    for i in 0..10u64 {
        let mut s = connect(p.addr());
        ping(&mut s, &pattern(i, 100));
    }
    let label = format!("upstream=\"{dead}\"");
    assert_eq!(
        p.metric("corio_proxy_upstream_connect_errors_total", &label),
        3
    );
    assert_eq!(p.metric("corio_proxy_upstream_healthy", &label), 0);
    assert_eq!(p.metric("corio_proxy_no_upstream_total", ""), 0);
    assert_eq!(echo.accepted(), 10);
}

/// A connect that times out counts as a failure too, and the client goes to the next upstream.
/// The slow upstream is a listener whose accept queue is full, so its SYNs go unanswered.
#[test]
fn connect_timeout_fails_over() {
    let echo = Echo::start();
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    full.listen(0).unwrap();
    let slow = full.local_addr().unwrap().as_socket().unwrap();
    let _filler = TcpStream::connect(slow).unwrap();
    let p = proxy(
        &[slow.to_string(), echo.addr.to_string()],
        &["--connect-timeout", "200ms", "--balance", "round-robin"],
    );
    for i in 0..2u64 {
        let mut s = connect(p.addr());
        ping(&mut s, &pattern(i, 10));
    }
    let label = format!("upstream=\"{slow}\"");
    assert_eq!(
        p.metric("corio_proxy_upstream_connect_timeouts_total", &label),
        1
    );
}

/// Every upstream refuses: the client is closed at once and the failure counted.
#[test]
fn all_upstreams_down_closes_the_client() {
    let p = proxy(
        &[refused_addr().to_string(), refused_addr().to_string()],
        &[],
    );
    let start = Instant::now();
    let mut s = connect(p.addr());
    assert!(closed_by_peer(&mut s), "the client was not closed");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(p.metric("corio_proxy_no_upstream_total", ""), 1);
}

/// An upstream killed mid-stream: its client sees EOF or a reset; a pair on the other upstream
/// carries on.
#[test]
fn upstream_killed_mid_stream() {
    let mut doomed = Echo::start();
    let other = Echo::start();
    let p = proxy(&[doomed.addr.to_string(), other.addr.to_string()], &[]);
    let mut a = connect(p.addr());
    ping(&mut a, b"first");
    let mut b = connect(p.addr());
    ping(&mut b, b"second");
    assert_eq!((doomed.accepted(), other.accepted()), (1, 1));
    doomed.kill();
    assert!(
        closed_by_peer(&mut a),
        "the client of the killed upstream stayed open"
    );
    for i in 0..20u64 {
        ping(&mut b, &pattern(i, 5000));
    }
    // The killed upstream's pair ends once its client has gone too; the other one is live.
    drop(a);
    let label = format!("upstream=\"{}\"", doomed.addr);
    let ended = wait_for(Duration::from_secs(5), || {
        (p.metric("corio_proxy_upstream_connections_active", &label) == 0).then_some(())
    });
    assert!(ended.is_some(), "{}", p.metrics());
    let label = format!("upstream=\"{}\"", other.addr);
    assert_eq!(
        p.metric("corio_proxy_upstream_connections_active", &label),
        1
    );
    ping(&mut b, b"last");
}

/// Clients that reset mid-transfer: the proxy closes both sides, and its fd count comes back
/// to where it was.
#[test]
fn client_reset_releases_every_fd() {
    let echo = Echo::start();
    let p = proxy(&[echo.addr.to_string()], &[]);
    let baseline = p.fds();
    let mut warm = connect(p.addr());
    ping(&mut warm, b"warm");
    drop(warm);
    let mut conns: Vec<TcpStream> = (0..50).map(|_| connect(p.addr())).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        ping(c, &pattern(i as u64, 2000));
        // Leave bytes in flight toward the proxy, then reset.
        c.write_all(&pattern(i as u64, 100_000)).unwrap();
        support::set_linger_zero(c);
    }
    drop(conns);
    let fds = wait_for(Duration::from_secs(10), || {
        (p.fds() == baseline).then_some(())
    });
    assert!(fds.is_some(), "fds {} vs baseline {baseline}", p.fds());
    assert_eq!(p.metric("corio_proxy_client_connections_active", ""), 0);
    assert_eq!(p.metric("corio_proxy_upstream_connections_active", ""), 0);
    assert!(
        p.metric("corio_proxy_pair_errors_total", "") > 0,
        "no reset was seen"
    );
}

/// No byte either way for the idle timeout: both sides closed. A pair that keeps talking is
/// left alone.
#[test]
fn idle_timeout_closes_quiet_pairs_only() {
    let echo = Echo::start();
    let p = proxy(&[echo.addr.to_string()], &["--idle-timeout", "300ms"]);
    let mut quiet = connect(p.addr());
    ping(&mut quiet, b"hello");
    let mut busy = connect(p.addr());
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(900) {
        ping(&mut busy, b"still here");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(closed_by_peer(&mut quiet), "the quiet pair was not closed");
    assert!(start.elapsed() >= Duration::from_millis(300));
    ping(&mut busy, b"and still");
    assert_eq!(p.metric("corio_proxy_idle_timeouts_total", ""), 1);
}

/// --max-conns counts across workers and queues: at the limit the listener stops accepting,
/// so the next client waits in the backlog (neither closed nor served) and is served once a
/// pair ends; the live count never exceeds the limit, and /status says the listener paused.
#[test]
fn max_conns_queues_clients_in_the_backlog() {
    let echo = Echo::start();
    let p = proxy(&[echo.addr.to_string()], &["--max-conns", "3"]);
    let mut live: Vec<TcpStream> = (0..3).map(|_| connect(p.addr())).collect();
    for c in &mut live {
        ping(c, b"in");
    }
    let mut waiting = connect(p.addr());
    waiting.write_all(b"queued").unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buf = [0u8; 6];
    let err = std::io::Read::read(&mut waiting, &mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "the client over the limit was served or closed: {err}"
    );
    assert_eq!(p.metric("corio_proxy_client_connections_active", ""), 3);
    assert!(p.metric("corio_proxy_listener_paused_total", "") > 0);
    assert_eq!(p.metric("corio_proxy_listener_accepting", ""), 0);
    let status = p.status();
    assert_eq!(status["listeners"][0]["accepting"], false, "{status}");
    assert_eq!(status["listeners"][0]["max_conns"], 3, "{status}");
    drop(live.pop());
    // The waiting client is served now, with the bytes it sent while it waited.
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Read::read_exact(&mut waiting, &mut buf).unwrap();
    assert_eq!(&buf, b"queued");
    live.push(waiting);
    for c in &mut live {
        ping(c, b"unaffected");
    }
    assert_eq!(p.metric("corio_proxy_client_connections_active", ""), 3);
    assert_eq!(p.metric("corio_proxy_fd_limit_total", ""), 0);
}

/// A client that sends without ever reading: the echo stalls, the proxy stops reading it
/// (backpressure), and the proxy's memory stays bounded.
#[test]
fn client_that_never_reads_keeps_rss_bounded() {
    let echo = Echo::start();
    let p = proxy(&[echo.addr.to_string()], &[]);
    let mut warm = connect(p.addr());
    ping(&mut warm, b"warm");
    let before = p.rss_kib();
    let mut s = connect(p.addr());
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = pattern(1, 1 << 20);
    let mut sent = 0usize;
    while sent < 256 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // the whole path is full
        }
    }
    assert!(
        sent < 256 << 20,
        "256 MiB went in without the client reading"
    );
    let after = p.rss_kib();
    assert!(
        after < before + 8 * 1024,
        "proxy RSS grew from {before} KiB to {after} KiB with {sent} bytes stalled"
    );
    assert_eq!(
        p.metric("corio_proxy_buffers_in_use", ""),
        2,
        "{}",
        p.metrics()
    );
    ping(&mut warm, b"others unaffected");
}
