//! What the compat layer costs: a 64 B ping-pong echo served by corio's native owned-buffer
//! API and by [`corio_compat::echo`] (tokio-style reads and writes through `Compat`), on each
//! driver, rounds interleaved. The figure is the server thread's CPU time per request
//! (CLOCK_THREAD_CPUTIME_ID, from accept to the end of the connection), median of 7 rounds;
//! the client is a blocking std socket on another thread.
//!
//! `cargo bench -p corio-compat --bench echo` runs it in full; `cargo test --all-targets`
//! runs one tiny round as a smoke test (no `--bench` argument).

use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use std::io::{Read, Write};
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Native,
    Compat,
}

fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the live local `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

async fn native_echo(conn: TcpStream) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (res, b) = conn.read(buf).await;
        if !matches!(res, Ok(n) if n > 0) {
            return;
        }
        let (res, b) = conn.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}

/// One connection of `iters` 64 B requests; returns (server CPU ns, wall ns) per request.
fn round(driver: DriverChoice, server: Server, iters: u64) -> (f64, f64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = Runtime::builder().driver(driver).build().expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let (conn, _) = listener.accept().await.unwrap();
            conn.set_nodelay(true).unwrap();
            let start = thread_cpu_ns();
            match server {
                Server::Native => native_echo(conn).await,
                Server::Compat => {
                    corio_compat::echo(corio_compat::Compat::new(conn))
                        .await
                        .unwrap();
                }
            }
            thread_cpu_ns() - start
        })
    });
    let addr = rx.recv().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let start = Instant::now();
    for _ in 0..iters {
        client.write_all(&msg).unwrap();
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    let wall = start.elapsed().as_nanos();
    drop(client);
    let cpu = thread.join().unwrap();
    (cpu as f64 / iters as f64, wall as f64 / iters as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, iters) = if full { (7, 20_000) } else { (1, 10) };
    for (label, driver) in [
        ("uring", DriverChoice::IoUring),
        ("epoll", DriverChoice::Epoll),
    ] {
        if let Err(e) = Runtime::builder().driver(driver).build() {
            println!("{label}: skipped ({e})");
            continue;
        }
        let (mut cpu, mut wall) = ([vec![], vec![]], [vec![], vec![]]);
        for _ in 0..rounds {
            for (i, server) in [Server::Native, Server::Compat].into_iter().enumerate() {
                let (c, w) = round(driver, server, iters);
                cpu[i].push(c);
                wall[i].push(w);
            }
        }
        if !full {
            println!(
                "64 B echo, native vs compat [{label}]: ok (smoke run; `cargo bench` times it)"
            );
            continue;
        }
        let [n_cpu, c_cpu] = cpu.map(median);
        let [n_wall, c_wall] = wall.map(median);
        println!(
            "64 B echo [{label}]: server CPU/request native {n_cpu:.0} ns, compat {c_cpu:.0} ns \
             (compat/native {:.3}); round trip native {n_wall:.0} ns, compat {c_wall:.0} ns \
             ({rounds} interleaved rounds of {iters}, medians)",
            c_cpu / n_cpu
        );
    }
}
