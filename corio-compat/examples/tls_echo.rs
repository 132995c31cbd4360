//! A TLS echo server: rustls (through tokio-rustls) over the compat stream, on corio.
//!
//! ```text
//! cargo run --release -p corio-compat --bin tls_echo -- \
//!     --addr 127.0.0.1:8443 --cert-out /tmp/cert.pem [--workers N] [--driver auto|uring|epoll]
//! openssl s_client -connect 127.0.0.1:8443 -CAfile /tmp/cert.pem -verify_return_error -quiet
//! ```
//!
//! At start it generates a self-signed certificate for `localhost` and `127.0.0.1` (rcgen)
//! and, with `--cert-out`, writes it as PEM for clients to trust. Each worker binds its own
//! SO_REUSEPORT listener (port 0 picks a free port), completes the TLS handshake on each
//! connection and echoes the plaintext back until the client closes, then sends
//! close_notify. Prints `READY ADDR workers=N` once every worker listens; SIGINT or SIGTERM
//! stops the accepting and waits (up to the 5 s grace period) for the open connections.

use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use corio_compat::Compat;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: tls_echo [--addr HOST:PORT] [--cert-out PATH] [--workers N] \
                     [--driver auto|uring|epoll]";

fn main() {
    let mut addr = "127.0.0.1:8443".to_string();
    let mut cert_out = None;
    let mut builder = Runtime::builder();
    builder.handle_signals(true).workers(1);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next();
        match (flag.as_str(), value.as_deref()) {
            ("--addr", Some(v)) => addr = v.to_string(),
            ("--cert-out", Some(v)) => cert_out = Some(v.to_string()),
            ("--workers", Some(v)) => match v.parse() {
                Ok(n) => drop(builder.workers(n)),
                Err(_) => usage(&format!("--workers {v:?}: expected a number")),
            },
            ("--driver", Some(v)) => match DriverChoice::parse(v) {
                Some(d) => drop(builder.driver(d)),
                None => usage(&format!("--driver {v:?}: expected auto|uring|epoll")),
            },
            _ => usage(&format!("unexpected argument {flag}")),
        }
    }
    let (config, pem) = server_config().unwrap_or_else(|e| fail(&format!("certificate: {e}")));
    if let Some(path) = cert_out {
        std::fs::write(&path, pem).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
    let addr = resolve(&addr).unwrap_or_else(|e| fail(&format!("{addr}: {e}")));
    let rt = builder.build().unwrap_or_else(|e| fail(&e.to_string()));
    println!("tls_echo: {}", rt.driver_info());
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listening = Arc::new(AtomicUsize::new(0));
    let results = rt
        .run(move |_| serve(addr, acceptor.clone(), listening.clone()))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let failed = results.iter().any(|r| matches!(r, Ok(Err(_))));
    for r in &results {
        if let Ok(Err(e)) = r {
            eprintln!("tls_echo: {e}");
        }
    }
    println!("STOPPED");
    std::process::exit(failed as i32);
}

fn usage(msg: &str) -> ! {
    eprintln!("tls_echo: {msg}\n{USAGE}");
    std::process::exit(2);
}

fn fail(msg: &str) -> ! {
    eprintln!("tls_echo: {msg}");
    std::process::exit(1);
}

/// A rustls server config (ring provider) with a fresh self-signed certificate, and its PEM.
fn server_config() -> Result<(rustls::ServerConfig, String), Box<dyn std::error::Error>> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    Ok((config, certified.cert.pem()))
}

/// The address to bind; port 0 becomes a free port, so that every worker binds the same one.
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let mut addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))?;
    if addr.port() == 0 {
        addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    }
    Ok(addr)
}

/// One worker: accept until shutdown, one task per connection, then wait for them.
async fn serve(
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    listening: Arc<AtomicUsize>,
) -> io::Result<()> {
    let listener = TcpListener::bind_reuseport(addr)?;
    if listening.fetch_add(1, Ordering::SeqCst) + 1 == corio::worker_count() {
        println!("READY {addr} workers={}", corio::worker_count());
    }
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
            Some(Err(e)) => return Err(e),
        };
        open.set(open.get() + 1);
        let (acceptor, open) = (acceptor.clone(), open.clone());
        corio::spawn(async move {
            if let Err(e) = echo(&acceptor, stream).await {
                eprintln!("tls_echo: connection: {e}");
            }
            open.set(open.get() - 1);
        });
    }
    drop(listener);
    while open.get() > 0 {
        corio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The TLS handshake, then echo until the client closes, then close_notify.
async fn echo(acceptor: &TlsAcceptor, stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut tls = acceptor.accept(Compat::new(stream)).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        tls.flush().await?;
    }
    tls.shutdown().await
}
