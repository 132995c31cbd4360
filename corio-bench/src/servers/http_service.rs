//! The http service every runtime serves the same way: hyper 1.x, HTTP/1.1 with keep-alive,
//! `http1::Builder` defaults with a timer (so the 30 s header-read timeout is armed), answering
//! `GET /` with the 64 bytes of [`BODY`] (any other request: 404), each request counted. The
//! runtimes' adapters (`corio/http.rs`, `tokio/http.rs`) only bring the I/O and the timer.

use crate::servers::counters::Counters;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
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

/// hyper's service for one connection, counting into `counters`.
pub fn service(
    counters: Arc<Counters>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> {
    hyper::service::service_fn(move |req| {
        let res = respond(&counters, &req);
        async move { Ok::<_, Infallible>(res) }
    })
}
