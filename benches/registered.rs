//! Registered descriptors, measured: server CPU per request of a corio echo server on io_uring
//! with `Builder::registered_fds` off and on, in one interleaved run.
//!
//! `cargo bench -p corio --bench registered` runs it in full (5 rounds; each round runs every
//! case with the option off and on, the order alternating by round); `cargo test --benches`
//! runs one tiny round as a smoke test. Optional arguments: `--rounds N --secs S`.
//!
//! One run: the server is this binary again, as a child process pinned to CPU 0 (its own
//! io_uring runtime, one thread, an echo task per connection reading into a 16 KiB buffer and
//! writing back what it read). The load is this process, pinned to CPU 1: one io_uring runtime
//! (registered descriptors off, the same for both servers), `conns` connections of 64-byte
//! requests — ping-pong (one request in flight) or pipelined (16 requests written at once, then
//! their 16 responses read) — with every echoed byte checked. After a warm-up the child's CPU
//! time (getrusage RUSAGE_SELF: all its threads, user + system) is read at the start and the
//! end of the measured window; server CPU per request is the difference over the requests
//! answered in between. Reported per case: the median over rounds for each mode, the ratio
//! on/off, and the spread (min–max) of that ratio.

use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

/// Set in the child: serve, with registered descriptors on (`1`) or off (`0`).
const SERVE_ENV: &str = "CORIO_REGISTERED_BENCH_SERVE";
const SIZE: usize = 64;

struct Case {
    name: &'static str,
    conns: usize,
    depth: usize,
}

const CASES: [Case; 3] = [
    Case {
        name: "pingpong c=50",
        conns: 50,
        depth: 1,
    },
    Case {
        name: "pingpong c=500",
        conns: 500,
        depth: 1,
    },
    Case {
        name: "pipelined c=50 d=16",
        conns: 50,
        depth: 16,
    },
];

/// One measured run: server CPU µs per request, and requests per second.
#[derive(Clone, Copy)]
struct Run {
    cpu_per_req_us: f64,
    req_per_s: f64,
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it; sched_setaffinity
    // reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn cpu_time_us() -> u64 {
    // SAFETY: getrusage writes the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// The child: an echo server; prints its port, then its CPU time for every line on stdin.
fn serve(registered: bool) {
    pin(0);
    let rt = Runtime::builder()
        .driver(DriverChoice::IoUring)
        .registered_fds(registered)
        .build()
        .expect("io_uring runtime");
    assert_eq!(rt.driver_info().registered_fds.is_some(), registered);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Accepted sockets inherit TCP_NODELAY from the listener (Linux).
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads an int that lives for the call, on the listener's fd.
        unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                4,
            )
        };
        println!("PORT {}", listener.local_addr().unwrap().port());
        std::thread::spawn(|| {
            for line in std::io::stdin().lock().lines() {
                match line.as_deref() {
                    Ok("cpu") => println!("CPU {}", cpu_time_us()),
                    _ => std::process::exit(0),
                }
            }
            std::process::exit(0);
        });
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            corio::spawn(async move {
                let mut buf = Vec::with_capacity(16 << 10);
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
            });
        }
    });
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Server {
    fn start(registered: bool) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVE_ENV, if registered { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let port = read_value(&mut stdout, "PORT ") as u16;
        Server {
            child,
            stdin,
            stdout,
            port,
        }
    }

    fn cpu_us(&mut self) -> u64 {
        writeln!(self.stdin, "cpu").unwrap();
        read_value(&mut self.stdout, "CPU ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

fn read_value(from: &mut impl BufRead, prefix: &str) -> u64 {
    let mut line = String::new();
    from.read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix(prefix)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("server said {line:?}, not {prefix}..."))
}

/// One connection's loop until `stop`: `depth` requests written at once, their responses read
/// and checked; each answered request counts.
async fn connection(
    addr: std::net::SocketAddr,
    depth: usize,
    stop: Rc<Cell<bool>>,
    done: Rc<Cell<u64>>,
) {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let request: Vec<u8> = (0..SIZE * depth).map(|i| (i * 7 + depth) as u8).collect();
    let mut back = Vec::with_capacity(request.len());
    while !stop.get() {
        let (res, _) = s.write_all(request.clone()).await;
        res.unwrap();
        back.clear();
        let (res, b) = s.read_exact(back).await;
        res.unwrap();
        assert!(b == request, "a wrong echo");
        back = b;
        done.set(done.get() + depth as u64);
    }
}

/// One run of `case` against a fresh server: warm-up, then `secs` measured.
fn run(case: &Case, registered: bool, warmup: Duration, secs: Duration) -> Run {
    let mut server = Server::start(registered);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], server.port).into();
    let rt = Runtime::builder()
        .driver(DriverChoice::IoUring)
        .registered_fds(false)
        .build()
        .unwrap();
    let (stop, done) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(0u64)));
    let out = rt.block_on(async {
        let tasks: Vec<_> = (0..case.conns)
            .map(|_| corio::spawn(connection(addr, case.depth, stop.clone(), done.clone())))
            .collect();
        corio::time::sleep(warmup).await;
        let server_ref = &mut server;
        let cpu0 = server_ref.cpu_us();
        let (n0, t0) = (done.get(), std::time::Instant::now());
        corio::time::sleep(secs).await;
        let cpu1 = server_ref.cpu_us();
        let (n1, elapsed) = (done.get(), t0.elapsed());
        stop.set(true);
        for t in tasks {
            t.await.unwrap();
        }
        let reqs = (n1 - n0).max(1) as f64;
        Run {
            cpu_per_req_us: (cpu1 - cpu0) as f64 / reqs,
            req_per_s: reqs / elapsed.as_secs_f64(),
        }
    });
    drop(server);
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn arg(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    if let Ok(mode) = std::env::var(SERVE_ENV) {
        serve(mode == "1");
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    match Runtime::builder()
        .driver(DriverChoice::IoUring)
        .registered_fds(true)
        .build()
    {
        Ok(rt) if rt.driver_info().registered_fds.is_some() => {}
        Ok(_) => return println!("registered: skipped (this kernel lacks what it needs)"),
        Err(e) => return println!("registered: skipped (io_uring: {e})"),
    }
    let rounds = arg("--rounds").map_or(if full { 5 } else { 1 }, |r| r as usize);
    let secs = Duration::from_secs_f64(arg("--secs").unwrap_or(if full { 1.0 } else { 0.05 }));
    let warmup = if full {
        Duration::from_millis(300)
    } else {
        Duration::from_millis(20)
    };
    pin(1);
    let mut runs: Vec<Vec<(Run, Run)>> = CASES.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, case) in CASES.iter().enumerate() {
            // Alternate which mode goes first, so drift on the machine hits both alike.
            let first = round % 2 == 1;
            let a = run(case, first, warmup, secs);
            let b = run(case, !first, warmup, secs);
            let (off, on) = if first { (b, a) } else { (a, b) };
            runs[i].push((off, on));
        }
    }
    if !full {
        return println!("registered descriptors: ok (smoke run; figures need `cargo bench`)");
    }
    println!("server CPU per request, median of {rounds} interleaved rounds of {secs:?}:");
    println!(
        "{:<22} {:>12} {:>12} {:>8} {:>15} {:>11} {:>11}",
        "case", "off µs/req", "on µs/req", "on/off", "ratio min–max", "off req/s", "on req/s"
    );
    for (case, rs) in CASES.iter().zip(&runs) {
        let off = median(rs.iter().map(|r| r.0.cpu_per_req_us).collect());
        let on = median(rs.iter().map(|r| r.1.cpu_per_req_us).collect());
        let ratios: Vec<f64> = rs
            .iter()
            .map(|r| r.1.cpu_per_req_us / r.0.cpu_per_req_us)
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "{:<22} {:>12.2} {:>12.2} {:>8.3} {:>7.3}–{:<7.3} {:>11.0} {:>11.0}",
            case.name,
            off,
            on,
            median(ratios.clone()),
            lo,
            hi,
            median(rs.iter().map(|r| r.0.req_per_s).collect()),
            median(rs.iter().map(|r| r.1.req_per_s).collect()),
        );
    }
}
