//! Dropped `Compat`s, with reads and writes in flight, leave no fd behind. (Its own test
//! binary: fd counts are per process, and other tests would open fds concurrently.)

mod support;

use corio_compat::Compat;
use std::time::Duration;
use support::{own_fds, run, tcp_pair, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn dropped_compats_with_operations_in_flight_close_their_fds() {
    let baseline = own_fds();
    run(Duration::from_secs(30), async {
        let mut keep = Vec::new();
        for _ in 0..20 {
            let (a, b) = tcp_pair().await;
            let mut a = Compat::new(a);
            let mut b = Compat::new(b);
            let mut buf = [0u8; 16];
            let r = corio::time::timeout(Duration::from_millis(5), a.read(&mut buf)).await;
            assert!(r.is_err());
            // Fill b's send path until a write is left in flight (the peer never reads).
            let chunk = vec![0u8; 256 << 10];
            let r = corio::time::timeout(Duration::from_millis(20), async {
                loop {
                    b.write_all(&chunk).await?;
                    b.flush().await?;
                }
                #[allow(unreachable_code)]
                std::io::Result::Ok(())
            })
            .await;
            assert!(r.is_err(), "the peer does not read: writes must stall");
            keep.push((a, b));
        }
        drop(keep);
        corio::time::sleep(Duration::from_millis(10)).await;
    });
    assert!(
        wait_until(Duration::from_secs(10), || own_fds() <= baseline),
        "fds: {} after, {baseline} before",
        own_fds()
    );
}
