//! Debian's nginx as a real HTTP upstream: 1,000 requests through corio-proxy (keep-alive and
//! not, small bodies and a 10 MiB one), every body byte-exact; and /metrics parses as
//! Prometheus text. Skips, saying why, where nginx is not installed. nginx runs in the
//! foreground with its own temporary prefix and config on a loopback port, as a child killed
//! by pid at the end. Runs under both drivers.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{pattern, wait_for, Proxy};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_path() -> Option<PathBuf> {
    [NGINX, "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_nginx(bin: &Path) -> Nginx {
    let dir = std::env::temp_dir().join(format!("corio-proxy-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/small.txt"), pattern(1, 1000)).unwrap();
    std::fs::write(dir.join("www/big.bin"), pattern(2, 10 << 20)).unwrap();
    let port = support::closed_port().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         keepalive_requests 100000;\n  server {{\n    listen {addr};\n    root {d}/www;\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let nginx = Nginx { child, dir, addr };
    let up = wait_for(Duration::from_secs(10), || TcpStream::connect(addr).ok());
    assert!(
        up.is_some(),
        "nginx did not listen on {addr}: {:?}",
        std::fs::read_to_string(nginx.dir.join("error.log"))
    );
    nginx
}

/// Reads one response: (status line, body), by Content-Length.
fn response(r: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut len = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0u8; len.expect("Content-Length")];
    r.read_exact(&mut body).unwrap();
    (status.trim_end().to_string(), body)
}

fn client(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    BufReader::with_capacity(64 << 10, s)
}

fn get(r: &mut BufReader<TcpStream>, path: &str, close: bool) -> Vec<u8> {
    let conn = if close { "close" } else { "keep-alive" };
    write!(
        r.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: {conn}\r\n\r\n"
    )
    .unwrap();
    let (status, body) = response(r);
    assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
    body
}

#[test]
fn nginx_upstream_thousand_requests() {
    let Some(bin) = nginx_path() else {
        println!("SKIPPED: nginx is not installed (apt-get install nginx); the nginx upstream test did not run");
        return;
    };
    let nginx = start_nginx(&bin);
    let up = nginx.addr.to_string();
    let p = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--workers",
        "2",
        "--admin",
        "127.0.0.1:0",
    ]);
    let addr = p.addr();
    let small = pattern(1, 1000);
    // 10 keep-alive connections × 90 requests, in parallel.
    let keep: Vec<_> = (0..10)
        .map(|_| {
            let small = small.clone();
            std::thread::spawn(move || {
                let mut c = client(addr);
                for _ in 0..90 {
                    assert!(get(&mut c, "/small.txt", false) == small);
                }
            })
        })
        .collect();
    // 90 connections with one request each (Connection: close, then EOF).
    for _ in 0..90 {
        let mut c = client(addr);
        assert!(get(&mut c, "/small.txt", true) == small);
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
    // The 10 MiB body, 10 times: 5 on one keep-alive connection, 5 on their own.
    let big = pattern(2, 10 << 20);
    let mut c = client(addr);
    for _ in 0..5 {
        assert!(get(&mut c, "/big.bin", false) == big, "10 MiB body differs");
    }
    for _ in 0..5 {
        let mut c = client(addr);
        assert!(get(&mut c, "/big.bin", true) == big, "10 MiB body differs");
    }
    for t in keep {
        t.join().unwrap();
    }
    let text = p.metrics();
    check_prometheus_text(&text);
    let accepted = support::metric_value(&text, "corio_proxy_client_connections_total", "");
    assert_eq!(accepted, 10 + 90 + 1 + 5);
    drop(p);
    drop(nginx);
}

/// Checks the Prometheus text exposition format (0.0.4): HELP/TYPE lines, then samples
/// `name{label="value",...} number` of a declared family, each family once.
fn check_prometheus_text(text: &str) {
    let mut types = std::collections::HashMap::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    assert!(text.ends_with('\n'), "no final newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "family twice: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(valid_name(rest.split(' ').next().unwrap()), "{line}");
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect(line);
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, Some(l.strip_suffix('}').expect(line))),
            None => (series, None),
        };
        assert!(valid_name(name), "{line}");
        assert!(types.contains_key(name), "sample before its TYPE: {line}");
        for pair in labels.into_iter().flat_map(|l| l.split(',')) {
            let (k, v) = pair.split_once('=').expect(line);
            assert!(valid_name(k) && !k.contains(':'), "{line}");
            assert!(
                v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                "{line}"
            );
        }
    }
    for family in [
        "corio_proxy_bytes_total",
        "corio_worker_enters_total",
        "corio_worker_epoll_waits_total",
        "corio_worker_ops_submitted_total",
        "corio_worker_completions_total",
        "corio_proxy_upstream_healthy",
    ] {
        assert!(types.contains_key(family), "{family} missing");
    }
}
