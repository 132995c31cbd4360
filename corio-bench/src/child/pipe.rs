//! A child's stderr, read to its end on a thread of its own so a chatty child never blocks on
//! a full pipe: the tail is kept for error messages, and a server's "listening on" line gives
//! the port it bound.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The stderr kept for error messages (the tail).
const STDERR_KEEP: usize = 2048;

/// Reads a pipe to its end on a thread, keeping only the last `STDERR_KEEP` bytes, so a chatty
/// child never blocks on a full pipe.
pub fn drain(pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    drain_watching(pipe, None)
}

/// The port in a server's "listening on HOST:PORT (...)" line.
fn listening_port(line: &str) -> Option<u16> {
    let addr = line
        .strip_prefix("listening on ")?
        .split_whitespace()
        .next()?;
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

/// [`drain`], which also sends the port of the first "listening on" line to `port`.
pub(super) fn drain_watching(
    pipe: impl Read + Send + 'static,
    mut port: Option<mpsc::Sender<u16>>,
) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let (mut kept, mut line) = (Vec::new(), Vec::new());
        loop {
            line.clear();
            match pipe.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(tx) = &port {
                if let Some(p) = listening_port(&String::from_utf8_lossy(&line)) {
                    let _ = tx.send(p);
                    port = None;
                }
            }
            kept.extend_from_slice(&line);
            if kept.len() > 2 * STDERR_KEEP {
                kept.drain(..kept.len() - STDERR_KEEP);
            }
        }
        let text = String::from_utf8_lossy(&kept);
        let text = text.trim();
        let cut = text.len().saturating_sub(STDERR_KEEP);
        let cut = (cut..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[cut..].replace('\n', " / ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_port() {
        let line = "listening on 127.0.0.1:41234 (server tokio, service echo, 1 worker)\n";
        assert_eq!(listening_port(line), Some(41234));
        assert_eq!(listening_port("listening on [::1]:80 (x)"), Some(80));
        assert_eq!(listening_port("corio-bench serve: driver epoll"), None);
    }
}
