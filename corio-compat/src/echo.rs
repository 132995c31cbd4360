//! [`echo`]: a connection served through the compat layer, the way tokio code is written.

use crate::{Compat, OwnedStream};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Echoes what `io` receives until EOF, through the poll-based traits exactly as tokio code
/// would (read into its own buffer, write it all, flush), then shuts down the write half.
/// Returns the number of bytes echoed. A server loop for a benchmark's compat variant:
///
/// ```no_run
/// corio::block_on(async {
///     let listener = corio::net::TcpListener::bind("127.0.0.1:9000")?;
///     loop {
///         let (stream, _) = listener.accept().await?;
///         corio::spawn(corio_compat::echo(corio_compat::Compat::new(stream)));
///     }
///     #[allow(unreachable_code)]
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn echo<S: OwnedStream>(mut io: Compat<S>) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf);
            Pin::new(&mut io)
                .poll_read(cx, &mut rb)
                .map_ok(|()| rb.filled().len())
        })
        .await?;
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            let m = poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &buf[off..n])).await?;
            off += m;
        }
        poll_fn(|cx| Pin::new(&mut io).poll_flush(cx)).await?;
        total += n as u64;
    }
    poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx)).await?;
    Ok(total)
}
