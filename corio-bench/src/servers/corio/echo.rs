//! corio's echo server: the README's example, read and `write_all` on `TcpStream` through the
//! public API, one task per connection.

use super::accept::accept_loop;
use crate::servers::contract::{Worker, BUF_SIZE};
use corio::net::TcpStream;
use corio::DriverChoice;
use std::io;

pub(super) fn run(driver: DriverChoice, w: Worker) -> io::Result<()> {
    accept_loop(driver, w, |_, _| Ok(echo))
}

/// The first read's buffer: small, so that an idle connection holds no page of its own (a
/// 16 KiB buffer costs a resident page even unread: its allocator header). A read that fills
/// it moves the connection to `BUF_SIZE`.
const FIRST_BUF: usize = 1024;

async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(FIRST_BUF);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let full = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n == b.capacity(),
        };
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = if full && b.capacity() < BUF_SIZE {
            Vec::with_capacity(BUF_SIZE)
        } else {
            b
        };
    }
}
