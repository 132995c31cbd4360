//! wrk: whether it is installed, and what its `--latency` output says.

use std::process::{Command, Stdio};

/// The program, found on PATH.
pub const PROGRAM: &str = "wrk";

/// Ok where `wrk` runs; else why not (the suite prints it and skips the workload).
pub fn available() -> Result<(), String> {
    // `wrk -v` prints its version and exits 1: that it ran is what counts.
    match Command::new(PROGRAM)
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("wrk is not installed (Debian: apt-get install wrk)".into())
        }
        Err(e) => Err(format!("wrk cannot be run: {e}")),
    }
}

/// What one wrk run reported.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkResult {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Read, write and timeout errors plus non-2xx/3xx answers.
    pub errors: u64,
    pub connect_errors: u64,
}

/// A wrk duration ("540.00us", "1.20ms", "2.00s", "1.00m") in µs.
fn micros(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(n * scale)
}

/// The number after `key` on a line that starts with it.
fn after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// Parses `wrk --latency` output; None if a figure it always prints is missing.
pub fn parse(text: &str) -> Option<WrkResult> {
    let rps: f64 = after(text, "Requests/sec:")?.parse().ok()?;
    let p50_us = micros(after(text, "50%")?)?;
    let p99_us = micros(after(text, "99%")?)?;
    let (mut errors, mut connect_errors) = (0, 0);
    // "Socket errors: connect 0, read 2, write 0, timeout 1", only when there were some.
    if let Some(list) = after(text, "Socket errors:") {
        for part in list.split(',') {
            let mut words = part.split_whitespace();
            let (kind, n) = (words.next()?, words.next()?.parse::<u64>().ok()?);
            if kind == "connect" {
                connect_errors += n;
            } else {
                errors += n;
            }
        }
    }
    if let Some(n) = after(text, "Non-2xx or 3xx responses:") {
        errors += n.parse::<u64>().ok()?;
    }
    Some(WrkResult {
        rps,
        p50_us,
        p99_us,
        errors,
        connect_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 1s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   560.30us  123.45us   5.00ms   90.00%
    Req/Sec    85.00k     3.00k   90.00k    80.00%
  Latency Distribution
     50%  540.00us
     75%  600.00us
     90%  700.00us
     99%    1.20ms
  85000 requests in 1.00s, 10.00MB read
Requests/sec:  85000.50
Transfer/sec:     10.00MB
";

    #[test]
    fn parses_rate_quantiles_and_errors() {
        let r = parse(CLEAN).unwrap();
        assert_eq!((r.rps, r.p50_us, r.p99_us), (85000.5, 540.0, 1200.0));
        assert_eq!((r.errors, r.connect_errors), (0, 0));
        let bad = CLEAN.replace(
            "Requests/sec",
            "  Socket errors: connect 3, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 5\nRequests/sec",
        );
        let r = parse(&bad).unwrap();
        assert_eq!((r.errors, r.connect_errors), (8, 3));
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_none());
        assert_eq!(micros("2.50s"), Some(2.5e6));
        assert_eq!(micros("12"), None);
    }
}
