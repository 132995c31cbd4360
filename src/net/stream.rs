//! The byte-stream loops shared by TCP and Unix streams: `write_all` over short writes,
//! `read_exact` over short reads.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{recv, send};
use std::io;

/// Sends every initialized byte of `buf`, looping over short writes.
pub(crate) async fn write_all<B: IoBuf>(fd: &SharedFd, mut buf: B) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut written = 0;
    while written < total {
        let (res, slice) = send::send(fd, buf.slice(written..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Reads until `buf` is full (`bytes_init() == bytes_total()`); EOF first is `UnexpectedEof`.
pub(crate) async fn read_exact<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
    kind: recv::ReadKind,
) -> BufResult<(), B> {
    if let Err(e) = crate::buf::check_room(&buf) {
        return (Err(e), buf);
    }
    while buf.bytes_init() < buf.bytes_total() {
        let (res, b) = recv::recv(fd, buf, kind).await;
        buf = b;
        match res {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
