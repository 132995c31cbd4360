//! The optional features, under both drivers: `bytes` (Bytes / BytesMut as I/O buffers) and
//! `tracing` (the library's events reach a subscriber). test.sh builds the library's tests
//! with every feature on; without them this file holds no test.

mod support;

/// The two tests run one at a time: `tracing` caches each call site's interest process-wide, and
/// a runtime built on another thread while the subscriber is being installed can leave the ring's
/// set-up event cached as uninteresting (seen once in ./test.sh).
#[cfg(any(feature = "bytes", feature = "tracing"))]
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(feature = "bytes")]
#[test]
fn bytes_and_bytes_mut_are_io_buffers() {
    use bytes::{BufMut, Bytes, BytesMut};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    support::run_test(|| async {
        let (a, b) = support::tcp_pair().await;
        let data = Bytes::from(support::pattern(3, 100_000));
        let (res, sent) = a.write_all(data.clone()).await;
        res.unwrap();
        assert_eq!(sent, data, "the Bytes comes back unchanged");
        let mut got = BytesMut::with_capacity(4);
        got.put_slice(b"hdr:");
        got.reserve(100_000);
        let (res, got) = b.read_exact(got).await;
        res.unwrap();
        assert_eq!(&got[..4], b"hdr:");
        assert_eq!(&got[4..4 + 1000], &data[..1000]);
    });
}

#[cfg(feature = "tracing")]
#[test]
fn the_library_reports_through_tracing() {
    use std::sync::{Arc, Mutex};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use tracing::field::{Field, Visit};

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<String>>>);
    struct Message<'a>(&'a mut String);
    impl Visit for Message<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                *self.0 = format!("{value:?}");
            }
        }
    }
    impl tracing::Subscriber for Collect {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut m = String::new();
            event.record(&mut Message(&mut m));
            self.0
                .lock()
                .unwrap()
                .push(format!("{}: {m}", event.metadata().target()));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    support::each_driver(|| {
        let seen = Collect::default();
        tracing::subscriber::with_default(seen.clone(), || {
            let rt = support::rt();
            rt.block_on(async {
                drop(corio::spawn(std::future::pending::<()>()));
            });
            drop(rt);
        });
        let seen = seen.0.lock().unwrap().clone();
        assert!(
            seen.iter()
                .any(|e| e.starts_with("corio: runtime shutdown: dropping 1 unfinished")),
            "{seen:?}"
        );
        if support::driver() == corio::DriverKind::IoUring {
            assert!(
                seen.iter().any(|e| e.contains("io_uring set up")),
                "{seen:?}"
            );
        }
    });
}
