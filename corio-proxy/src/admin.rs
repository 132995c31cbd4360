//! `--admin ADDR`: a minimal HTTP/1.1 responder on worker 0. `GET /metrics` answers the
//! Prometheus text, `GET /status` a JSON summary (status.rs); anything else 404 (or 405 for
//! another method). One request per connection (`Connection: close`), bounded in size and
//! time. A successor that takes the admin socket over stops this one (`stop`).

use crate::log;
use crate::metrics::{self, ListenerView};
use crate::worker::{select, Either, Shared};
use corio::io::PoolStats;
use corio::net::{TcpListener, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_REQUEST: usize = 8 << 10;
const DEADLINE: Duration = Duration::from_secs(5);

/// Serves until the process exits, or until a successor takes the socket over.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let stop = shared.admin_stop.clone();
    loop {
        let mut accept = pin!(listener.accept());
        let res = match select(accept.as_mut(), pin!(stop.stopped())).await {
            Either::Left(res) => res,
            Either::Right(_) => {
                // Handed over: cancel the accept; a connection it already took is answered.
                listener.set_deadline(Some(Instant::now()));
                if let Ok((conn, _)) = accept.await {
                    drop(corio::spawn(answer(conn, shared.clone())));
                }
                shared.admin_stopped.set();
                return;
            }
        };
        match res {
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
        ("GET", "/status") => {
            let body = crate::status::render(&shared);
            respond_as(&conn, "200 OK", "application/json", &body).await
        }
        ("GET", _) => {
            respond(
                &conn,
                "404 Not Found",
                "not found: try /metrics or /status\n",
            )
            .await
        }
        _ => respond(&conn, "405 Method Not Allowed", "only GET\n").await,
    }
}

async fn respond(conn: &TcpStream, status: &str, body: &str) {
    let text = "text/plain; version=0.0.4; charset=utf-8";
    respond_as(conn, status, text, body).await
}

async fn respond_as(conn: &TcpStream, status: &str, content_type: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
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
    let entries = shared.entries();
    let current: Vec<_> = entries.iter().map(|e| e.current()).collect();
    let views: Vec<ListenerView<'_>> = entries
        .iter()
        .zip(&current)
        .map(|(e, l)| ListenerView {
            metrics: &l.metrics,
            upstreams: &l.upstreams,
            gate: &e.gate,
            accepting: e.accepting(shared.process_room()),
        })
        .collect();
    metrics::render(&views, &shared.state, &shared.gate, &workers, &pools)
}
