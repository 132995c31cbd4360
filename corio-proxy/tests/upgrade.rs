//! Changing the binary without losing a client, under a connect-per-request load (each
//! connection: connect, 64 B, read the echo, close; two client threads as fast as they go):
//!
//! - by listener hand-over: `--control PATH` on the running proxy, a new one started with
//!   `--takeover PATH --control PATH`, three times in a chain (the last one with balanced
//!   accept); long-lived pairs opened before
//!   each takeover keep working to their end, and each old process exits 0;
//! - by overlap: a second proxy started on the same port (SO_REUSEPORT), then SIGTERM to the
//!   first, eight times in a chain.
//!
//! Zero failed connections and zero wrong bytes, under the driver `CORIO_DRIVER` names (test.sh
//! runs this file once per driver).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::{command, connect, fast_echo, free_addr, ping, Load, Proxy, TempFile};

/// Connections each load thread has in flight at once.
const BURST: usize = 16;

/// A proxy with two workers on `listen` (port 0: any), its own --admin, and `extra` flags.
fn start(listen: &str, admin: &str, upstream: SocketAddr, extra: &[&str]) -> Proxy {
    let up = upstream.to_string();
    let mut args = vec![
        "--listen",
        listen,
        "--upstream",
        &up,
        "--workers",
        "2",
        "--admin",
        admin,
        "--drain-timeout",
        "10s",
    ];
    args.extend_from_slice(extra);
    Proxy::start_cmd(command(&args), 1)
}

fn assert_clean(what: &str, tally: &support::Tally) {
    assert!(tally.ok > 0, "{what}: no client was served");
    assert_eq!(
        (tally.failed, tally.wrong),
        (0, 0),
        "{what}: {} served, {} failed, {} wrong: {:?}",
        tally.ok,
        tally.failed,
        tally.wrong,
        tally.errors
    );
}

/// Three takeovers in a chain under load; long-lived pairs survive each; old processes exit 0.
#[test]
fn takeover_three_times_under_load_loses_nothing() {
    let echo = fast_echo();
    let control = TempFile::path(".sock");
    let ctl = control.as_str();
    let mut old = start("127.0.0.1:0", "127.0.0.1:0", echo, &["--control", ctl]);
    let addr = old.addr();
    let (listen, admin) = (addr.to_string(), old.admin.unwrap().to_string());
    let load = Load::start(addr, 2, BURST);
    std::thread::sleep(Duration::from_millis(200));
    for round in 1..=3 {
        let mut long: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
        for c in &mut long {
            ping(c, b"before the takeover");
        }
        // The last successor hands its clients out from worker 0 (`--accept balanced`), on
        // the two SO_REUSEPORT sockets it was given.
        let accept = if round == 3 { "balanced" } else { "reuseport" };
        let new = start(
            &listen,
            &admin,
            echo,
            &["--control", ctl, "--takeover", ctl, "--accept", accept],
        );
        let done = new.wait_line(
            "takeover: accepting on 1 listeners",
            Duration::from_secs(10),
        );
        assert!(done.is_some(), "round {round}: {:?}", new.stderr());
        assert_eq!(
            new.addr(),
            addr,
            "round {round}: the successor listens where the old did"
        );
        // The old process drains: its pairs carry on, and it stays until they end.
        for c in &mut long {
            ping(c, &support::pattern(round, 10_000));
        }
        assert!(
            old.wait_exit(Duration::from_millis(200)).is_none(),
            "exited with pairs live"
        );
        std::thread::sleep(Duration::from_millis(300));
        for c in &mut long {
            ping(c, b"still there");
        }
        drop(long);
        let status = old.wait_exit(Duration::from_secs(15));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "round {round}: {:?}",
            old.stderr()
        );
        let s = new.status();
        assert_eq!(s["generation"], round + 1, "{s}");
        assert!(new.metric("corio_proxy_takeovers_total", "taken") == 1);
        old = new;
    }
    std::thread::sleep(Duration::from_millis(200));
    let tally = load.stop();
    assert_clean("takeover", &tally);
    // The last one still serves, and drains to exit 0 on SIGTERM.
    old.signal(libc::SIGTERM);
    let status = old.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{:?}", old.stderr());
    assert!(
        !control.0.exists(),
        "the last process removes its control socket"
    );
}

/// Eight overlap restarts in a chain under load: a second proxy on the same port, then SIGTERM
/// to the first.
#[test]
fn overlap_restart_eight_times_under_load_loses_nothing() {
    let echo = fast_echo();
    let mut old = start("127.0.0.1:0", "127.0.0.1:0", echo, &[]);
    let addr = old.addr();
    let listen = addr.to_string();
    let load = Load::start(addr, 2, BURST);
    std::thread::sleep(Duration::from_millis(200));
    for round in 1..=8 {
        let new = start(&listen, "127.0.0.1:0", echo, &[]);
        std::thread::sleep(Duration::from_millis(100));
        old.signal(libc::SIGTERM);
        let status = old.wait_exit(Duration::from_secs(15));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "round {round}: {:?}",
            old.stderr()
        );
        old = new;
    }
    std::thread::sleep(Duration::from_millis(300));
    let tally = load.stop();
    assert_clean("overlap", &tally);
    assert!(
        old.stderr().iter().all(|l| !l.contains("ERROR")),
        "{:?}",
        old.stderr()
    );
}

/// `--takeover` where nothing listens: exit 1, naming the path; nothing started.
#[test]
fn takeover_from_nowhere_exits_1_naming_the_path() {
    let path = TempFile::path(".sock");
    let out = command(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:1",
        "--takeover",
        path.as_str(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(path.as_str()), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

/// A successor whose config has listeners B and C takes over from a process with A and B: B's
/// sockets are handed over (a load on B loses nothing), C is bound fresh, and A stays with the
/// old process, which stops accepting on it as a drain does, lets its pair on A finish, and
/// exits 0.
#[test]
fn takeover_with_a_changed_listener_set() {
    let echo = fast_echo();
    let control = TempFile::path(".sock");
    let ctl = control.as_str();
    let (a, b, c) = (free_addr(), free_addr(), free_addr());
    let config = |ls: &[SocketAddr]| {
        let mut t = String::from("workers = 2\nadmin = \"127.0.0.1:0\"\ndrain-timeout = \"10s\"\n");
        for l in ls {
            t += &format!("[[listener]]\nlisten = \"{l}\"\nupstreams = [\"{echo}\"]\n");
        }
        t
    };
    let (f1, f2) = (
        TempFile::with(&config(&[a, b]), ".toml"),
        TempFile::with(&config(&[b, c]), ".toml"),
    );
    let mut old = Proxy::start_with(&["--config", f1.as_str(), "--control", ctl], 2, &[]);
    let mut on_a = connect(a);
    ping(&mut on_a, b"a, before");
    let load = Load::start(b, 2, 4);
    std::thread::sleep(Duration::from_millis(200));
    let new = Proxy::start_with(
        &["--config", f2.as_str(), "--control", ctl, "--takeover", ctl],
        2,
        &[],
    );
    let done = new.wait_line(
        "takeover: accepting on 1 listeners",
        Duration::from_secs(10),
    );
    assert!(done.is_some(), "{:?}", new.stderr());
    // From the moment the successor says it took over, the admin socket (handed over with the
    // listeners) answers from the successor.
    for _ in 0..20 {
        let s = new.status();
        assert_eq!(
            s["pid"],
            new.pid(),
            "/status answered by the old process: {s}"
        );
    }
    let mut on_c = connect(c);
    ping(&mut on_c, b"c, bound fresh");
    let listening: Vec<String> = new.status()["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["listen"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listening, [b.to_string(), c.to_string()]);
    // A: the old process no longer accepts there, and its pair on A goes on.
    let closed = support::wait_for(Duration::from_secs(5), || {
        TcpStream::connect(a).is_err().then_some(())
    });
    assert!(closed.is_some(), "A still accepts: {:?}", old.stderr());
    ping(&mut on_a, b"a, still there");
    assert!(
        old.wait_exit(Duration::from_millis(200)).is_none(),
        "exited with a pair live on A"
    );
    drop(on_a);
    let status = old.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{:?}", old.stderr());
    std::thread::sleep(Duration::from_millis(200));
    assert_clean("takeover, changed listeners", &load.stop());
}
