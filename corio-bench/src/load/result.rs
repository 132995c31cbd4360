//! What a load run measured: the shared tally its tasks update, and the result it becomes.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The figures of one run (the measured window only).
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub requests: u64,
    pub bytes: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Connections that ended early: reset, closed by the server, timed out.
    pub errors: u64,
    /// Echoed bytes that differ from what was sent.
    pub corrupt: u64,
    pub connect_errors: u64,
    /// The load generator thread's CPU time over the measured window, µs (None if the run
    /// ended before the window did). Near `secs` × 1e6: the load generator was the bottleneck.
    pub load_cpu_us: Option<u64>,
    /// How long the load generator thread waited on a run queue over the window, µs (None
    /// where /proc lacks schedstat). More than a few percent of the window: something else
    /// took its core, and the row is noise.
    pub load_wait_us: Option<u64>,
}

/// `load --json` and the `load` object of a results.json row (rates and quantiles rounded).
#[derive(Debug, Serialize)]
pub struct LoadJson {
    pub requests: u64,
    pub bytes: u64,
    pub secs: f64,
    pub rps: f64,
    pub mbps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub errors: u64,
    pub corrupt: u64,
    pub connect_errors: u64,
    pub load_cpu_us: Option<u64>,
    pub load_wait_us: Option<u64>,
}

/// `v` rounded to `digits` decimals.
pub fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }

    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs.max(1e-9) / 1e6
    }

    pub fn json(&self) -> LoadJson {
        LoadJson {
            requests: self.requests,
            bytes: self.bytes,
            secs: round(self.secs, 3),
            rps: round(self.rps(), 1),
            mbps: round(self.mbps(), 3),
            p50_us: round(self.p50_us, 1),
            p99_us: round(self.p99_us, 1),
            p999_us: round(self.p999_us, 1),
            errors: self.errors,
            corrupt: self.corrupt,
            connect_errors: self.connect_errors,
            load_cpu_us: self.load_cpu_us,
            load_wait_us: self.load_wait_us,
        }
    }
}

/// Latencies up to this are recorded as they are; longer ones as this (a request the load
/// waits this long for has long failed its connection).
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// Shared tallies; requests and latencies count only inside the measured window.
pub struct Tally {
    pub start: Instant,
    pub end: Instant,
    /// Latencies in ns, 3 significant digits (each quantile within 0.1 % of the true value).
    hist: Histogram<u64>,
    pub requests: u64,
    pub bytes: u64,
    pub errors: u64,
    pub corrupt: u64,
    pub connect_errors: u64,
}

pub type Shared = Rc<RefCell<Tally>>;

impl Tally {
    pub fn new(start: Instant, end: Instant, connect_errors: u64) -> Tally {
        let max = MAX_LATENCY.as_nanos() as u64;
        Tally {
            start,
            end,
            hist: Histogram::new_with_bounds(1, max, 3).expect("1 ns..60 s at 3 digits is valid"),
            requests: 0,
            bytes: 0,
            errors: 0,
            corrupt: 0,
            connect_errors,
        }
    }

    /// A request sent at `sent_at` was answered (`bytes` of payload) at `now`.
    pub fn done(&mut self, sent_at: Instant, now: Instant, bytes: usize) {
        if sent_at >= self.start && now <= self.end {
            self.requests += 1;
            self.bytes += bytes as u64;
            self.hist
                .saturating_record(now.duration_since(sent_at).as_nanos() as u64);
        }
    }

    /// A request sent at `sent_at` was answered at `now`, counted if it ended inside the window
    /// (wherever it started): for answers long enough that few would both start and end in
    /// it (file-serve's 1 MiB), so the window's count is its rate, unbiased.
    pub fn ended(&mut self, sent_at: Instant, now: Instant, bytes: usize) {
        if now >= self.start && now <= self.end {
            self.requests += 1;
            self.bytes += bytes as u64;
            self.hist
                .saturating_record(now.duration_since(sent_at).as_nanos() as u64);
        }
    }

    /// The latency at quantile `q` (0..=1), µs; 0 when nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_tenth_of_a_percent() {
        let t0 = Instant::now();
        let mut t = Tally::new(t0, t0 + Duration::from_secs(3600), 0);
        assert_eq!(t.quantile_us(0.5), 0.0);
        for v in 1..=100_000u64 {
            t.done(t0, t0 + Duration::from_nanos(v * 1000), 64);
        }
        assert_eq!((t.requests, t.bytes), (100_000, 6_400_000));
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = t.quantile_us(q);
            assert!((got - want).abs() / want < 0.001, "q{q}: {got} vs {want}");
        }
        // Outside the window: not counted.
        t.done(t0 - Duration::from_millis(1), t0, 64);
        assert_eq!(t.requests, 100_000);
        // Beyond the histogram's range: recorded at its top, not lost.
        t.done(t0, t0 + Duration::from_secs(120), 64);
        assert!(t.quantile_us(1.0) >= 59.9e6);
    }

    #[test]
    fn json_rounds_and_keeps_nulls() {
        let r = LoadResult {
            requests: 3,
            secs: 2.0,
            p50_us: 12.345,
            ..LoadResult::default()
        };
        let j = serde_json::to_string(&r.json()).unwrap();
        assert!(
            j.contains("\"rps\":1.5") && j.contains("\"p50_us\":12.3"),
            "{j}"
        );
        assert!(j.contains("\"load_cpu_us\":null"), "{j}");
    }
}
