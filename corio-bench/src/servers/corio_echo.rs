//! corio's echo server, on either driver.

use super::{Counters, BUF_SIZE};
use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub fn run(
    driver: DriverChoice,
    listener: std::net::TcpListener,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let rt = Runtime::builder().driver(driver).build()?;
    rt.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        // Publish the driver's counters for the stats line, 100 times a second.
        let c = counters.clone();
        corio::spawn(async move {
            loop {
                let s = corio::current_driver_stats();
                c.enters.store(s.enters, Ordering::Relaxed);
                c.epoll_waits.store(s.epoll_waits, Ordering::Relaxed);
                c.io_syscalls.store(s.io_syscalls, Ordering::Relaxed);
                c.ops_submitted.store(s.ops_submitted, Ordering::Relaxed);
                c.completions.store(s.completions, Ordering::Relaxed);
                corio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        loop {
            // EMFILE/ENFILE back off and ECONNABORTED is retried inside accept; any other error
            // ends the worker.
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            corio::spawn(echo(stream));
        }
    })
}

async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}
