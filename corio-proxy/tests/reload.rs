//! SIGHUP: the config file is read again and applied as a new generation — a changed
//! upstream reaches new clients while a live pair keeps its own; listeners added and removed;
//! a file that does not validate is rejected naming the key, and the running config stays.
//! Without --config, SIGHUP changes nothing and the process lives on. Runs under the driver
//! `CORIO_DRIVER` names (test.sh runs it once per driver).

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::{closed_by_peer, connect, free_addr, ping, wait_for, Echo, Proxy, TempFile};

fn listener(listen: &str, upstream: SocketAddr) -> String {
    format!("[[listener]]\nlisten = \"{listen}\"\nupstreams = [\"{upstream}\"]\n")
}

const TOP: &str = "workers = 2\nadmin = \"127.0.0.1:0\"\ndrain-timeout = \"5s\"\n";

fn start(file: &TempFile, listeners: usize) -> Proxy {
    Proxy::start_with(&["--config", file.as_str()], listeners, &[])
}

/// Waits for the generation in /status to reach `g`.
fn wait_generation(p: &Proxy, g: u64) {
    let ok = wait_for(Duration::from_secs(5), || {
        (p.status()["generation"] == g).then_some(())
    });
    assert!(ok.is_some(), "generation {g} not reached: {:?}", p.stderr());
}

#[test]
fn sighup_moves_the_upstream_and_live_pairs_stay() {
    let (a, b) = (Echo::start(), Echo::start());
    let listen = free_addr().to_string();
    let file = TempFile::with(&format!("{TOP}{}", listener(&listen, a.addr)), ".toml");
    let p = start(&file, 1);
    assert_eq!(p.status()["generation"], 1);
    let mut live = connect(p.addr());
    ping(&mut live, b"to A");
    assert_eq!(a.accepted(), 1);

    file.write(&format!("{TOP}{}", listener(&listen, b.addr)));
    p.signal(libc::SIGHUP);
    // New clients reach B within a second.
    let moved = wait_for(Duration::from_secs(1), || {
        let mut c = connect(p.addr());
        ping(&mut c, b"where?");
        (b.accepted() > 0).then_some(())
    });
    assert!(moved.is_some(), "no client reached B: {:?}", p.stderr());
    wait_generation(&p, 2);
    let a_before = a.accepted();
    for _ in 0..5 {
        let mut c = connect(p.addr());
        ping(&mut c, b"to B");
    }
    assert_eq!(
        a.accepted(),
        a_before,
        "a new client went to A after the reload"
    );
    // The pair opened before the reload still talks to A.
    ping(&mut live, b"still A");
    assert_eq!(p.metric("corio_proxy_reloads_total", "ok"), 1);
    assert_eq!(p.metric("corio_proxy_config_generation", ""), 2);
    let status = p.status();
    assert_eq!(
        status["upstreams"][0]["addr"],
        b.addr.to_string(),
        "{status}"
    );
    assert!(
        p.stderr()
            .iter()
            .any(|l| l.contains("config generation 2 applied")),
        "{:?}",
        p.stderr()
    );
}

#[test]
fn sighup_adds_and_removes_listeners() {
    let echo = Echo::start();
    let (one, two) = (free_addr().to_string(), free_addr().to_string());
    let file = TempFile::with(&format!("{TOP}{}", listener(&one, echo.addr)), ".toml");
    let p = start(&file, 1);
    let mut on_one = connect(one.parse().unwrap());
    ping(&mut on_one, b"one");

    // Add `two`.
    let both = format!(
        "{TOP}{}{}",
        listener(&one, echo.addr),
        listener(&two, echo.addr)
    );
    file.write(&both);
    p.signal(libc::SIGHUP);
    wait_generation(&p, 2);
    let mut on_two = connect(two.parse().unwrap());
    ping(&mut on_two, b"two");
    assert_eq!(p.status()["listeners"].as_array().unwrap().len(), 2);

    // Remove `one`: it stops accepting, its live pair goes on.
    file.write(&format!("{TOP}{}", listener(&two, echo.addr)));
    p.signal(libc::SIGHUP);
    wait_generation(&p, 3);
    let refused = wait_for(Duration::from_secs(5), || {
        std::net::TcpStream::connect(&one).is_err().then_some(())
    });
    assert!(refused.is_some(), "the removed listener still accepts");
    ping(&mut on_one, b"one goes on");
    ping(&mut on_two, b"two goes on");
    let listeners = p.status()["listeners"].clone();
    assert_eq!(listeners.as_array().unwrap().len(), 1, "{listeners}");
    assert_eq!(listeners[0]["listen"], two);
}

#[test]
fn an_invalid_file_is_rejected_naming_the_key() {
    let echo = Echo::start();
    let listen = free_addr().to_string();
    let good = format!("{TOP}{}", listener(&listen, echo.addr));
    let file = TempFile::with(&good, ".toml");
    let p = start(&file, 1);
    file.write(&format!("{good}max-conns = \"lots\"\n"));
    p.signal(libc::SIGHUP);
    let line = p.wait_line("reload rejected", Duration::from_secs(5));
    let line = line.unwrap_or_else(|| panic!("no rejection: {:?}", p.stderr()));
    assert!(line.contains("listener[0].max-conns"), "{line}");
    assert!(line.contains("generation 1 stays"), "{line}");
    let mut c = connect(p.addr());
    ping(&mut c, b"old config serves");
    assert_eq!(p.metric("corio_proxy_reloads_total", "failed"), 1);
    assert_eq!(p.status()["generation"], 1);
    // A good file after a bad one applies.
    file.write(&good.replace("drain-timeout = \"5s\"", "drain-timeout = \"6s\""));
    p.signal(libc::SIGHUP);
    wait_generation(&p, 2);
}

#[test]
fn sighup_without_a_config_file_changes_nothing() {
    let echo = Echo::start();
    let up = echo.addr.to_string();
    let mut p = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
    ]);
    let mut c = connect(p.addr());
    ping(&mut c, b"before");
    p.signal(libc::SIGHUP);
    let line = p.wait_line("no config file to reload", Duration::from_secs(5));
    assert!(line.is_some(), "{:?}", p.stderr());
    assert!(
        p.wait_exit(Duration::from_millis(200)).is_none(),
        "SIGHUP ended the process"
    );
    ping(&mut c, b"after");
}

/// A changed timeout applies to new clients only: after a reload that sets a short idle
/// timeout, a new idle pair is closed by it, while a pair opened before the reload keeps the
/// default (10 minutes) it started with.
#[test]
fn sighup_changes_the_idle_timeout_for_new_clients_only() {
    let echo = Echo::start();
    let listen = free_addr().to_string();
    let l = listener(&listen, echo.addr);
    let file = TempFile::with(&format!("{TOP}{l}"), ".toml");
    let p = start(&file, 1);
    let mut before = connect(p.addr());
    ping(&mut before, b"opened before the reload");
    file.write(&format!("{TOP}{l}idle-timeout = \"200ms\"\n"));
    p.signal(libc::SIGHUP);
    wait_generation(&p, 2);
    let mut after = connect(p.addr());
    ping(&mut after, b"opened after");
    assert!(closed_by_peer(&mut after), "the new pair was not closed");
    std::thread::sleep(Duration::from_millis(300));
    ping(&mut before, b"idle as long, and still open");
}
