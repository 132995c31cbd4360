//! `SharedFd` against a real driver.

use super::SharedFd;
use crate::runtime::context;
use crate::{current_driver_stats, DriverChoice, Runtime};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only asks about the number; it touches no memory.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Issue 21, decision on a release inside the driver's borrow: on epoll, an fd whose last
/// handle went while the driver was in use further up the stack (a completion it delivered
/// dropped the fd, as an orphan does in `Offload::deliver`) skipped EPOLL_CTL_DEL, and its poll
/// descriptor stayed in the table for good after the fd was closed. Now the release waits for
/// the driver's turn to end: the number stays open until its descriptor is gone (so no new
/// socket can get it while epoll names it), then both go.
#[test]
fn an_fd_released_while_the_driver_is_busy_leaves_the_table_after_the_turn() {
    let rt = Runtime::builder()
        .driver(DriverChoice::Epoll)
        .build()
        .unwrap();
    rt.block_on(async {
        let base = current_driver_stats().registered_fds;
        let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = ours.as_raw_fd();
        let fd = SharedFd::new(OwnedFd::from(ours)).unwrap();
        assert_eq!(current_driver_stats().registered_fds, base + 1);
        context::with_driver(|_, _| drop(fd));
        assert!(is_open(raw), "closed while epoll still names it");
        crate::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            current_driver_stats().registered_fds,
            base,
            "the poll descriptor outlived its fd"
        );
        assert!(!is_open(raw), "the fd was never closed");
    });
}
