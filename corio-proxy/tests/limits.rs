//! Limits and file descriptors: under `ulimit -n 256`, 200 clients at once are all served
//! (the default max-conns comes from the fd limit, so the proxy never runs out and blames an
//! upstream); a process-wide max-conns caps all listeners together. Runs under the driver
//! `CORIO_DRIVER` names (test.sh runs it once per driver).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use support::{connect, fast_echo, ping, start_with_nofile, wait_for, Echo, Proxy, TempFile};

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
