//! Source ACLs and max-conns-per-source: checked on the client's address (the PROXY header's
//! with accept-proxy) before any upstream is contacted; deny wins; IPv4-mapped IPv6 matches
//! IPv4 rules; refused clients are closed and counted.

mod support;

use std::io::Write;
use std::net::{IpAddr, Shutdown};
use std::time::Duration;
use support::{
    closed_by_peer, connect, connect_from, ping, proxy_config, send_and_close, wait_for, Echo,
    Recorder,
};

fn refused(proxy: &support::Proxy, reason: &str) -> u64 {
    proxy.metric(
        "corio_proxy_client_refused_total",
        &format!("reason=\"{reason}\""),
    )
}

#[test]
fn allow_and_deny_by_source() {
    let rec = Recorder::start();
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 1\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{r}\"]\n\
         allow = [\"127.0.0.0/8\"]\ndeny = [\"127.0.0.3\", \"127.0.9.0/24\"]\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{r}\"]\naccept-proxy = true\n\
         allow = [\"192.0.2.0/24\", \"2001:db8::/32\"]\ndeny = [\"::ffff:192.0.2.128/121\"]\n",
        r = rec.addr
    );
    let (proxy, _file) = proxy_config(&text, 2);
    let from = |ip: [u8; 4]| {
        let mut s = connect_from(IpAddr::from(ip), proxy.listen[0]);
        // A denied client may be closed (reset, its bytes unread) before it writes or shuts
        // down: those calls then fail, which is the outcome. What reached the upstream is
        // checked below.
        let _ = s.write_all(&ip);
        let _ = s.shutdown(Shutdown::Write);
        closed_by_peer(&mut s);
    };
    from([127, 0, 0, 2]);
    from([127, 0, 0, 3]);
    from([127, 0, 9, 9]);
    from([127, 0, 0, 4]);
    // Through a PROXY header: allowed, denied by the (mapped) deny rule, outside the allow
    // list, IPv6 allowed, IPv4-mapped IPv6 matched as IPv4.
    let headers = [
        ("PROXY TCP4 192.0.2.7 192.0.2.1 5000 80\r\n", true),
        ("PROXY TCP4 192.0.2.200 192.0.2.1 5000 80\r\n", false),
        ("PROXY TCP4 198.51.100.1 192.0.2.1 5000 80\r\n", false),
        ("PROXY TCP6 2001:db8::5 2001:db8::1 5000 80\r\n", true),
        ("PROXY TCP6 ::ffff:192.0.2.9 ::1 5000 80\r\n", true),
        ("PROXY TCP6 ::ffff:192.0.2.130 ::1 5000 80\r\n", false),
    ];
    for (h, _) in headers {
        send_and_close(proxy.listen[1], &[h.as_bytes(), b"hi"].concat());
    }
    let allowed = 2 + headers.iter().filter(|(_, ok)| *ok).count();
    let got = rec.wait(allowed);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        rec.count(),
        allowed,
        "a denied client reached the upstream: {got:?}"
    );
    let mut direct: Vec<Vec<u8>> = got
        .into_iter()
        .map(|r| r.bytes)
        .filter(|b| b.len() == 4)
        .collect();
    direct.sort();
    assert_eq!(direct, [vec![127, 0, 0, 2], vec![127, 0, 0, 4]]);
    assert_eq!(refused(&proxy, "acl_denied"), 2 + 3);
}

#[test]
fn max_conns_per_source_closes_the_extra_client_at_once() {
    let echo = Echo::start();
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 2\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
         upstreams = [\"{}\"]\nmax-conns-per-source = 2\n",
        echo.addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    let a = IpAddr::from([127, 0, 0, 2]);
    let mut held: Vec<_> = (0..2).map(|_| connect_from(a, proxy.addr())).collect();
    for s in &mut held {
        ping(s, b"held");
    }
    let mut extra = connect_from(a, proxy.addr());
    assert!(
        closed_by_peer(&mut extra),
        "the third client from one source is closed"
    );
    let mut other = connect_from(IpAddr::from([127, 0, 0, 3]), proxy.addr());
    ping(&mut other, b"another source");
    let mut plain = connect(proxy.addr());
    ping(&mut plain, b"127.0.0.1");
    drop(held.pop());
    let mut again = wait_for(Duration::from_secs(10), || {
        let mut s = connect_from(a, proxy.addr());
        s.write_all(b"x").ok()?;
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut s, &mut b).ok().map(|_| s)
    })
    .expect("a place is free again once a client of that source left");
    ping(&mut again, b"back");
    assert!(refused(&proxy, "max_conns_per_source") >= 1);
}

/// The traffic keys reload on SIGHUP: a deny rule removed lets the client in, for new
/// clients only; a reload naming a host that does not resolve is rejected and changes
/// nothing; a `unix:` listener added by a reload listens, and removed by one, its file goes.
#[test]
fn traffic_keys_reload_on_sighup() {
    let rec = Recorder::start();
    let cfg = support::TempPath::new("reload.toml");
    let sock = support::TempPath::new("added.sock");
    let write = |deny: &str, extra: &str| {
        let text = format!(
            "admin = \"127.0.0.1:0\"\nworkers = 1\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
             upstreams = [\"{}\"]\ndeny = [{deny}]\n{extra}",
            rec.addr
        );
        std::fs::write(&cfg.0, text).unwrap();
    };
    write("\"127.0.0.2\"", "");
    let proxy = support::Proxy::start_with(&["--config", cfg.str()], 1, &[]);
    let a = IpAddr::from([127, 0, 0, 2]);
    let mut denied = connect_from(a, proxy.addr());
    assert!(closed_by_peer(&mut denied));
    let reloaded = |n: u64| {
        wait_for(Duration::from_secs(10), || {
            (proxy.status()["generation"].as_u64() == Some(n)).then_some(())
        })
    };
    // The port 0 listener is matched by the address it bound.
    let listen = format!("\"{}\"", proxy.addr());
    let write_bound = |deny: &str, extra: &str| {
        write(deny, extra);
        let t = std::fs::read_to_string(&cfg.0).unwrap();
        std::fs::write(
            &cfg.0,
            t.replacen(
                "\"127.0.0.1:0\"\nupstreams",
                &format!("{listen}\nupstreams"),
                1,
            ),
        )
        .unwrap();
    };
    let unix = format!(
        "[[listener]]\nlisten = \"unix:{}\"\nupstreams = [\"{}\"]\n",
        sock.str(),
        rec.addr
    );
    write_bound("", &unix);
    proxy.signal(libc::SIGHUP);
    reloaded(2).expect("generation 2");
    let mut s = connect_from(a, proxy.addr());
    s.write_all(b"let in").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    closed_by_peer(&mut s);
    assert!(rec.wait(1).iter().any(|r| r.bytes == b"let in"));
    assert!(sock.0.exists(), "the unix: listener added by the reload");
    let mut u = std::os::unix::net::UnixStream::connect(&sock.0).unwrap();
    u.write_all(b"via unix").unwrap();
    u.shutdown(Shutdown::Write).unwrap();
    let _ = std::io::Read::read_to_end(&mut u, &mut Vec::new());
    // A name that does not resolve: rejected, generation 2 stays, the name is logged.
    let bad = format!(
        "{unix}[[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"nohost.invalid:1\"]\n"
    );
    write_bound("", &bad);
    proxy.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(10), || {
        proxy
            .stderr()
            .iter()
            .any(|l| l.contains("nohost.invalid"))
            .then_some(())
    })
    .expect("the rejected reload names the host");
    assert_eq!(proxy.status()["generation"], 2);
    // The unix: listener removed: its file goes.
    write_bound("", "");
    proxy.signal(libc::SIGHUP);
    reloaded(3).expect("generation 3");
    wait_for(Duration::from_secs(10), || (!sock.0.exists()).then_some(()))
        .expect("the removed listener's socket file is gone");
    assert!(rec.wait(2).iter().any(|r| r.bytes == b"via unix"));
}
