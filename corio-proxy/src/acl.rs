//! Source ACLs (`allow`, `deny`) and `max-conns-per-source`, checked on the client's address
//! (the one a PROXY header gave, with `accept-proxy`) before any upstream is contacted.
//!
//! Deny wins over allow; with an allow list, an address it does not cover is denied. An
//! IPv4-mapped IPv6 address (a v4 client on a dual-stack socket) is matched as the IPv4
//! address it is. A client with no IP (a Unix client, a PROXY `LOCAL` on a Unix listener) is
//! denied by an allow list and matches no deny rule.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// A listener's allow and deny lists.
#[derive(Debug, Default)]
pub struct Acl {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl Acl {
    pub fn new(allow: &[IpNet], deny: &[IpNet]) -> Acl {
        Acl {
            allow: allow.to_vec(),
            deny: deny.to_vec(),
        }
    }

    /// Whether a client at `ip` may be served.
    pub fn permits(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
            return self.allow.is_empty();
        };
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// Live clients per source address, across the workers of one listener.
#[derive(Debug)]
pub struct SourceLimit {
    max: u32,
    live: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One client counted against its source until dropped.
pub struct SourceSlot {
    ip: IpAddr,
    live: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl SourceLimit {
    pub fn new(max: u32) -> SourceLimit {
        SourceLimit {
            max,
            live: Arc::default(),
        }
    }

    /// Counts a client from `ip`; `None` when its source is at the limit already.
    pub fn admit(&self, ip: IpAddr) -> Option<SourceSlot> {
        let ip = ip.to_canonical();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let n = live.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            ip,
            live: self.live.clone(),
        })
    }

    /// Sources with at least one live client (the map never keeps a zero).
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.live.lock().unwrap().len()
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = live.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::parse_cidr;

    fn acl(allow: &[&str], deny: &[&str]) -> Acl {
        let p = |v: &[&str]| v.iter().map(|s| parse_cidr(s).unwrap()).collect::<Vec<_>>();
        Acl::new(&p(allow), &p(deny))
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn deny_wins_and_mapped_addresses_match_ipv4_rules() {
        let a = acl(&["10.0.0.0/8", "::1/128"], &["10.9.0.0/16"]);
        assert!(a.permits(ip("10.1.2.3")));
        assert!(!a.permits(ip("10.9.2.3")));
        assert!(a.permits(ip("::ffff:10.1.2.3")));
        assert!(!a.permits(ip("::ffff:10.9.2.3")));
        assert!(a.permits(ip("::1")));
        assert!(!a.permits(ip("192.0.2.1")));
        assert!(!a.permits(None));
        let d = acl(&[], &["127.0.0.2"]);
        assert!(!d.permits(ip("127.0.0.2")) && !d.permits(ip("::ffff:127.0.0.2")));
        assert!(d.permits(ip("127.0.0.3")) && d.permits(None));
    }

    #[test]
    fn per_source_limit_counts_and_forgets() {
        let l = SourceLimit::new(2);
        let a = ip("192.0.2.1").unwrap();
        let s1 = l.admit(a).unwrap();
        let s2 = l.admit("::ffff:192.0.2.1".parse().unwrap()).unwrap();
        assert!(l.admit(a).is_none());
        assert!(l.admit(ip("192.0.2.2").unwrap()).is_some());
        drop(s1);
        let s3 = l.admit(a).unwrap();
        drop((s2, s3));
        assert_eq!(l.sources(), 0);
    }
}
