//! The hyper_server example, run as a child process: Debian's curl fetches byte-exact bodies
//! over HTTP/1.1 and HTTP/2 (prior knowledge); hyper clients on corio make 1,000 keep-alive
//! requests on 50 connections and the server's fd count returns to its baseline; SIGTERM
//! ends it gracefully.

mod support;

use bytes::Bytes;
use corio_compat::{Compat, CorioExecutor, CorioTimer};
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use support::{assert_driver, fd_count, have, noise, run, server_pattern, wait_until, Server};

const LIMIT: Duration = Duration::from_secs(60);

fn hyper_server() -> Server {
    let server = Server::start(
        env!("CARGO_BIN_EXE_hyper_server"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--grace-ms",
            "3000",
        ],
    );
    assert_driver(&server);
    server
}

/// A temporary file path unique to this process and `name`.
fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corio-compat-{}-{name}", std::process::id()))
}

/// Runs curl (with `--http1.1` or `--http2-prior-knowledge`), writing the body to `out`;
/// returns the HTTP version curl reports.
fn curl(h2: bool, url: &str, out: &std::path::Path, extra: &[&str]) -> String {
    let version = if h2 {
        "--http2-prior-knowledge"
    } else {
        "--http1.1"
    };
    let output = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "30", version, "-o"])
        .arg(out)
        .args(["-w", "%{http_version}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn curl_fetches_byte_exact_bodies_over_http1_and_http2() {
    if !have(
        "curl",
        "curl_fetches_byte_exact_bodies_over_http1_and_http2",
    ) {
        return;
    }
    let server = hyper_server();
    let out = temp("fetch");
    let sizes = [0, 1, 250, 251, 252, 16384, 65537, 1 << 20, 10 << 20];
    for h2 in [false, true] {
        for &n in &sizes {
            let url = format!("http://{}/bytes/{n}", server.addr);
            let version = curl(h2, &url, &out, &[]);
            assert_eq!(version, if h2 { "2" } else { "1.1" });
            let got = std::fs::read(&out).unwrap();
            assert_eq!(got.len(), n, "{url} over {version}");
            assert!(
                got == server_pattern(n),
                "{url} over {version}: bytes differ"
            );
        }
    }
    let _ = std::fs::remove_file(&out);
}

#[test]
fn curl_posts_are_echoed_byte_exact_over_http1_and_http2() {
    if !have(
        "curl",
        "curl_posts_are_echoed_byte_exact_over_http1_and_http2",
    ) {
        return;
    }
    let server = hyper_server();
    let (input, out) = (temp("echo-in"), temp("echo-out"));
    let url = format!("http://{}/echo", server.addr);
    for (i, &n) in [0usize, 1, 70_000, 3 << 20].iter().enumerate() {
        let data = noise(i as u64, n);
        std::fs::write(&input, &data).unwrap();
        let body = format!("@{}", input.display());
        for h2 in [false, true] {
            curl(h2, &url, &out, &["--data-binary", &body]);
            let got = std::fs::read(&out).unwrap();
            assert_eq!(got.len(), n);
            assert!(got == data, "echo of {n} bytes (h2: {h2}) differs");
        }
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&out);
}

/// An HTTP/1.1 connection from a hyper client on corio.
async fn h1_client(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    corio::JoinHandle<hyper::Result<()>>,
) {
    let stream = corio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(Compat::new(stream))
        .await
        .unwrap();
    (sender, corio::spawn(conn))
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .body(Empty::new())
        .unwrap()
}

#[test]
fn a_thousand_keep_alive_requests_on_fifty_connections() {
    let server = hyper_server();
    let addr = server.addr;
    let pid = server.pid;
    let baseline = fd_count(pid);
    assert!(baseline > 0, "/proc/{pid}/fd is readable");
    run(LIMIT, async move {
        let mut conns = Vec::new();
        let mut tasks = Vec::new();
        for c in 0..50 {
            let (mut sender, conn) = h1_client(addr).await;
            conns.push(conn);
            tasks.push(corio::spawn(async move {
                for r in 0..20 {
                    let n = (c * 20 + r) * 37 % 5000;
                    sender.ready().await.unwrap();
                    let res = sender.send_request(get(addr, &format!("/bytes/{n}"))).await;
                    let res = res.unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    assert!(body == server_pattern(n), "request {r} on connection {c}");
                }
                sender
            }));
        }
        let mut senders = Vec::new();
        for t in tasks {
            senders.push(t.await.unwrap());
        }
        // All 50 connections are still open (keep-alive) on the server's side.
        assert!(fd_count(pid) >= baseline + 50, "{} fds", fd_count(pid));
        drop(senders);
        for conn in conns {
            conn.await.unwrap().unwrap();
        }
    });
    assert!(
        wait_until(Duration::from_secs(15), || fd_count(pid) == baseline),
        "server fds: {} now, {baseline} before",
        fd_count(pid)
    );
}

#[test]
fn sigterm_closes_open_connections_gracefully_and_exits() {
    let mut server = hyper_server();
    let addr = server.addr;
    run(LIMIT, async {
        let (mut h1, h1_conn) = h1_client(addr).await;
        let stream = corio::net::TcpStream::connect(addr).await.unwrap();
        let (mut h2, h2_conn) = hyper::client::conn::http2::Builder::new(CorioExecutor)
            .timer(CorioTimer)
            .handshake::<_, Empty<Bytes>>(Compat::new(stream))
            .await
            .unwrap();
        let h2_conn = corio::spawn(h2_conn);
        let res = h1.send_request(get(addr, "/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = h2.send_request(get(addr, "/bytes/10")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        server.sigterm();
        // The server closes the idle HTTP/1.1 connection and sends HTTP/2 GOAWAY; both
        // clients see their connection end cleanly.
        h1_conn.await.unwrap().unwrap();
        h2_conn.await.unwrap().unwrap();
    });
    let stopped = server.wait_line("STOPPED", Duration::from_secs(20));
    assert!(stopped.is_some(), "the server printed STOPPED");
    let status = server.wait_exit(Duration::from_secs(20)).expect("it exits");
    assert!(status.success(), "{status:?}");
}
