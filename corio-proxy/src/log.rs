//! The event log on stderr, through `tracing`: every line has a time and a level, as text
//! (the default) or one JSON object per line (`--log-format json`), filtered by
//! `--log-level` / key `log-level`, else `RUST_LOG`, else `info`.
//!
//! Events about one connection (a failed connect, a reset, a client closed for lack of
//! descriptors) go through [`error`] / [`warn`] / [`debug`], which let at most `PER_SECOND`
//! lines a second through across the process; the lines held back are counted, and the count
//! is printed with the next line let through. Lifecycle events (listening, reload, takeover,
//! drain) use `tracing` directly and are never held back. Nothing is logged for a healthy
//! connection.

use crate::config::LogFormat;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

const PER_SECOND: u32 = 20;

/// Checks a filter (`info`, `warn,corio_proxy=debug`) without installing it.
pub fn check_filter(filter: &str) -> Result<(), String> {
    EnvFilter::builder()
        .parse(filter)
        .map(drop)
        .map_err(|e| format!("{filter:?} is not a log filter ({e}); write e.g. info, debug, warn"))
}

/// Installs the process's subscriber. `level` wins over `RUST_LOG`.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(l) => EnvFilter::builder().parse_lossy(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

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

/// `Some(lines held back since the last one let through)` if this line may be printed.
fn admit() -> Option<u64> {
    let mut w = WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    admit_at(&mut w, Instant::now())
}

fn admit_at(w: &mut Window, now: Instant) -> Option<u64> {
    let fresh = w
        .start
        .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1));
    if fresh {
        w.start = Some(now);
        w.printed = 0;
    }
    if w.printed >= PER_SECOND {
        w.suppressed += 1;
        return None;
    }
    w.printed += 1;
    Some(std::mem::take(&mut w.suppressed))
}

/// Logs one error line about a connection (rate-limited).
pub fn error(args: fmt::Arguments<'_>) {
    if !tracing::enabled!(tracing::Level::ERROR) {
        return;
    }
    match admit() {
        Some(0) => tracing::error!("{args}"),
        Some(held) => tracing::error!("{args} ({held} earlier lines suppressed by the rate limit)"),
        None => {}
    }
}

/// Logs one warning about a connection (rate-limited).
pub fn warn(args: fmt::Arguments<'_>) {
    if !tracing::enabled!(tracing::Level::WARN) {
        return;
    }
    match admit() {
        Some(0) => tracing::warn!("{args}"),
        Some(held) => tracing::warn!("{args} ({held} earlier lines suppressed by the rate limit)"),
        None => {}
    }
}

/// Logs one debug line about a connection (rate-limited; off unless the filter asks).
pub fn debug(args: fmt::Arguments<'_>) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    if admit().is_some() {
        tracing::debug!("{args}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At most PER_SECOND lines a second; the next line let through says how many were held.
    #[test]
    fn the_rate_limit_holds_back_and_counts() {
        let mut w = Window {
            start: None,
            printed: 0,
            suppressed: 0,
        };
        let t0 = Instant::now();
        for i in 0..PER_SECOND {
            assert_eq!(admit_at(&mut w, t0), Some(0), "line {i}");
        }
        for _ in 0..7 {
            assert_eq!(admit_at(&mut w, t0 + Duration::from_millis(999)), None);
        }
        assert_eq!(admit_at(&mut w, t0 + Duration::from_secs(1)), Some(7));
        assert_eq!(admit_at(&mut w, t0 + Duration::from_secs(1)), Some(0));
    }
}
