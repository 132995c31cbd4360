//! PROXY protocol both ways (HAProxy's send-proxy / accept-proxy): the exact bytes a
//! recording upstream receives for IPv4 and IPv6 clients, v1 and v2; headers taken in and
//! their addresses sent on; LOCAL; TLVs skipped; payload in the same segment as the header
//! forwarded whole; malformed and slow headers closed before any upstream, and counted.
//! Buffered and splice. Runs under the driver CORIO_DRIVER names (./test.sh runs both).

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use support::{closed_by_peer, connect, proxy_config, send_and_close, Proxy, Recorder};

const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// The v1 line for `src` -> `dst`, written out by hand from the spec.
fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// The v2 header for `src` -> `dst`, written out by hand from the spec.
fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = SIG.to_vec();
    let octets = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    if src.is_ipv4() {
        h.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
    } else {
        h.extend_from_slice(&[0x21, 0x21, 0x00, 36]);
    }
    h.extend(octets(src.ip()));
    h.extend(octets(dst.ip()));
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Every upstream connection starts with the header for the real client, byte-exact, and the
/// client's bytes follow unchanged.
#[test]
fn send_proxy_headers_are_byte_exact() {
    let mut families = vec!["127.0.0.1:0"];
    if ipv6_loopback() {
        families.push("[::1]:0");
    } else {
        println!("skipped the IPv6 cases: no ::1 on this machine");
    }
    for listen in families {
        for version in ["v1", "v2"] {
            for copy in ["buffered", "splice"] {
                let rec = Recorder::start();
                let up = rec.addr.to_string();
                let proxy = Proxy::start(&[
                    "--listen",
                    listen,
                    "--upstream",
                    &up,
                    "--send-proxy",
                    version,
                    "--copy",
                    copy,
                    "--workers",
                    "1",
                ]);
                let mut c = connect(proxy.addr());
                let me = c.local_addr().unwrap();
                c.write_all(b"hello through the proxy").unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                c.read_to_end(&mut rest).unwrap();
                let got = &rec.wait(1)[0].bytes;
                let header = match version {
                    "v1" => v1(me, proxy.addr()),
                    _ => v2(me, proxy.addr()),
                };
                let want = [&header[..], b"hello through the proxy"].concat();
                assert_eq!(
                    got,
                    &want,
                    "{listen} {version} {copy}: got {:?}",
                    String::from_utf8_lossy(got)
                );
            }
        }
    }
}

/// accept-proxy: the header's addresses (v1 or v2, IPv4 or IPv6, TLVs skipped) go on in the
/// send-proxy header, and the payload that came in the same write follows byte-exact.
#[test]
fn accept_proxy_addresses_are_sent_on() {
    let rec = Recorder::start();
    for (copy, out) in [("buffered", "v2"), ("splice", "v1")] {
        let proxy = Proxy::start(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &rec.addr.to_string(),
            "--accept-proxy",
            "--send-proxy",
            out,
            "--copy",
            copy,
            "--workers",
            "1",
        ]);
        let before = rec.count();
        let src4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let dst4: SocketAddr = "198.51.100.9:443".parse().unwrap();
        let src6: SocketAddr = "[2001:db8::7]:40001".parse().unwrap();
        let dst6: SocketAddr = "[2001:db8::9]:8443".parse().unwrap();
        // v2 IPv6 with two TLVs (ALPN, authority) inside its length.
        let mut in6 = v2(src6, dst6);
        let tlvs = [&[0x01, 0x00, 0x02][..], b"h2", &[0x02, 0x00, 0x03], b"a.b"].concat();
        in6[15] += tlvs.len() as u8;
        in6.extend_from_slice(&tlvs);
        let payload = support::pattern(3, 100_000);
        let cases = [(v1(src4, dst4), src4, dst4), (in6, src6, dst6)];
        for (header, _, _) in &cases {
            let back = send_and_close(proxy.addr(), &[&header[..], &payload].concat());
            assert!(back.is_empty());
        }
        let got = rec.wait(before + 2);
        for (header, src, dst) in &cases {
            let want_header = match out {
                "v1" => v1(*src, *dst),
                _ => v2(*src, *dst),
            };
            let want = [&want_header[..], &payload].concat();
            assert!(
                got[before..].iter().any(|r| r.bytes == want),
                "{copy}: no upstream connection got the header for {src} ({:?})",
                String::from_utf8_lossy(&header[..20.min(header.len())])
            );
        }
    }
}

/// A LOCAL header (a balancer's health check) keeps the connection's own addresses.
#[test]
fn accept_proxy_local_uses_the_connection() {
    let rec = Recorder::start();
    let proxy = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &rec.addr.to_string(),
        "--accept-proxy",
        "--send-proxy",
        "v1",
        "--workers",
        "1",
    ]);
    let mut c = connect(proxy.addr());
    let me = c.local_addr().unwrap();
    let local = [SIG, &[0x20, 0x00, 0x00, 0x00], b"ping"].concat();
    c.write_all(&local).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let got = &rec.wait(1)[0].bytes;
    assert_eq!(got, &[&v1(me, proxy.addr())[..], b"ping"].concat());
}

/// A malformed header and a header that never completes: closed before any upstream is
/// contacted, each counted under its reason; a client that sends nothing is timed out too.
#[test]
fn bad_and_slow_headers_are_closed_and_counted() {
    let rec = Recorder::start();
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 1\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
         upstreams = [\"{}\"]\naccept-proxy = true\nproxy-header-timeout = \"300ms\"\n",
        rec.addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    let mut bad = connect(proxy.addr());
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(closed_by_peer(&mut bad));
    let start = Instant::now();
    let mut slow = connect(proxy.addr());
    slow.write_all(b"PROXY TCP4 192.0.2.1 19").unwrap();
    assert!(closed_by_peer(&mut slow));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let mut silent = connect(proxy.addr());
    assert!(closed_by_peer(&mut silent));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rec.count(), 0, "no upstream was contacted");
    let m = proxy.metrics();
    let refused = |reason: &str| {
        support::metric_value(
            &m,
            "corio_proxy_client_refused_total",
            &format!("reason=\"{reason}\""),
        )
    };
    assert_eq!(refused("proxy_header_malformed"), 1, "{m}");
    assert_eq!(refused("proxy_header_timeout"), 2, "{m}");
    assert!(proxy
        .stderr()
        .iter()
        .any(|l| l.contains("proxy_header_malformed")));
}

/// The access log names the real client (the header's), the balancer it came through (`via`),
/// and a client refused for a bad header (`end` refused, with the reason).
#[test]
fn the_access_log_names_the_real_client() {
    let rec = Recorder::start();
    let log = support::TempPath::new("access.log");
    let text = format!(
        "workers = 1\naccess-log = \"{}\"\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
         upstreams = [\"{}\"]\naccept-proxy = true\n",
        log.str(),
        rec.addr
    );
    let (mut proxy, _file) = proxy_config(&text, 1);
    let mut c = connect(proxy.addr());
    let via = c.local_addr().unwrap();
    c.write_all(b"PROXY TCP4 192.0.2.7 192.0.2.1 40000 443\r\nhello")
        .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let _ = c.read_to_end(&mut Vec::new());
    rec.wait(1);
    send_and_close(proxy.addr(), b"not a header\r\n");
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit(Duration::from_secs(10)).unwrap().success());
    let text = std::fs::read_to_string(&log.0).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let served = lines.iter().find(|l| l["end"] == "done").expect(&text);
    assert_eq!(served["client"], "192.0.2.7:40000");
    assert_eq!(served["via"], via.to_string());
    assert_eq!(served["bytes_up"], 5);
    let refused = lines.iter().find(|l| l["end"] == "refused").expect(&text);
    assert_eq!(refused["refused"], "proxy_header_malformed");
    assert_eq!(refused["upstream"], serde_json::Value::Null);
}
