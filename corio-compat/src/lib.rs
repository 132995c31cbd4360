//! # corio-compat
//!
//! The tokio ecosystem on corio. corio's I/O is owned-buffer and completion-based
//! (`stream.read(buf).await` returns `(io::Result<usize>, buf)`); hyper, rustls (through
//! tokio-rustls), tonic and most of crates.io are written against poll-based traits with
//! borrowed buffers. This crate bridges the two:
//!
//! - [`Compat`] wraps a [`corio::net::TcpStream`] or [`corio::net::UnixStream`] and
//!   implements tokio's `AsyncRead`/`AsyncWrite`/`AsyncBufRead`, futures-io's
//!   `AsyncRead`/`AsyncWrite`/`AsyncBufRead` and hyper's `rt::Read`/`rt::Write`, with one
//!   buffer of its own per direction (one copy each way) and lossless cancellation;
//! - [`CorioExecutor`] and [`CorioTimer`] are hyper's `rt::Executor` and `rt::Timer` on the
//!   current corio executor, so hyper 1.x servers and clients (HTTP/1.1 and HTTP/2) run on
//!   corio, one per worker under `corio::Runtime::run`;
//! - [`echo`] serves one connection through the compat layer (for benchmarks).
//!
//! Everything is `!Send`, like corio's streams: a connection lives on the worker that
//! accepted it. `docs/ecosystem.md` shows hyper, rustls and tonic services on corio, what is
//! not supported, and the cost model; `corio-compat/examples/` has a hyper server and a TLS
//! echo server.
//!
//! ```no_run
//! use corio_compat::{Compat, CorioExecutor, CorioTimer};
//! use hyper::{body::Incoming, Request, Response};
//!
//! async fn hello(_: Request<Incoming>) -> Result<Response<String>, std::convert::Infallible> {
//!     Ok(Response::new("hello\n".to_string()))
//! }
//!
//! corio::block_on(async {
//!     let listener = corio::net::TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         corio::spawn(async move {
//!             let conn = hyper::server::conn::http1::Builder::new()
//!                 .timer(CorioTimer)
//!                 .serve_connection(Compat::new(stream), hyper::service::service_fn(hello));
//!             let _ = conn.await;
//!         });
//!     }
//!     #[allow(unreachable_code)]
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap();
//! # let _ = CorioExecutor;
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod compat;
mod echo;
mod futures_io;
mod hyper_io;
mod hyper_rt;
mod owned;
mod read;
mod tokio_io;
mod write;

pub use compat::{Compat, DEFAULT_BUFFER};
pub use echo::echo;
pub use hyper_rt::{CorioExecutor, CorioSleep, CorioTimer};
pub use owned::OwnedStream;
