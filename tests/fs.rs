//! Files: owned-buffer positional I/O on both drivers (io_uring SQEs; blocking pread/pwrite on
//! epoll, which cannot poll regular files).

mod support;

use corio::fs::File;
use std::io::ErrorKind;
use support::{pattern, run_test};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corio-fs-{}-{name}", std::process::id()))
}

#[test]
fn write_then_read_back_byte_exact() {
    run_test(|| async {
        let path = temp("rw");
        let file = File::create(&path).unwrap();
        let data = pattern(3, 1 << 20);
        let (res, _) = file.write_all_at(data.clone(), 0).await;
        res.unwrap();
        let (res, _) = file.write_at(&b"tail"[..], 1 << 20).await;
        assert_eq!(res.unwrap(), 4);
        file.sync_all().await.unwrap();

        let (res, got) = file.read_exact_at(Vec::with_capacity(1 << 20), 0).await;
        res.unwrap();
        assert!(got == data);
        let (res, got) = file.read_at(Vec::with_capacity(100), 1 << 20).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got, b"tail");
        // End of file.
        let (res, _) = file.read_at(Vec::with_capacity(8), (1 << 20) + 4).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file
            .read_exact_at(Vec::with_capacity(8), (1 << 20) + 1)
            .await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        file.close().await.unwrap();
        // Closed: a clear error.
        let (res, _) = file.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);

        // Reopen read-only: reads work, writes fail with the kernel's EBADF.
        let ro = File::open(&path).unwrap();
        let (res, got) = ro.read_at(Vec::with_capacity(4), 0).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got, data[..4]);
        let (res, _) = ro.write_at(&b"x"[..], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn open_errors_keep_their_errno() {
    run_test(|| async {
        let err = File::open(temp("does-not-exist")).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = File::create("/proc/definitely/not/here").err().unwrap();
        assert!(err.raw_os_error().is_some(), "{err}");
    });
}
