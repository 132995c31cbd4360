//! hyper on corio against hyper on tokio: a corio client talks to a tokio server, a tokio
//! client talks to a corio server, over HTTP/1.1 and HTTP/2; and the timer adapter fires.

mod support;

use bytes::Bytes;
use corio_compat::{Compat, CorioExecutor, CorioTimer};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::{noise, run, server_pattern};

const LIMIT: Duration = Duration::from_secs(30);
const SIZES: [usize; 5] = [0, 1, 16385, 100_000, 3 << 20];

/// The routes both servers serve: `GET /bytes/N` (the example's pattern), `POST /echo`.
async fn service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = match (req.method(), path.strip_prefix("/bytes/")) {
        (&Method::GET, Some(n)) => server_pattern(n.parse().unwrap_or(0)).into(),
        _ if path == "/echo" => match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => panic!("server: reading the request body: {e}"),
        },
        _ => Bytes::from_static(b"?"),
    };
    Ok(Response::new(Full::new(body)))
}

/// A hyper server (HTTP/1.1 and HTTP/2) on a tokio current_thread runtime, for `conns`
/// connections.
fn tokio_server(conns: usize) -> (SocketAddr, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(service))
                        .await
                        .unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
    (
        rx.recv_timeout(LIMIT).expect("tokio server address"),
        thread,
    )
}

/// The same server on corio: the compat stream, `CorioExecutor`, `CorioTimer`.
fn corio_server(conns: usize) -> (SocketAddr, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        run(LIMIT, async move {
            let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                tasks.push(corio::spawn(async move {
                    let mut http = auto::Builder::new(CorioExecutor);
                    http.http1().timer(CorioTimer);
                    http.http2().timer(CorioTimer);
                    http.serve_connection(Compat::new(stream), hyper::service::service_fn(service))
                        .await
                        .unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    });
    (
        rx.recv_timeout(LIMIT).expect("corio server address"),
        thread,
    )
}

fn request(addr: SocketAddr, method: Method, path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// The requests every client sends, with the body each must get back.
fn exchanges(addr: SocketAddr) -> Vec<(Request<Full<Bytes>>, Vec<u8>)> {
    let mut v: Vec<_> = SIZES
        .iter()
        .map(|&n| {
            (
                request(addr, Method::GET, &format!("/bytes/{n}"), vec![]),
                server_pattern(n),
            )
        })
        .collect();
    for (i, &n) in SIZES.iter().enumerate() {
        let data = noise(i as u64, n);
        v.push((request(addr, Method::POST, "/echo", data.clone()), data));
    }
    v
}

async fn check(res: Response<Incoming>, version: Version, want: &[u8]) {
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), version);
    let got = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "body differs");
}

#[test]
fn hyper_client_on_corio_talks_to_hyper_server_on_tokio() {
    let (addr, server) = tokio_server(2);
    run(LIMIT, async move {
        let io = Compat::new(corio::net::TcpStream::connect(addr).await.unwrap());
        let (mut h1, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        let conn = corio::spawn(conn);
        for (req, want) in exchanges(addr) {
            check(h1.send_request(req).await.unwrap(), Version::HTTP_11, &want).await;
        }
        drop(h1);
        conn.await.unwrap().unwrap();

        let io = Compat::new(corio::net::TcpStream::connect(addr).await.unwrap());
        let (mut h2, conn) = hyper::client::conn::http2::Builder::new(CorioExecutor)
            .timer(CorioTimer)
            .handshake(io)
            .await
            .unwrap();
        let conn = corio::spawn(conn);
        for (req, want) in exchanges(addr) {
            check(h2.send_request(req).await.unwrap(), Version::HTTP_2, &want).await;
        }
        drop(h2);
        conn.await.unwrap().unwrap();
    });
    server.join().unwrap();
}

#[test]
fn hyper_client_on_tokio_talks_to_hyper_server_on_corio() {
    let (addr, server) = corio_server(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let (mut h1, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        let conn = tokio::spawn(conn);
        for (req, want) in exchanges(addr) {
            check(h1.send_request(req).await.unwrap(), Version::HTTP_11, &want).await;
        }
        drop(h1);
        conn.await.unwrap().unwrap();

        let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        for (req, want) in exchanges(addr) {
            check(h2.send_request(req).await.unwrap(), Version::HTTP_2, &want).await;
        }
        drop(h2);
        conn.await.unwrap().unwrap();
    });
    server.join().unwrap();
}

#[test]
fn corio_timer_drives_hypers_header_read_timeout() {
    run(LIMIT, async {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            hyper::server::conn::http1::Builder::new()
                .timer(CorioTimer)
                .header_read_timeout(Duration::from_millis(200))
                .serve_connection(Compat::new(stream), hyper::service::service_fn(service))
                .await
        });
        let client = corio::net::TcpStream::connect(addr).await.unwrap();
        let (res, _) = client.write_all(&b"GET / HTTP/1.1\r\n"[..]).await;
        res.unwrap();
        // The headers never end: the server's timer must close the connection.
        let served = corio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("the header read timeout fired");
        assert!(served.unwrap().is_err(), "hyper reports the timeout");
        // hyper may answer 408 before closing; either way the client reads to the end.
        let ended = corio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (res, _) = client.read(Vec::with_capacity(4096)).await;
                if !matches!(res, Ok(n) if n > 0) {
                    return;
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the server closed the connection");
    });
}

#[test]
fn corio_timer_sleeps_and_resets() {
    use hyper::rt::Timer;
    run(LIMIT, async {
        let start = Instant::now();
        let mut sleep = CorioTimer.sleep(Duration::from_secs(3600));
        CorioTimer.reset(&mut sleep, Instant::now() + Duration::from_millis(10));
        sleep.as_mut().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(10) && took < Duration::from_secs(60));
        CorioTimer.sleep_until(Instant::now()).await;
    });
}

/// The recipe docs/ecosystem.md gives for tonic handlers, which must return `Send` futures:
/// the `!Send` corio work runs in a spawned corio task, the handler awaits a `Send` reply.
#[test]
fn a_send_handler_reaches_corio_through_a_spawned_task() {
    fn assert_send<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    async fn handler(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (tx, rx) = corio::sync::oneshot::channel();
        let path = req.uri().path().to_string();
        corio::spawn(async move {
            // !Send: a corio timer held across an await.
            corio::time::sleep(Duration::from_millis(1)).await;
            let _ = tx.send(format!("{path} on worker {}", corio::worker_id()));
        });
        let reply = rx.await.unwrap_or_default();
        Ok(Response::new(Full::new(Bytes::from(reply))))
    }
    run(LIMIT, async {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(|req| assert_send(handler(req)));
            hyper::server::conn::http2::Builder::new(CorioExecutor)
                .timer(CorioTimer)
                .serve_connection(Compat::new(stream), service)
                .await
        });
        let io = Compat::new(corio::net::TcpStream::connect(addr).await.unwrap());
        let (mut h2, conn) = hyper::client::conn::http2::Builder::new(CorioExecutor)
            .handshake(io)
            .await
            .unwrap();
        let conn = corio::spawn(conn);
        let res = h2
            .send_request(request(addr, Method::GET, "/hello", vec![]))
            .await
            .unwrap();
        check(res, Version::HTTP_2, b"/hello on worker 0").await;
        drop(h2);
        conn.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
    });
}
