//! A small TCP gateway written for tokio, ported to corio by renaming imports.
//!
//! ```text
//! cargo run --example port_from_tokio --features macros -- LISTEN_ADDR CONFIG_FILE
//! ```
//!
//! `CONFIG_FILE` holds two lines: the upstream address and the connection limit. The gateway
//! re-reads it every 200 ms and fans a changed config out to every connection task through a
//! `watch` channel (new connections go to the new upstream; the limit grows or shrinks at
//! once). Each client gets a connection to the upstream (made with `TcpSocket`: nodelay,
//! keepalive) and `copy_bidirectional` between them; a `Semaphore` bounds how many run at once;
//! the connection tasks live in a `JoinSet`; `select!` stops accepting when the
//! `CancellationToken` fires (standard input closed), and the gateway then closes every
//! connection and prints what it moved.
//!
//! The tokio original differs in these lines only:
//!
//! ```text
//! use tokio::io::copy_bidirectional;                    use corio::io::copy_bidirectional;
//! use tokio::net::{TcpListener, TcpSocket};             use corio::net::{TcpListener, TcpSocket};
//! use tokio::sync::{watch, Semaphore};                  use corio::sync::{watch, Semaphore};
//! use tokio::task::{spawn_blocking, JoinSet};           use corio::task::JoinSet; use corio::spawn_blocking;
//! use tokio_util::sync::CancellationToken;              use corio::sync::CancellationToken;
//! use socket2::TcpKeepalive;                            use corio::net::TcpKeepalive;
//! #[tokio::main]                                        #[corio::main]
//! tokio::select! { .. }                                 corio::select! { .. }
//! sleep: tokio::time::sleep                             corio::time::sleep
//! let (stream, peer) = listener.accept().await?;        (the same)
//! TcpListener::from_std / socket.listen(1024)           (the same)
//! ```
//!
//! (tokio's `TcpSocket::set_keepalive` takes a bool; the timings come from socket2 there.)

use corio::io::copy_bidirectional;
use corio::net::{TcpKeepalive, TcpListener, TcpSocket, TcpStream};
use corio::sync::{watch, CancellationToken, Semaphore};
use corio::task::JoinSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
struct Config {
    upstream: SocketAddr,
    max_conns: usize,
}

fn read_config(path: &PathBuf) -> std::io::Result<Config> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let bad = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("config: {what}"))
    };
    let upstream = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("line 1: upstream address"))?;
    let max_conns = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("line 2: connection limit"))?;
    Ok(Config {
        upstream,
        max_conns,
    })
}

/// Re-reads the config file and publishes changes; resizes the connection limit.
async fn watch_config(path: PathBuf, tx: watch::Sender<Config>, limit: Arc<Semaphore>) {
    loop {
        corio::time::sleep(Duration::from_millis(200)).await;
        let Ok(new) = read_config(&path) else {
            continue;
        };
        let old = tx.borrow().clone();
        if new == old {
            continue;
        }
        if new.max_conns > old.max_conns {
            limit.add_permits(new.max_conns - old.max_conns);
        } else if let Ok(p) = limit.try_acquire_many(old.max_conns - new.max_conns) {
            p.forget(); // shrink at once where the permits are free
        }
        eprintln!("config: {new:?}");
        tx.send_replace(new);
    }
}

async fn connect_upstream(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_for(&addr)?;
    socket.set_nodelay(true)?;
    socket.set_keepalive(Some(
        &TcpKeepalive::new().with_time(Duration::from_secs(60)),
    ))?;
    socket.connect(addr).await
}

async fn serve(
    mut client: TcpStream,
    config: watch::Receiver<Config>,
) -> std::io::Result<(u64, u64)> {
    let upstream = config.borrow().upstream;
    let mut upstream = connect_upstream(upstream).await?;
    copy_bidirectional(&mut client, &mut upstream).await
}

#[corio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(config_path)) = (args.next(), args.next()) else {
        eprintln!("usage: port_from_tokio LISTEN_ADDR CONFIG_FILE");
        std::process::exit(2);
    };
    let config_path = PathBuf::from(config_path);
    let config = read_config(&config_path)?;

    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "LISTEN_ADDR"))?;
    let socket = TcpSocket::new_for(&addr)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(1024)?;
    println!("listening on {}", listener.local_addr()?);

    let limit = Arc::new(Semaphore::new(config.max_conns));
    let (config_tx, config_rx) = watch::channel(config);
    corio::spawn(watch_config(config_path, config_tx, limit.clone()));

    // Standard input closed: stop.
    let stop = CancellationToken::new();
    let on_eof = stop.clone();
    corio::spawn(async move {
        let _ =
            corio::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
                .await;
        on_eof.cancel();
    });

    let mut conns = JoinSet::new();
    let (mut up, mut down, mut failed) = (0u64, 0u64, 0u64);
    loop {
        let permit = corio::select! {
            _ = stop.cancelled() => break,
            p = limit.clone().acquire_owned() => p.expect("never closed"),
        };
        let (client, _peer) = corio::select! {
            biased;
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted?,
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                tally(done, &mut up, &mut down, &mut failed);
                continue; // the permit is dropped: take it again
            }
        };
        let config = config_rx.clone();
        conns.spawn(async move {
            let moved = serve(client, config).await;
            drop(permit);
            moved
        });
        while let Some(done) = conns.try_join_next() {
            tally(done, &mut up, &mut down, &mut failed);
        }
    }
    conns.shutdown().await;
    println!("stopped: {up} bytes up, {down} bytes down, {failed} failed");
    Ok(())
}

fn tally(
    done: Result<std::io::Result<(u64, u64)>, corio::JoinError>,
    up: &mut u64,
    down: &mut u64,
    failed: &mut u64,
) {
    match done {
        Ok(Ok((u, d))) => {
            *up += u;
            *down += d;
        }
        _ => *failed += 1,
    }
}
