//! Error lines on stderr: one per error with its reason, at most `PER_SECOND` a second across
//! the process; the lines held back are counted and the count is printed with the next line
//! let through. Nothing is logged for a healthy connection.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PER_SECOND: u32 = 20;

struct Window {
    start: Option<Instant>,
    printed: u32,
    suppressed: u64,
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    start: None,
    printed: 0,
    suppressed: 0,
});

/// Logs one error line (rate-limited).
pub fn error(args: fmt::Arguments<'_>) {
    let now = Instant::now();
    let mut w = WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = w
        .start
        .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1));
    if fresh {
        w.start = Some(now);
        w.printed = 0;
    }
    if w.printed >= PER_SECOND {
        w.suppressed += 1;
        return;
    }
    w.printed += 1;
    let held = std::mem::take(&mut w.suppressed);
    drop(w);
    if held > 0 {
        eprintln!(
            "corio-proxy: error: {args} ({held} earlier error lines suppressed by the rate limit)"
        );
    } else {
        eprintln!("corio-proxy: error: {args}");
    }
}
