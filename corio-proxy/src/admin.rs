//! `--admin ADDR`: a minimal HTTP/1.1 responder on worker 0. `GET /metrics` answers the
//! Prometheus text; anything else 404 (or 405 for another method). One request per
//! connection (`Connection: close`), bounded in size and time.

use crate::log;
use crate::metrics::{self, ListenerView};
use crate::worker::Shared;
use corio::io::PoolStats;
use corio::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_REQUEST: usize = 8 << 10;
const DEADLINE: Duration = Duration::from_secs(5);

/// Serves until the process exits.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => drop(corio::spawn(answer(conn, shared.clone()))),
            Err(e) => {
                log::error(format_args!("admin: accept: {e}"));
                corio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads one request head and answers it.
async fn answer(conn: TcpStream, shared: Arc<Shared>) {
    conn.set_deadline(Some(Instant::now() + DEADLINE));
    let mut head = Vec::with_capacity(1024);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST {
            return respond(&conn, "431 Request Header Fields Too Large", "too large\n").await;
        }
        let (res, buf) = conn.read(Vec::with_capacity(1024)).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = render(&shared).await;
            respond(&conn, "200 OK", &body).await
        }
        ("GET", _) => respond(&conn, "404 Not Found", "not found: try /metrics\n").await,
        _ => respond(&conn, "405 Method Not Allowed", "only GET\n").await,
    }
}

async fn respond(conn: &TcpStream, status: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (res, _) = conn.write_all(msg.into_bytes()).await;
    if res.is_ok() {
        let _ = conn.shutdown(std::net::Shutdown::Write).await;
    }
}

/// Gathers every worker's runtime counters and pool gauges, each read on its own thread.
async fn render(shared: &Shared) -> String {
    let workers = corio::metrics().await;
    let mut pools = Vec::with_capacity(workers.len());
    for w in 0..corio::worker_count() {
        pools.push(
            corio::spawn_on(w, async { corio::io::pool_stats() })
                .await
                .unwrap_or(PoolStats::default()),
        );
    }
    let views: Vec<ListenerView<'_>> = shared
        .listeners
        .iter()
        .map(|l| ListenerView {
            metrics: &l.metrics,
            upstreams: &l.upstreams,
        })
        .collect();
    metrics::render(&views, &shared.state, &workers, &pools)
}
