//! Limits and file descriptors: under `ulimit -n 256`, 200 clients at once are all served
//! (the default max-conns comes from the fd limit, so the proxy never runs out and blames an
//! upstream); when it does run out (max-conns above what the fd limit allows), that is the
//! proxy's own trouble, not the upstream's; a process-wide max-conns caps all listeners together. Runs under the driver
//! `CORIO_DRIVER` names (test.sh runs it once per driver).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use support::{
    closed_by_peer, connect, fast_echo, ping, start_with_nofile, wait_for, Echo, Proxy, TempFile,
};

/// 200 clients at once, each one exchange then close, through a proxy limited to 256 fds:
/// every client is served, none reset, and the upstream stays up.
#[test]
fn two_hundred_clients_under_ulimit_256_are_all_served() {
    let echo = fast_echo();
    let up = echo.to_string();
    let p = start_with_nofile(
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--workers",
            "2",
            "--admin",
            "127.0.0.1:0",
        ],
        256,
    );
    let status = p.status();
    let max = status["max_conns"].as_u64().unwrap();
    assert!(
        (50..128).contains(&max),
        "max-conns from ulimit -n 256: {status}"
    );
    let addr = p.addr();
    let go = Arc::new(Barrier::new(200));
    let clients: Vec<_> = (0..200u64)
        .map(|i| {
            let go = go.clone();
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    go.wait();
                    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let msg = support::pattern(i, 64);
                    s.write_all(&msg).map_err(|e| format!("write: {e}"))?;
                    // Hold the pair a moment, so that far more clients than the limit overlap.
                    std::thread::sleep(Duration::from_millis(100));
                    let mut back = [0u8; 64];
                    s.read_exact(&mut back).map_err(|e| format!("read: {e}"))?;
                    (back[..] == msg[..])
                        .then_some(())
                        .ok_or("wrong bytes".to_string())
                })
                .unwrap()
        })
        .collect();
    let failed: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().unwrap().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 200 failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let status = p.status();
    assert_eq!(status["upstreams"][0]["state"], "up", "{status}");
    assert_eq!(status["upstreams"][0]["fails"], 0, "{status}");
    assert_eq!(p.metric("corio_proxy_fd_limit_total", ""), 0);
    assert_eq!(p.metric("corio_proxy_client_connections_total", ""), 200);
    assert!(
        p.metric("corio_proxy_listener_paused_total", "") > 0,
        "the limit was never reached"
    );
}

/// Running out of descriptors after an accept (max-conns set above what the fd limit allows;
/// here the limit is lowered under the running proxy until one descriptor is left): the client
/// is closed, logged as "out of file descriptors" and counted, and the upstream's health is
/// untouched; with room again, clients are served.
#[test]
fn running_out_of_fds_is_the_proxys_not_the_upstreams() {
    let echo = fast_echo();
    let up = echo.to_string();
    let log = TempFile::path(".log");
    let p = Proxy::start(&[
        "--access-log",
        log.as_str(),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "1",
        "--admin",
        "127.0.0.1:0",
        "--max-fails",
        "1",
    ]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect(p.addr())).collect();
    for c in &mut held {
        ping(c, b"held");
    }
    let limit = one_free_slot(p.pid());
    set_nofile(p.pid(), limit);
    // The accept takes the last descriptor; the upstream connect finds none.
    let mut c = connect(p.addr());
    assert!(
        closed_by_peer(&mut c),
        "the client was served without a descriptor"
    );
    let line = p.wait_line("out of file descriptors", Duration::from_secs(5));
    let line = line.unwrap_or_else(|| panic!("{:?}", p.stderr()));
    assert!(line.contains(&format!("(limit {limit})")), "{line}");
    assert_eq!(p.metric("corio_proxy_fd_limit_total", ""), 1);
    // The access log says why the pair ended (the writer flushes at least every second).
    let record = wait_for(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log.0).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["end"] == "fd_limit")
    });
    let record = record.unwrap_or_else(|| panic!("no fd_limit record: {:?}", log.0));
    assert_eq!(
        (record["bytes_up"].as_u64(), record["bytes_down"].as_u64()),
        (Some(0), Some(0)),
        "{record}"
    );
    let status = p.status();
    assert_eq!(status["upstreams"][0]["state"], "up", "{status}");
    assert_eq!(status["upstreams"][0]["fails"], 0, "{status}");
    set_nofile(p.pid(), 1024);
    let mut again = connect(p.addr());
    ping(&mut again, b"room again");
    for c in &mut held {
        ping(c, b"unaffected");
    }
}

/// No descriptor left at all when a client arrives: the accept fails with EMFILE, and corio's
/// accept backs off (5 ms doubling to 1 s) and retries: no spin (the process stays near idle),
/// the listener stays open, and with room again the client that waited in the backlog is
/// served; the upstream is untouched.
#[test]
fn out_of_fds_on_accept_pauses_then_resumes() {
    let echo = fast_echo();
    let up = echo.to_string();
    let p = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "1",
        "--admin",
        "127.0.0.1:0",
    ]);
    let mut c = connect(p.addr());
    ping(&mut c, b"before");
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    let limit = no_free_slot(p.pid());
    set_nofile(p.pid(), limit);
    // On io_uring the accept already in the ring took its fd limit when it was submitted: it
    // takes the first client, whose upstream connect then finds no descriptor (closed, as
    // `running_out_of_fds_is_the_proxys_not_the_upstreams` tests). The accepts after it, and
    // every accept on epoll, fail.
    let _first = connect(p.addr());
    let mut waiting = connect(p.addr());
    waiting.write_all(b"waited").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_secs(p.pid());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_secs(p.pid()) - cpu;
    assert!(
        spent < 0.3,
        "{spent:.2} s of CPU in 1 s while out of fds: a spin"
    );
    set_nofile(p.pid(), 1024);
    let mut back = [0u8; 6];
    waiting.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"waited");
    assert_eq!(p.metric("corio_proxy_client_connections_total", ""), 3);
    let status = p.status();
    assert_eq!(status["upstreams"][0]["state"], "up", "{status}");
    ping(&mut connect(p.addr()), b"after");
}

/// User and system CPU time of `pid`, in seconds.
fn cpu_secs(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// An fd limit for `pid` under which no descriptor number is free.
fn no_free_slot(pid: i32) -> u64 {
    let open = open_fds(pid);
    (0..).find(|n| open.binary_search(n).is_err()).unwrap()
}

/// The descriptor numbers `pid` has open, sorted.
fn open_fds(pid: i32) -> Vec<u64> {
    let mut open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    open.sort_unstable();
    open
}

/// An fd limit for `pid` under which exactly one descriptor number is free.
fn one_free_slot(pid: i32) -> u64 {
    let open = open_fds(pid);
    let max = *open.last().unwrap();
    let holes: Vec<u64> = (0..max)
        .filter(|n| open.binary_search(n).is_err())
        .collect();
    match holes.len() {
        0 => max + 2,
        1 => max + 1,
        _ => holes[1],
    }
}

fn set_nofile(pid: i32, n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit writes the current limit into `lim`, which lives for the call.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut lim) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    lim.rlim_cur = n;
    // SAFETY: prlimit reads `lim`, which lives for the call (the hard limit is unchanged).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Top-level max-conns caps both listeners together; the client beyond it waits and is served.
#[test]
fn process_max_conns_caps_all_listeners_together() {
    let echo = Echo::start();
    let text = format!(
        "workers = 2\nmax-conns = 3\nadmin = \"127.0.0.1:0\"\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{0}\"]\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{0}\"]\n",
        echo.addr
    );
    let file = TempFile::with(&text, ".toml");
    let p = Proxy::start_with(&["--config", file.as_str()], 2, &[]);
    let (one, two) = (p.listen[0], p.listen[1]);
    let mut live = vec![connect(one), connect(two), connect(one)];
    for c in &mut live {
        ping(c, b"in");
    }
    let mut waiting = connect(two);
    waiting.write_all(b"wait").unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 4];
    assert!(
        waiting.read(&mut buf).is_err(),
        "served beyond the process-wide limit"
    );
    let status = p.status();
    assert_eq!(status["max_conns"], 3, "{status}");
    assert!(status["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["accepting"] == false));
    drop(live.pop());
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    waiting.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"wait");
    let live_now = wait_for(Duration::from_secs(5), || {
        (p.metric("corio_proxy_client_connections_active", "") == 3).then_some(())
    });
    assert!(live_now.is_some());
}
