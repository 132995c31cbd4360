//! What the `macros` feature adds: the attribute and function-like macros of the
//! `corio-macros` crate, documented here, and the few functions their expansions call
//! (`__macro_support`, not part of the API).

/// Runs `async fn main` on a corio runtime.
///
/// - `#[corio::main]`: one executor on this thread, driver `auto` (io_uring where the kernel
///   allows it, else epoll; `CORIO_DRIVER` overrides, as for `Runtime::new`).
/// - `#[corio::main(driver = "uring" | "epoll" | "auto")]`: that driver (`uring` where it is
///   refused fails at start, naming why).
/// - `#[corio::main(workers = N)]`: `Runtime::run` with `N` workers; `main`'s body runs on
///   worker 0, the other workers serve `corio::spawn_on`, and when the body returns the others
///   are shut down. Its output must then be `Send`.
///
/// Panics if the runtime cannot be built.
///
/// ```
/// #[corio::main(driver = "auto")]
/// async fn main() -> std::io::Result<()> {
///     let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
pub use corio_macros::main;

/// An `async fn` test. Without a driver the body runs under **both** drivers, io_uring then
/// epoll, each on a fresh runtime (the io_uring pass is skipped, with a printed reason, where
/// the kernel refuses io_uring; `CORIO_DRIVER=uring|epoll` keeps one pass), as corio's own
/// tests do. `driver = "..."` runs one; `workers = N` runs the body on worker 0 of
/// `Runtime::run`. The body may return `()` or a `Result` whose `Err` fails the test.
///
/// ```
/// #[corio::test]
/// async fn echoes() {
///     let (a, b) = corio::net::UnixStream::pair().unwrap();
///     let (res, _) = a.write_all(&b"hi"[..]).await;
///     res.unwrap();
///     let (res, buf) = b.read_exact(Vec::with_capacity(2)).await;
///     res.unwrap();
///     assert_eq!(buf, b"hi");
/// }
/// ```
pub use corio_macros::test;

/// Waits on several futures at once and runs the branch of the first to complete; the other
/// futures are dropped (corio's reads and accepts are cancel-safe, so a read that lost the
/// race loses no bytes). Branches are polled from a random start each time, or in written
/// order after `biased;`.
///
/// ```text
/// select! {
///     biased;                                      // optional
///     pattern = future, if condition => handler,   // `, if condition` optional
///     else => handler,                             // optional
/// }
/// ```
///
/// A branch whose condition is false is disabled (its future is made, never polled), and so
/// is one whose output does not match its pattern; when every branch is disabled the `else`
/// branch runs (with none, `select!` panics).
///
/// ```
/// use std::time::Duration;
///
/// corio::block_on(async {
///     let (tx, mut rx) = corio::sync::mpsc::unbounded::<u32>();
///     tx.send(7).unwrap();
///     let got = corio::select! {
///         Some(v) = rx.recv() => v,
///         _ = corio::time::sleep(Duration::from_secs(1)) => 0,
///     };
///     assert_eq!(got, 7);
/// });
/// ```
pub use corio_macros::select;

/// Runs several futures concurrently in the current task and returns all their outputs as a
/// tuple, once every one is done.
///
/// ```
/// corio::block_on(async {
///     let (a, b) = corio::join!(async { 1 }, async { "two" });
///     assert_eq!((a, b), (1, "two"));
/// });
/// ```
pub use corio_macros::join;

/// Like [`join!`] for futures of `Result`s with one error type: returns `Ok` of every output,
/// or the first `Err` at once (the other futures are dropped).
///
/// ```
/// corio::block_on(async {
///     let r: Result<(u8, u8), &str> = corio::try_join!(async { Ok(1) }, async { Err("no") });
///     assert_eq!(r, Err("no"));
/// });
/// ```
pub use corio_macros::try_join;

#[doc(hidden)]
pub mod __macro_support {
    use crate::{Builder, DriverChoice, Runtime};
    use std::cell::Cell;
    use std::future::Future;

    fn builder(driver: Option<&str>) -> Builder {
        let mut b = Runtime::builder();
        if let Some(d) = driver {
            b.driver(DriverChoice::parse(d).unwrap_or(DriverChoice::Auto));
        }
        b
    }

    /// `#[corio::main]` on one executor.
    pub fn block_on<F: Future>(driver: Option<&str>, future: F) -> F::Output {
        let rt = builder(driver)
            .build()
            .unwrap_or_else(|e| panic!("corio::main: cannot build the runtime: {e}"));
        rt.block_on(future)
    }

    /// `#[corio::main(workers = N)]` and `#[corio::test(workers = N)]`: the body on worker 0,
    /// the others serving `spawn_on` until it returns.
    pub fn run_on_workers<F, Fut>(driver: Option<&str>, workers: usize, body: F) -> Fut::Output
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let mut b = builder(driver);
        b.workers(workers);
        let rt = b
            .build()
            .unwrap_or_else(|e| panic!("corio: cannot build the runtime: {e}"));
        let results = rt
            .run(move |worker| {
                let main = (worker == 0).then(&body);
                async move {
                    match main {
                        Some(main) => {
                            let out = main.await;
                            crate::request_shutdown();
                            Some(out)
                        }
                        None => {
                            crate::shutdown_requested().await;
                            None
                        }
                    }
                }
            })
            .unwrap_or_else(|e| panic!("corio: the workers failed: {e}"));
        match results.into_iter().next() {
            Some(Ok(Some(out))) => out,
            Some(Err(crate::JoinError::Panic(p))) => std::panic::resume_unwind(p),
            Some(Err(e)) => panic!("corio: worker 0 did not finish: {e}"),
            _ => panic!("corio: worker 0 did not finish"),
        }
    }

    /// What a test body may return.
    pub trait TestResult {
        /// Panics on a failure.
        fn check(self);
    }

    impl TestResult for () {
        fn check(self) {}
    }

    impl<E: std::fmt::Debug> TestResult for Result<(), E> {
        fn check(self) {
            if let Err(e) = self {
                panic!("test returned Err: {e:?}");
            }
        }
    }

    /// `#[corio::test]`: the body under each driver asked for (both when none is named).
    pub fn test<F, Fut>(name: &str, driver: Option<&str>, workers: usize, body: F)
    where
        F: Fn() -> Fut + Send + Sync + Clone + 'static,
        Fut: Future + 'static,
        Fut::Output: TestResult + Send + 'static,
    {
        let passes: Vec<&str> = match (driver, std::env::var("CORIO_DRIVER").ok().as_deref()) {
            (Some(d), _) => vec![d],
            (None, Some("uring")) => vec!["uring"],
            (None, Some("epoll")) => vec!["epoll"],
            (None, _) => vec!["uring", "epoll"],
        };
        for pass in passes {
            if pass == "uring" && driver.is_none() {
                if let Err(e) = builder(Some("uring")).build() {
                    if e.kind() == std::io::ErrorKind::Unsupported {
                        println!("[pass] uring skipped: {name}: io_uring refused here: {e}");
                        continue;
                    }
                }
            }
            if workers > 1 {
                run_on_workers(Some(pass), workers, body.clone()).check();
            } else {
                block_on(Some(pass), body()).check();
            }
            println!("[pass] {pass} ok: {name}");
        }
    }

    /// Which `select!` branch to poll first: a per-thread xorshift.
    pub fn random(n: usize) -> usize {
        thread_local! {
            static STATE: Cell<u64> = Cell::new({
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                (t ^ (&t as *const u64 as u64)) | 1
            });
        }
        STATE.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            (x % n as u64) as usize
        })
    }

    /// The `i`-th branch to poll, starting at `start`, of `n`.
    pub fn branch(start: usize, i: usize, n: usize) -> usize {
        (start + i) % n
    }

    /// A joined future's output (always there once the join is done).
    pub fn done<T>(out: Option<T>) -> T {
        match out {
            Some(v) => v,
            None => unreachable!("join!: a future's output taken before all were done"),
        }
    }
}
