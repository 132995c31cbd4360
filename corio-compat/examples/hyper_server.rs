//! An HTTP/1.1 and HTTP/2 server: hyper on corio, one hyper per worker.
//!
//! ```text
//! cargo run --release -p corio-compat --bin hyper_server -- \
//!     --addr 127.0.0.1:8080 [--workers N] [--driver auto|uring|epoll] [--grace-ms MS]
//! curl http://127.0.0.1:8080/bytes/1000000 -o out
//! curl --http2-prior-knowledge --data-binary @out http://127.0.0.1:8080/echo -o back
//! ```
//!
//! Each worker (`Runtime::run`, one per core by default) binds its own SO_REUSEPORT listener
//! on `--addr` (port 0 picks a free port) and serves its connections itself: HTTP/1.1, or
//! HTTP/2 with prior knowledge (h2c), told apart by the connection preface. Routes:
//!
//! - `GET /` — `hello from corio worker N`
//! - `GET /bytes/N` — a body of exactly N bytes (up to 1 GiB), byte `i` being `i % 251`
//! - `POST /echo` — the request body, streamed back
//!
//! Prints `READY http://ADDR workers=N` once every worker listens. SIGINT or SIGTERM stops
//! the accepting and asks every open connection to finish (HTTP/1.1: after the response in
//! progress; HTTP/2: GOAWAY); the process exits when they are done, or when the grace period
//! ends them, printing `STOPPED`.

use bytes::Bytes;
use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use corio_compat::{Compat, CorioExecutor, CorioTimer};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

struct Args {
    addr: String,
    workers: Option<usize>,
    driver: Option<DriverChoice>,
    grace: Duration,
}

const USAGE: &str = "usage: hyper_server [--addr HOST:PORT] [--workers N] \
                     [--driver auto|uring|epoll] [--grace-ms MS]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
        workers: None,
        driver: None,
        grace: Duration::from_secs(5),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or(format!("{flag}: missing value"))?;
        let bad = |what: &str| format!("{flag} {value:?}: expected {what}");
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--workers" => args.workers = Some(value.parse().map_err(|_| bad("a number"))?),
            "--driver" => {
                args.driver = Some(DriverChoice::parse(&value).ok_or(bad("auto|uring|epoll"))?)
            }
            "--grace-ms" => {
                args.grace = Duration::from_millis(value.parse().map_err(|_| bad("a number"))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        if !e.is_empty() {
            eprintln!("hyper_server: {e}");
        }
        eprintln!("{USAGE}");
        std::process::exit(2);
    });
    let addr = resolve(&args.addr).unwrap_or_else(|e| fail(&format!("{}: {e}", args.addr)));
    let mut builder = Runtime::builder();
    builder.handle_signals(true).grace_period(args.grace);
    if let Some(n) = args.workers {
        builder.workers(n);
    }
    if let Some(d) = args.driver {
        builder.driver(d);
    }
    let rt = builder.build().unwrap_or_else(|e| fail(&e.to_string()));
    println!("hyper_server: {}", rt.driver_info());
    let listening = Arc::new(AtomicUsize::new(0));
    let results = rt
        .run(move |_| serve(addr, listening.clone()))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut code = 0;
    for (worker, r) in results.iter().enumerate() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("hyper_server: worker {worker}: {e}");
                code = 1;
            }
            Err(e) => eprintln!("hyper_server: worker {worker} stopped: {e:?}"),
        }
    }
    println!("STOPPED");
    std::process::exit(code);
}

fn fail(msg: &str) -> ! {
    eprintln!("hyper_server: {msg}");
    std::process::exit(1);
}

/// The address to bind; port 0 becomes a free port, so that every worker binds the same one.
fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    let mut addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    if addr.port() == 0 {
        addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    }
    Ok(addr)
}

/// One worker: accept until shutdown, one task per connection, then wait for them.
async fn serve(addr: SocketAddr, listening: Arc<AtomicUsize>) -> std::io::Result<()> {
    let listener = TcpListener::bind_reuseport(addr)?;
    if listening.fetch_add(1, Ordering::SeqCst) + 1 == corio::worker_count() {
        println!("READY http://{addr} workers={}", corio::worker_count());
    }
    let mut http = auto::Builder::new(CorioExecutor);
    http.http1().timer(CorioTimer);
    http.http2().timer(CorioTimer);
    let http = Rc::new(http);
    let open = Rc::new(Cell::new(0usize));
    let mut stop = pin!(corio::shutdown_requested());
    loop {
        let mut accept = pin!(listener.accept());
        let next = poll_fn(|cx| match accept.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => stop.as_mut().poll(cx).map(|()| None),
        })
        .await;
        let stream = match next {
            None => break,
            Some(Ok((stream, _))) => stream,
            // accept already retries what is worth retrying (ECONNABORTED, EMFILE).
            Some(Err(e)) => return Err(e),
        };
        open.set(open.get() + 1);
        let (http, open) = (http.clone(), open.clone());
        corio::spawn(async move {
            connection(&http, stream).await;
            open.set(open.get() - 1);
        });
    }
    drop(listener);
    while open.get() > 0 {
        corio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Serves one connection; on shutdown, asks it to finish gracefully.
async fn connection(http: &auto::Builder<CorioExecutor>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let worker = corio::worker_id();
    let service = hyper::service::service_fn(move |req| handle(req, worker));
    let mut conn = pin!(http.serve_connection(Compat::new(stream), service));
    let mut stop = pin!(corio::shutdown_requested());
    let mut stopping = false;
    let res = poll_fn(|cx| {
        if !stopping && stop.as_mut().poll(cx).is_ready() {
            stopping = true;
            conn.as_mut().graceful_shutdown();
        }
        conn.as_mut().poll(cx)
    })
    .await;
    if let Err(e) = res {
        eprintln!("hyper_server: connection: {e}");
    }
}

type ResBody = Either<Either<Full<Bytes>, Pattern>, Incoming>;

async fn handle(req: Request<Incoming>, worker: usize) -> Result<Response<ResBody>, Infallible> {
    let path = req.uri().path();
    let res = match (req.method(), path) {
        (&Method::GET, "/") => text(
            StatusCode::OK,
            format!("hello from corio worker {worker}\n"),
        ),
        (&Method::POST, "/echo") => Response::new(Either::Right(req.into_body())),
        (&Method::GET, p) if p.starts_with("/bytes/") => match p["/bytes/".len()..].parse() {
            Ok(n) if n <= 1 << 30 => Response::new(Either::Left(Either::Right(Pattern::new(n)))),
            _ => text(
                StatusCode::BAD_REQUEST,
                "expected /bytes/N, N <= 2^30\n".into(),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "routes: GET /, GET /bytes/N, POST /echo\n".into(),
        ),
    };
    Ok(res)
}

fn text(status: StatusCode, body: String) -> Response<ResBody> {
    let mut res = Response::new(Either::Left(Either::Left(Full::new(Bytes::from(body)))));
    *res.status_mut() = status;
    res
}

/// A body of `left` bytes where byte `i` is `i % 251`, sent in slices of one shared block.
struct Pattern {
    left: u64,
}

/// 251 × 1024 bytes: a whole number of periods, so consecutive blocks continue the pattern.
const BLOCK: usize = 251 * 1024;

impl Pattern {
    fn new(len: u64) -> Pattern {
        Pattern { left: len }
    }

    fn block() -> &'static Bytes {
        static BLOCK_BYTES: OnceLock<Bytes> = OnceLock::new();
        BLOCK_BYTES.get_or_init(|| (0..BLOCK).map(|i| (i % 251) as u8).collect())
    }
}

impl Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(BLOCK as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Pattern::block().slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
