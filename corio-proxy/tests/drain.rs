//! Graceful drain on SIGTERM / SIGINT: listeners closed at once (new connects refused),
//! in-flight pairs finish, /metrics stays up, exit 0; pairs still open at the drain timeout are
//! closed. Runs under both drivers.

mod support;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;
use support::{closed_by_peer, connect, http_get, metric_value, ping, wait_for, Echo, Proxy};

fn refused(addr: std::net::SocketAddr) -> bool {
    matches!(TcpStream::connect(addr), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

#[test]
fn sigterm_drains_then_exits_zero() {
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let mut p = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
        "--admin",
        "127.0.0.1:0",
        "--drain-timeout",
        "20s",
    ]);
    let addr = p.addr();
    let admin = p.admin.unwrap();
    let mut live: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    for c in &mut live {
        ping(c, b"before");
    }
    p.signal(libc::SIGTERM);
    let gone = wait_for(Duration::from_secs(5), || refused(addr).then_some(()));
    assert!(gone.is_some(), "new connects still accepted after SIGTERM");
    // In-flight pairs carry on, and /metrics answers while they do.
    for c in &mut live {
        ping(c, &support::pattern(3, 100_000));
    }
    let (status, body) = http_get(admin, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(metric_value(&body, "corio_proxy_draining", ""), 1);
    assert_eq!(
        metric_value(&body, "corio_proxy_client_connections_active", ""),
        4
    );
    // /status says the same: the process, draining, its listener not accepting, 4 pairs live.
    let s = p.status();
    assert_eq!(s["pid"], p.pid(), "{s}");
    assert_eq!(s["draining"], true, "{s}");
    assert_eq!(s["generation"], 1, "{s}");
    assert_eq!(s["listeners"][0]["listen"], addr.to_string(), "{s}");
    assert_eq!(s["listeners"][0]["accepting"], false, "{s}");
    assert_eq!(s["listeners"][0]["live"], 4, "{s}");
    assert_eq!(s["upstreams"][0]["listener"], addr.to_string(), "{s}");
    assert_eq!(s["upstreams"][0]["addr"], up, "{s}");
    assert_eq!(s["upstreams"][0]["live"], 4, "{s}");
    assert_eq!(s["upstreams"][0]["state"], "up", "{s}");
    assert!(
        p.wait_exit(Duration::from_millis(300)).is_none(),
        "exited with pairs live"
    );
    drop(live);
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("the proxy did not exit");
    assert_eq!(status.code(), Some(0), "{:?}", p.stderr());
    assert!(
        p.stderr().iter().any(|l| l.contains("drained (0 clients")),
        "{:?}",
        p.stderr()
    );
}

#[test]
fn drain_timeout_closes_what_is_left() {
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let mut p = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
        "--drain-timeout",
        "500ms",
    ]);
    let mut stuck = connect(p.addr());
    ping(&mut stuck, b"never closes");
    p.signal(libc::SIGINT);
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("the proxy did not exit");
    assert_eq!(status.code(), Some(0), "{:?}", p.stderr());
    assert!(
        closed_by_peer(&mut stuck),
        "the pair left open was not closed"
    );
    assert!(
        p.stderr().iter().any(|l| l.contains("drained (1 clients")),
        "{:?}",
        p.stderr()
    );
}
