//! The byte-stream loop shared by TCP and Unix streams: `read_exact` over short reads
//! (`write_all` is `op::send::write_all`).

use crate::buf::{BufResult, IoBufMut};
use crate::fd::SharedFd;
use crate::op::recv;
use std::io;

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
