//! The http service: hyper 1.x, HTTP/1.1 with keep-alive, answering `GET /` with the 64
//! bytes of [`BODY`] (any other request: 404), each request counted. On corio it runs through
//! corio-compat (`Compat` for hyper's I/O traits, `CorioTimer`); on tokio through
//! hyper-util's `TokioIo` and `TokioTimer` on a current_thread runtime. The same hyper
//! builder settings and the same service on both.

use super::{corio_echo, Counters, Worker};
use bytes::Bytes;
use corio::DriverChoice;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The body of `GET /`: 64 bytes.
pub const BODY: &[u8; 64] = b"corio-bench http: sixty-four bytes of body, the same each time.\n";

/// The response to `req`, counted.
fn respond(counters: &Counters, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if req.method() == Method::GET && req.uri().path() == "/" {
        return Response::new(Full::new(Bytes::from_static(BODY)));
    }
    let mut res = Response::new(Full::new(Bytes::from_static(b"not found\n")));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// hyper on corio, on `driver`.
pub(super) fn corio(driver: DriverChoice, w: Worker) -> io::Result<()> {
    corio_echo::accept_loop(driver, w, |_, counters| {
        let counters = counters.clone();
        Ok(move |stream| corio_conn(stream, counters.clone()))
    })
}

async fn corio_conn(stream: corio::net::TcpStream, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let res = respond(&counters, &req);
        async move { Ok::<_, Infallible>(res) }
    });
    let conn = http1::Builder::new()
        .timer(corio_compat::CorioTimer)
        .serve_connection(corio_compat::Compat::new(stream), service);
    // A connection that ends in an error (the client reset it) ends only itself.
    let _ = conn.await;
}

/// hyper on tokio's current_thread runtime.
pub(super) fn tokio(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_local(tokio_conn(stream, counters.clone()));
        }
    })
}

async fn tokio_conn(stream: tokio::net::TcpStream, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let res = respond(&counters, &req);
        async move { Ok::<_, Infallible>(res) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let _ = conn.await;
}
