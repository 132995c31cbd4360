//! # corio
//!
//! A thread-per-core async runtime for Linux built on the completion model. Each executor is
//! single-threaded and owns one io_uring: operations are submitted as SQEs and tasks wake on
//! CQEs. Where io_uring is unavailable (or asked against), the same programs run on an epoll
//! driver that follows Go's netpoller: try the syscall, park on EAGAIN, wake on edge-triggered
//! readiness.
//!
//! I/O takes buffers by value and gives them back ([`buf::BufResult`]): the kernel owns a
//! buffer while its operation is in flight, so a dropped future can never free memory the
//! kernel is about to write. Reads and accepts are *losslessly* cancel-safe: what a dropped
//! read or accept received is kept and returned by the next call.
//!
//! ```
//! use corio::net::{TcpListener, TcpStream};
//!
//! corio::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = corio::spawn(async move {
//!         let (conn, _) = listener.accept().await?;
//!         let (n, buf) = conn.read(Vec::with_capacity(64)).await;
//!         let (res, _) = conn.write_all(buf).await;
//!         res.map(|_| n)
//!     });
//!     let client = TcpStream::connect(addr).await?;
//!     let (res, _) = client.write_all(&b"hello"[..]).await;
//!     res?;
//!     let (res, buf) = client.read_exact(Vec::with_capacity(5)).await;
//!     res?;
//!     assert_eq!(&buf, b"hello");
//!     server.await.unwrap()?;
//!     Ok::<(), std::io::Error>(())
//! }).unwrap();
//! ```
//!
//! Files ([`fs`]) use the same owned buffers: on io_uring every file operation is an SQE; on
//! epoll, which cannot wait on a regular file, each runs on a blocking pool shared by the
//! runtime's workers, which [`spawn_blocking`] also offers for any work that would block the
//! executor's thread.
//!
//! What a tokio service reaches for is here under tokio's names: [`io`] (owned-buffer
//! `AsyncReadRent`/`AsyncWriteRent`, `copy`, `copy_bidirectional`, `BufReader`, `BufWriter`),
//! [`sync`] (each primitive in a thread-safe and a [`sync::local`] form), [`task::JoinSet`],
//! [`net::TcpSocket`] and socket options, [`net::lookup_host`]; `docs/ecosystem.md` maps the
//! imports.
//!
//! Features, all off by default (the default build has four dependencies): `macros`
//! (`#[corio::main]`, `#[corio::test]`, `select!`, `join!`, `try_join!`), `bytes`
//! (`Bytes`/`BytesMut` as buffers), `tracing` (the library's few events — the driver fallback
//! and its reason, ring set-up, forced shutdown, work dropped at shutdown — as `tracing`
//! events, target `corio`; without it the library prints nothing, and the fallback's reason
//! is in [`Runtime::driver_info`]).
//!
//! The architecture and the invariants that make the unsafe code sound are in
//! `docs/architecture.md`.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod blocking;
pub mod buf;
mod driver;
mod fd;
pub mod fs;
pub mod io;
#[cfg(feature = "macros")]
mod macros;
pub mod net;
pub mod op;
pub mod pipe;
mod runtime;
pub mod sync;
mod sys;
pub mod task;
pub mod time;
mod trace;
mod workers;

pub use blocking::BlockingStats;
pub use driver::{DriverChoice, DriverInfo, DriverKind, DriverStats};
#[cfg(feature = "macros")]
pub use macros::{__macro_support, join, main, select, test, try_join};
pub use runtime::{
    block_on, current_driver_stats, current_stats, metrics, request_shutdown, shutdown_requested,
    spawn, spawn_on, worker_count, worker_id, Builder, ExecutorStats, RemoteJoinHandle, Runtime,
    ShutdownHandle, ShutdownRequested, WorkerMetrics,
};
pub use task::{spawn_blocking, BlockingJoinHandle, JoinError, JoinHandle};
pub use workers::{serve_balanced, RunResults};
