//! One test body, every driver: monoio's `#[monoio::test_all]` as a plain function.
//!
//! [`each_driver`] runs a body once per driver pass — io_uring, then epoll — on the test's own
//! thread. During a pass, [`choice`], [`driver`], [`builder`] and [`rt`] name that pass's
//! driver (a thread-local, so parallel tests do not see each other's pass); a thread the body
//! spawns has no pass and takes a [`builder`] along instead. A pass that panics does not stop
//! the next; the test then fails with one line per failed pass, naming its driver.
//!
//! - io_uring refused by the kernel (the library's `Unsupported`): the uring pass is skipped
//!   with a printed reason. Any other error building the ring fails the test.
//! - `CORIO_DRIVER=uring` or `=epoll` runs only that pass (debugging one driver; test.sh's
//!   MSG_RING runs); unset or `auto`, both.
//! - A test that counts the process's fds takes [`counting_fds`] first: it waits until no
//!   other test of the binary is inside `each_driver`, and keeps them out until it is done
//!   (the count is process-wide; a socket another test opens beside it would change it).
//! - Each pass prints `[pass] <driver> ok|skipped|FAILED: <test>`, so that
//!   `cargo test -- --nocapture | grep -o '\[pass\] uring ok'` counts the bodies run.

use corio::{Builder, DriverChoice, DriverKind, Runtime};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Both drivers, in the order the passes run.
pub const ALL: [DriverChoice; 2] = [DriverChoice::IoUring, DriverChoice::Epoll];

thread_local! {
    /// The driver of the pass running on this thread.
    static PASS: Cell<Option<DriverChoice>> = const { Cell::new(None) };
    /// Why the body skipped the pass it is in, once it called [`skip`].
    static SKIPPED: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether this thread holds [`FDS`] exclusively (its `each_driver` then takes no share).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread holds a share of [`FDS`] (a nested `each_driver` takes no second:
    /// a read lock taken twice deadlocks once a writer waits between the two).
    static SHARING: Cell<bool> = const { Cell::new(false) };
}

/// Shared by every `each_driver` body, held exclusively by a test that counts fds.
static FDS: RwLock<()> = RwLock::new(());

/// The exclusive hold of [`counting_fds`]; dropping it lets the other tests in.
pub struct CountingFds {
    _hold: RwLockWriteGuard<'static, ()>,
}

impl Drop for CountingFds {
    fn drop(&mut self) {
        COUNTING.with(|c| c.set(false));
    }
}

/// Waits until no other test of this binary runs an `each_driver` body, and keeps them out
/// while the returned hold lives: take it first in a test that compares fd counts.
pub fn counting_fds() -> CountingFds {
    let hold = FDS.write().unwrap_or_else(|e| e.into_inner());
    COUNTING.with(|c| c.set(true));
    pool_threads_gone();
    CountingFds { _hold: hold }
}

/// Waits (up to 2 s) until no blocking-pool thread is left in the process. A dropped runtime's
/// pool threads exit once their queue is empty, but one that ran a job may still hold a waker
/// of that runtime for a moment after the job's result arrived, and with it the runtime's
/// eventfd and ring: counted at a baseline, they would vanish before the final count.
fn pool_threads_gone() {
    let alive = || {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                    .filter(|name| name.trim_end() == "corio-blocking")
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while alive() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A share of [`FDS`] for the outermost `each_driver` call of a thread.
pub struct FdsShare {
    _hold: RwLockReadGuard<'static, ()>,
}

impl Drop for FdsShare {
    fn drop(&mut self) {
        SHARING.with(|s| s.set(false));
    }
}

/// A share for this `each_driver` call; none on the thread that counts, or one that shares.
/// A test that opens fds outside `each_driver` (a child process's pipes) takes it itself.
pub fn fds_share() -> Option<FdsShare> {
    if COUNTING.with(|c| c.get()) || SHARING.with(|s| s.get()) {
        return None;
    }
    let hold = FDS.read().unwrap_or_else(|e| e.into_inner());
    SHARING.with(|s| s.set(true));
    Some(FdsShare { _hold: hold })
}

/// The name `CORIO_DRIVER` uses for `d`.
pub fn name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::IoUring => "uring",
        DriverChoice::Epoll => "epoll",
        DriverChoice::Auto => "auto",
    }
}

/// The passes to run: both drivers, or the one `CORIO_DRIVER` names.
pub fn passes() -> Vec<DriverChoice> {
    let Ok(v) = std::env::var("CORIO_DRIVER") else {
        return ALL.to_vec();
    };
    match DriverChoice::parse(&v) {
        Some(DriverChoice::Auto) => ALL.to_vec(),
        Some(d) => vec![d],
        None => panic!("CORIO_DRIVER={v:?}: expected uring or epoll (unset: both)"),
    }
}

/// Why the kernel refuses io_uring here, or `None` where it can be used. Probed once per
/// process, by building (and dropping) a ring before any body runs.
pub fn uring_refused() -> Option<&'static str> {
    static REFUSED: OnceLock<Option<String>> = OnceLock::new();
    REFUSED
        .get_or_init(
            || match Runtime::builder().driver(DriverChoice::IoUring).build() {
                Err(e) if e.kind() == ErrorKind::Unsupported => Some(e.to_string()),
                // Built, or a resource failure: the pass runs (and such a failure fails it).
                _ => None,
            },
        )
        .as_deref()
}

/// Runs `body` once per pass (see the module docs); fails naming each driver that failed.
pub fn each_driver(body: impl Fn()) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    each_driver_as(&test, body);
}

/// `each_driver` for a body outside libtest's threads (which are named after their test).
pub fn each_driver_as(test: &str, body: impl Fn()) {
    let _share = fds_share();
    let mut failed = Vec::new();
    for d in passes() {
        if d == DriverChoice::IoUring {
            if let Some(why) = uring_refused() {
                println!("[pass] uring skipped: {test}: io_uring refused here: {why}");
                continue;
            }
        }
        let outcome = {
            let _pass = Pass::enter(d);
            catch_unwind(AssertUnwindSafe(&body))
        };
        if COUNTING.with(|c| c.get()) {
            // The next pass's baseline must not see this pass's runtime going.
            pool_threads_gone();
        }
        let skipped = SKIPPED.with(|s| s.borrow_mut().take());
        match (outcome, skipped) {
            (Ok(()), Some(why)) => println!("[pass] {} skipped: {test}: {why}", name(d)),
            (Ok(()), None) => println!("[pass] {} ok: {test}", name(d)),
            (Err(payload), _) => {
                println!("[pass] {} FAILED: {test}", name(d));
                failed.push(format!("under {}: {}", name(d), panic_message(&*payload)));
            }
        }
    }
    if !failed.is_empty() {
        panic!("{test} failed {}", failed.join("; and "));
    }
}

/// Runs `body` only in the pass of `kind`; the other pass is reported as skipped for `why`.
pub fn only_on(kind: DriverKind, why: &str, body: impl Fn()) {
    each_driver(|| {
        if driver() == kind {
            body();
        } else {
            skip(why);
        }
    });
}

/// Marks the current pass as skipped for `why` (the body then returns): counted apart from
/// the passes that ran.
pub fn skip(why: &str) {
    SKIPPED.with(|s| *s.borrow_mut() = Some(why.to_string()));
}

/// The driver of the current pass, as requested. Panics outside a pass.
pub fn choice() -> DriverChoice {
    PASS.get().expect(
        "no driver pass on this thread: run the body through support::each_driver (or \
         run_test), and hand threads it spawns a support::builder()",
    )
}

/// The driver of the current pass. Panics outside a pass.
pub fn driver() -> DriverKind {
    match choice() {
        DriverChoice::IoUring => DriverKind::IoUring,
        DriverChoice::Epoll => DriverKind::Epoll,
        DriverChoice::Auto => unreachable!("passes are never Auto"),
    }
}

/// A builder set to the current pass's driver.
pub fn builder() -> Builder {
    let mut b = Runtime::builder();
    b.driver(choice());
    b
}

/// A runtime on the current pass's driver.
pub fn rt() -> Runtime {
    builder().build().expect("runtime")
}

/// Runs `f` and checks that it panics with a message containing `expected`.
pub fn expect_panic<R>(expected: &str, f: impl FnOnce() -> R) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("no panic; expected one containing {expected:?}"),
        Err(payload) => {
            let msg = panic_message(&*payload);
            assert!(
                msg.contains(expected),
                "panicked with {msg:?}, not {expected:?}"
            );
        }
    }
}

/// The message of a panic payload (`String` for formatted panics, `&str` for literals).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(a panic payload that is not a string)")
}

/// Sets this thread's pass for as long as it lives.
struct Pass(Option<DriverChoice>);

impl Pass {
    fn enter(d: DriverChoice) -> Pass {
        SKIPPED.with(|s| s.borrow_mut().take());
        Pass(PASS.replace(Some(d)))
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        PASS.set(self.0);
    }
}
