//! The file servers' client: a request is one byte; its answer is the whole file, checked
//! byte for byte against the content it must have (`crate::content`, from offset 0).

use super::config::{LoadConfig, IO_TIMEOUT};
use super::result::Shared;
use corio::net::TcpStream;
use corio::time::timeout;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

/// Keeps `depth` requests in flight on one connection until the window ends, then reads the
/// answers still due. A wrong byte, a short answer or a stall ends the connection (counted).
pub(super) async fn fetch(s: TcpStream, cfg: LoadConfig, expect: Rc<Vec<u8>>, tally: Shared) {
    let end = tally.borrow().end;
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(cfg.depth);
    let mut buf = Vec::with_capacity(cfg.size);
    let mut ask = cfg.depth;
    loop {
        if ask > 0 {
            let now = Instant::now();
            sent.extend(std::iter::repeat_n(now, ask));
            let req = vec![b'G'; ask];
            match timeout(IO_TIMEOUT, s.write_all(req)).await {
                Ok((Ok(()), _)) => {}
                _ => {
                    tally.borrow_mut().errors += 1;
                    return;
                }
            }
        }
        let Some(at) = sent.pop_front() else {
            return;
        };
        buf.clear();
        buf = match timeout(IO_TIMEOUT, s.read_exact(buf)).await {
            Ok((Ok(()), got)) => got,
            _ => {
                tally.borrow_mut().errors += 1;
                return;
            }
        };
        if buf != *expect {
            tally.borrow_mut().corrupt += 1;
            return;
        }
        let now = Instant::now();
        tally.borrow_mut().ended(at, now, cfg.size);
        ask = usize::from(now < end);
    }
}
