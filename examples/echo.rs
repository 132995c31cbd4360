//! An echo server: `cargo run --release --example echo -- --addr 127.0.0.1:9000`.
//!
//! Reads what is available into a 16 KiB buffer and writes it all back, one task per
//! connection. `CORIO_DRIVER=epoll` runs it on the readiness driver.

use corio::net::TcpListener;
use std::io;

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:9000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or_else(|| bad("--addr needs a value"))?,
            "-h" | "--help" => {
                println!("usage: echo [--addr HOST:PORT]   (CORIO_DRIVER=auto|uring|epoll)");
                return Ok(());
            }
            other => return Err(bad(&format!("unknown argument {other:?}"))),
        }
    }
    let rt = corio::Runtime::new()?;
    eprintln!("echo: {} on {addr}", rt.driver_info());
    rt.block_on(async {
        let listener = TcpListener::bind(addr.as_str())?;
        loop {
            let (stream, _) = listener.accept().await?;
            corio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = Vec::with_capacity(16 * 1024);
                loop {
                    buf.clear();
                    let (res, b) = stream.read(buf).await;
                    buf = b;
                    match res {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let (res, b) = stream.write_all(buf).await;
                    buf = b;
                    if res.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}
