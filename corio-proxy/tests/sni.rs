//! SNI routing for TLS passthrough, with real TLS clients (Python's ssl module, which is
//! OpenSSL): the route each server_name picks (exact before wildcard, case-insensitive, one
//! label per `*`), the default route, and the ClientHello arriving byte-exact at the chosen
//! upstream — also when it comes in several TCP segments, and with `--copy splice`. A real
//! handshake completes through the proxy. No route and no default, and a ClientHello that
//! never completes, are closed and counted. Skips with the reason where python3 (with ssl)
//! or openssl is missing.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{closed_by_peer, connect, proxy_config, send_and_close, Proxy, Recorder, TempPath};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/scripts/tls_client_hello.py"
);

/// The Python interpreter itself (not a version manager's shim, which costs 0.4 s a call
/// here), if it has its ssl module.
fn python() -> Option<&'static str> {
    static PY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import ssl, sys; print(sys.executable)"])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let exe = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !exe.is_empty()).then_some(exe)
    })
    .as_deref()
}

fn python_ssl() -> bool {
    let ok = python().is_some();
    if !ok {
        println!("skipped: python3 with its ssl module is not installed");
    }
    ok
}

/// Sends a real ClientHello for `sni` to `addr` in `pieces` segments; returns its bytes.
fn client_hello(addr: SocketAddr, sni: &str, pieces: usize) -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            SCRIPT,
            "hello",
            &addr.ip().to_string(),
            &addr.port().to_string(),
            sni,
        ])
        .arg(pieces.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the TLS client failed: {out:?}");
    unhex(String::from_utf8(out.stdout).unwrap().trim())
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Three routes and a default, on a buffered and a splice listener.
fn routed() -> (Proxy, TempPath, [Recorder; 4]) {
    let recs = [
        Recorder::start(),
        Recorder::start(),
        Recorder::start(),
        Recorder::start(),
    ];
    let mut text = String::from("admin = \"127.0.0.1:0\"\nworkers = 2\n");
    for copy in ["buffered", "splice"] {
        text += &format!(
            "[[listener]]\nlisten = \"127.0.0.1:0\"\ncopy = \"{copy}\"\nupstreams = [\"{}\"]\n\
             [[listener.route]]\nsni = [\"api.example.com\"]\nupstreams = [\"{}\"]\n\
             [[listener.route]]\nsni = [\"*.example.org\", \"example.net\"]\nupstreams = [\"{}\"]\n\
             [[listener.route]]\nsni = [\"www.example.org\"]\nupstreams = [\"{}\"]\n",
            recs[0].addr, recs[1].addr, recs[2].addr, recs[3].addr
        );
    }
    let (proxy, file) = proxy_config(&text, 2);
    (proxy, file, recs)
}

#[test]
fn routes_by_server_name_and_forwards_the_hello_byte_exact() {
    if !python_ssl() {
        return;
    }
    let (proxy, _file, recs) = routed();
    // (server_name, segments, the recorder that must get it: 0 default, 1.. routes)
    let cases = [
        ("api.example.com", 1, 1),
        ("API.Example.COM", 3, 1),
        ("a.example.org", 4, 2),
        ("www.example.org", 1, 3), // exact before wildcard
        ("example.net", 2, 2),
        ("a.b.example.org", 1, 0), // a wildcard stands for one label
        ("other.test", 1, 0),
        ("-", 1, 0), // no server_name
    ];
    // Every case on the buffered listener; the splice listener's copy starts after the
    // same peek, so three cases (one split) prove it.
    for (n, listener) in proxy.listen.iter().enumerate() {
        let cases = if n == 0 { &cases[..] } else { &cases[1..4] };
        for &(name, pieces, want) in cases {
            let before: Vec<usize> = recs.iter().map(Recorder::count).collect();
            let hello = client_hello(*listener, name, pieces);
            assert!(hello.len() > 100 && hello[0] == 22, "not a ClientHello");
            let got = recs[want].wait(before[want] + 1);
            assert!(
                got[before[want]].bytes == hello,
                "{listener} {name}: the upstream got {} bytes, not the {}-byte ClientHello",
                got[before[want]].bytes.len(),
                hello.len()
            );
            for (i, r) in recs.iter().enumerate() {
                if i != want {
                    assert_eq!(r.count(), before[i], "{name} also reached route {i}");
                }
            }
        }
    }
}

/// With accept-proxy, the PROXY header is taken off and the ClientHello behind it, in the
/// same write, still picks the route and arrives byte-exact.
#[test]
fn a_proxy_header_then_the_hello_in_one_write() {
    if !python_ssl() {
        return;
    }
    let (default, api) = (Recorder::start(), Recorder::start());
    let log = TempPath::new("access.log");
    let text = format!(
        "workers = 1\naccess-log = \"{}\"\n[[listener]]\nlisten = \"127.0.0.1:0\"\naccept-proxy = true\n\
         upstreams = [\"{}\"]\n[[listener.route]]\nsni = [\"api.example.com\"]\nupstreams = [\"{}\"]\n",
        log.str(),
        default.addr,
        api.addr
    );
    let (mut proxy, _file) = proxy_config(&text, 1);
    let out = Command::new(python().unwrap())
        .args([SCRIPT, "bytes", "api.example.com"])
        .output()
        .unwrap();
    let hello = unhex(String::from_utf8(out.stdout).unwrap().trim());
    let header = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 443\r\n";
    send_and_close(proxy.addr(), &[&header[..], &hello].concat());
    assert!(api.wait(1)[0].bytes == hello);
    assert_eq!(default.count(), 0);
    // The access log has the name and the route, and the client the header named.
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit(Duration::from_secs(10)).unwrap().success());
    let line = std::fs::read_to_string(&log.0).unwrap();
    let rec: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(rec["sni"], "api.example.com", "{line}");
    assert_eq!(rec["route"], "api.example.com", "{line}");
    assert_eq!(rec["client"], "192.0.2.1:1000", "{line}");
    assert_eq!(rec["bytes_up"], hello.len() as u64, "{line}");
}

/// Bytes that are not TLS take the default route, unchanged.
#[test]
fn not_tls_takes_the_default_route() {
    let (proxy, _file, recs) = routed();
    let req = b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
    send_and_close(proxy.addr(), req);
    assert_eq!(recs[0].wait(1)[0].bytes, req);
}

/// Without a default route, a name no route has is closed and counted; so is a ClientHello
/// that never completes within sni-timeout.
#[test]
fn no_route_and_slow_hellos_are_closed_and_counted() {
    let rec = Recorder::start();
    let text = format!(
        "admin = \"127.0.0.1:0\"\nworkers = 1\n[[listener]]\nlisten = \"127.0.0.1:0\"\n\
         sni-timeout = \"300ms\"\n[[listener.route]]\nsni = [\"api.example.com\"]\n\
         upstreams = [\"{}\"]\n",
        rec.addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    let mut plain = connect(proxy.addr());
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(closed_by_peer(&mut plain));
    let start = Instant::now();
    let mut slow = connect(proxy.addr());
    slow.write_all(&[22, 3, 1, 0, 200, 1, 0]).unwrap();
    assert!(closed_by_peer(&mut slow));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    if python_ssl() {
        client_hello(proxy.addr(), "other.example.com", 1);
        client_hello(proxy.addr(), "api.example.com", 1);
        assert_eq!(rec.wait(1).len(), 1);
    }
    let m = proxy.metrics();
    let refused = |r: &str| {
        support::metric_value(
            &m,
            "corio_proxy_client_refused_total",
            &format!("reason=\"{r}\""),
        )
    };
    let no_route = if python_ssl() { 2 } else { 1 };
    assert_eq!(refused("sni_no_route"), no_route, "{m}");
    assert_eq!(refused("sni_timeout"), 1, "{m}");
    if python_ssl() {
        let routed = "route=\"api.example.com\"";
        assert_eq!(
            support::metric_value(&m, "corio_proxy_route_clients_total", routed),
            1
        );
    }
}

/// A real TLS handshake through the proxy: the route's server answers with the name it saw.
#[test]
fn a_real_handshake_completes_through_the_route() {
    if !python_ssl() {
        return;
    }
    let dir = TempPath::new("tls");
    std::fs::create_dir_all(&dir.0).unwrap();
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.example.com",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        println!("skipped: openssl could not make a test certificate (is it installed?)");
        return;
    }
    let mut py = Command::new(python().unwrap())
        .arg(SCRIPT)
        .arg("e2e")
        .args([&cert, &key])
        .arg("api.example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let server: u16 = line.trim().parse().unwrap();
    let decoy = Recorder::start();
    let text = format!(
        "workers = 1\n[[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{}\"]\n\
         [[listener.route]]\nsni = [\"api.example.com\"]\nupstreams = [\"127.0.0.1:{server}\"]\n",
        decoy.addr
    );
    let (proxy, _file) = proxy_config(&text, 1);
    writeln!(py.stdin.take().unwrap(), "{}", proxy.addr().port()).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "hi api.example.com: ping");
    assert!(py.wait().unwrap().success());
    assert_eq!(decoy.count(), 0);
}
