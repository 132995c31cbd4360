//! Upstream entries and choice: weights 3:1 over 400 clients, backups while every primary is
//! down, hash-source keeping each client (127.0.0.2 ... 127.0.0.20) on its upstream and moving
//! only the clients of one that stops, a host-name upstream (`--upstream localhost:PORT`),
//! and active health checks marking an upstream down and up within generous bounds of
//! fall x interval and rise x interval, with send/expect, once per process.

mod support;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};
use support::{
    connect_from, proxy_config, round_trip, send_and_close, wait_for, Echo, Proxy, Recorder,
};

/// One client exchange: connect, one echoed message, close.
fn exchange(addr: SocketAddr) {
    let back = round_trip(addr, b"weighed".to_vec());
    assert_eq!(back, b"weighed");
}

#[test]
fn weights_spread_three_to_one() {
    let (a, b) = (Echo::start(), Echo::start());
    let text = format!(
        "workers = 2\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
         upstreams = [{{ addr = \"{}\", weight = 3 }}, {{ addr = \"{}\", weight = 1 }}]\n",
        a.addr, b.addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    for _ in 0..400 {
        exchange(proxy.addr());
    }
    let (na, nb) = (a.accepted(), b.accepted());
    assert_eq!(na + nb, 400);
    assert!((270..=330).contains(&na), "3:1 within 10 %: {na}:{nb}");
}

/// Connections that carried a client's bytes (health checks carry none).
fn clients_of(r: &Recorder) -> usize {
    r.got
        .lock()
        .unwrap()
        .iter()
        .filter(|c| !c.bytes.is_empty() && !c.bytes.starts_with(b"PING"))
        .count()
}

#[test]
fn backups_serve_only_while_every_primary_is_down() {
    // Down by active checks on one listener, skipped by passive health on the other.
    let (a, backup) = (Recorder::start(), Recorder::start());
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 1\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\n\
         upstreams = [\"{a}\", {{ addr = \"{b}\", backup = true }}]\n\
         health-check = \"tcp\"\nhealth-interval = \"100ms\"\nhealth-fall = 1\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nmax-fails = 1\n\
         upstreams = [\"{a}\", {{ addr = \"{b}\", backup = true }}]\n",
        a = a.addr,
        b = backup.addr
    );
    let (proxy, _file) = proxy_config(&text, 2);
    for l in &proxy.listen {
        for _ in 0..10 {
            send_and_close(*l, b"to a primary");
        }
    }
    wait_for(Duration::from_secs(10), || {
        (clients_of(&a) == 20).then_some(())
    });
    assert_eq!((clients_of(&a), clients_of(&backup)), (20, 0));
    let addr = a.addr;
    drop(a);
    let label = format!(
        "listener=\"{}\",route=\"default\",upstream=\"{addr}\"",
        proxy.listen[0]
    );
    wait_for(Duration::from_secs(10), || {
        (proxy.metric("corio_proxy_upstream_up", &label) == 0).then_some(())
    })
    .expect("the primary is marked down");
    for l in &proxy.listen {
        for _ in 0..10 {
            send_and_close(*l, b"to the backup");
        }
    }
    wait_for(Duration::from_secs(10), || {
        (clients_of(&backup) == 20).then_some(())
    });
    assert_eq!(clients_of(&backup), 20);
}

/// Which upstream each client's connection reached, read from the PROXY header each
/// recording upstream got: client IP -> upstream index.
fn placements(recs: &[Recorder], seen: &mut [usize]) -> HashMap<IpAddr, usize> {
    let mut out = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        let got = r.got.lock().unwrap();
        for rec in &got[seen[i]..] {
            let line = String::from_utf8_lossy(&rec.bytes);
            let ip: IpAddr = line.split(' ').nth(2).unwrap().parse().unwrap();
            assert!(out.insert(ip, i).is_none(), "{ip} reached two upstreams");
        }
        seen[i] = got.len();
    }
    out
}

#[test]
fn hash_source_keeps_clients_and_moves_only_those_of_a_stopped_upstream() {
    let mut recs = vec![Recorder::start(), Recorder::start(), Recorder::start()];
    let text = format!(
        "workers = 2\n[[listener]]\nlisten = \"127.0.0.1:0\"\nbalance = \"hash-source\"\n\
         send-proxy = \"v1\"\nupstreams = [\"{}\", \"{}\", \"{}\"]\n",
        recs[0].addr, recs[1].addr, recs[2].addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    let clients: Vec<IpAddr> = (2..=20).map(|i| IpAddr::from([127, 0, 0, i])).collect();
    let round = |recs: &[Recorder], seen: &mut [usize]| {
        for &c in &clients {
            let mut s = connect_from(c, proxy.addr());
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
        }
        let total = clients.len() + seen.iter().sum::<usize>();
        wait_for(Duration::from_secs(10), || {
            (recs.iter().map(Recorder::count).sum::<usize>() >= total).then_some(())
        })
        .expect("every client reached an upstream");
        placements(recs, seen)
    };
    let mut seen = vec![0; 3];
    let first = round(&recs, &mut seen);
    assert_eq!(first.len(), clients.len());
    let used: std::collections::HashSet<_> = first.values().collect();
    assert!(used.len() >= 2, "19 clients on one upstream: {first:?}");
    assert_eq!(round(&recs, &mut seen), first, "a client changed upstream");
    // Stop the upstream with the most clients: only its clients move.
    let stopped = (0..3)
        .max_by_key(|i| first.values().filter(|v| *v == i).count())
        .unwrap();
    let gone = recs.remove(stopped);
    seen.remove(stopped);
    drop(gone);
    let after = round(&recs, &mut seen);
    for (c, before) in &first {
        let now = after[c] + usize::from(after[c] >= stopped);
        if *before == stopped {
            assert_ne!(now, stopped);
        } else {
            assert_eq!(now, *before, "{c} moved though its upstream stayed");
        }
    }
}

#[test]
fn a_host_name_upstream_resolves() {
    let echo = Echo::start();
    let up = format!("localhost:{}", echo.addr.port());
    let proxy = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "1",
        "--admin",
        "127.0.0.1:0",
    ]);
    for _ in 0..5 {
        exchange(proxy.addr());
    }
    assert_eq!(echo.accepted(), 5);
    let label = format!("upstream=\"127.0.0.1:{}\"", echo.addr.port());
    assert_eq!(
        proxy.metric("corio_proxy_upstream_connect_errors_total", &label),
        0
    );
}

#[test]
fn health_checks_mark_down_and_up_once_per_process() {
    let mut a = Echo::start();
    let good = Recorder::with_reply(b"+PONG\r\n".to_vec(), 6);
    let bad = Recorder::with_reply(b"-ERR\r\n".to_vec(), 6);
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 2\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{}\"]\n\
         health-check = \"tcp\"\nhealth-interval = \"100ms\"\nhealth-fall = 3\nhealth-rise = 2\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{}\", \"{}\"]\n\
         health-check = \"tcp\"\nhealth-interval = \"100ms\"\nhealth-send = \"PING\\r\\n\"\n\
         health-expect = \"+PONG\"\n",
        a.addr, good.addr, bad.addr
    );
    let (proxy, _file) = proxy_config(&text, 2);
    let up =
        |addr: SocketAddr| proxy.metric("corio_proxy_upstream_up", &format!("upstream=\"{addr}\""));
    // send/expect: the upstream with the wrong answer goes down, the other stays up.
    wait_for(Duration::from_secs(10), || {
        (up(bad.addr) == 0).then_some(())
    })
    .expect("the upstream answering -ERR is marked down");
    assert_eq!(up(good.addr), 1);
    for _ in 0..4 {
        send_and_close(proxy.listen[1], b"only to the good one");
    }
    wait_for(Duration::from_secs(10), || {
        (clients_of(&good) == 4).then_some(())
    })
    .expect("every client reached the upstream that answers +PONG");
    assert_eq!(clients_of(&bad), 0);
    // Once per process: two workers, 100 ms apart, for one second.
    let before = good.count();
    std::thread::sleep(Duration::from_secs(1));
    let checks = good.count() - before;
    assert!(
        (3..=14).contains(&checks),
        "{checks} checks in 1 s at 100 ms"
    );
    // Down within fall x interval (3 x 100 ms, plus the checks' own time: bound 3 s) ...
    let addr = a.addr;
    a.kill();
    let start = Instant::now();
    wait_for(Duration::from_secs(10), || (up(addr) == 0).then_some(())).expect("marked down");
    let down = start.elapsed();
    let status = proxy.status();
    let row = status["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["addr"] == addr.to_string())
        .cloned();
    assert_eq!(row.unwrap()["state"], "down", "{status}");
    assert!(
        down >= Duration::from_millis(150) && down < Duration::from_secs(3),
        "{down:?}"
    );
    // ... and up within rise x interval once something listens again.
    let listener = TcpListener::bind(addr).unwrap();
    let start = Instant::now();
    wait_for(Duration::from_secs(10), || (up(addr) == 1).then_some(())).expect("marked up");
    let back = start.elapsed();
    assert!(back < Duration::from_secs(3), "{back:?}");
    drop(listener);
    let log = proxy.stderr();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("upstream {addr} is down"))),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("upstream {addr} is up"))),
        "{log:?}"
    );
}
