//! `corio-bench tokio-proxy`: the tokio proxy the proxy workload compares with, written as a
//! tokio user would write it: a current_thread runtime, one task per client, one upstream
//! connection each, `copy_bidirectional` (which half-closes each way as its side ends).
//! SIGTERM ends the process (the default action).

use std::net::SocketAddr;

/// Runs until killed; exit 1 if it cannot listen.
pub fn tokio_proxy_cmd(listen: SocketAddr, upstream: SocketAddr) -> i32 {
    crate::sys::raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("corio-bench tokio-proxy: building the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("corio-bench tokio-proxy: listening on {listen}: {e}");
                return 1;
            }
        };
        eprintln!("listening on {listen}");
        loop {
            let (mut client, _) = match listener.accept().await {
                Ok(c) => c,
                // Out of fds, or a connection reset before it was accepted: go on, after a
                // pause (a full fd table would otherwise spin).
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    })
}
