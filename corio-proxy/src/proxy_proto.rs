//! The PROXY protocol (HAProxy's spec, versions 1 and 2): parse the header a balancer puts in
//! front of a client's bytes (`accept-proxy`), and build the one we put in front of ours
//! (`send-proxy`).
//!
//! - v1 is one text line, at most 107 bytes: `PROXY TCP4 SRC DST SPORT DPORT\r\n` (or TCP6,
//!   or `PROXY UNKNOWN ...\r\n`).
//! - v2 is binary: a 12-byte signature, a version/command byte (0x20 LOCAL, 0x21 PROXY), a
//!   family/transport byte (0x11 TCP4, 0x21 TCP6, 0x31 UNIX, 0x00 UNSPEC), a big-endian length,
//!   then that many bytes: the addresses, then TLVs (skipped).
//!
//! `LOCAL`, `UNKNOWN` and UNSPEC/UNIX families carry no client IP: the receiver uses the
//! connection's own addresses (the spec's rule for a balancer's health check).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the spec's bound).
pub const V1_MAX: usize = 107;
/// The fixed part of a v2 header.
const V2_FIXED: usize = 16;

/// What a header says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addresses {
    /// The original client (source) and the address it connected to (destination).
    Proxied { src: SocketAddr, dst: SocketAddr },
    /// LOCAL, UNKNOWN, or a family without IPs: use the connection's own addresses.
    Local,
}

/// The outcome of looking at the first bytes of a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet to tell; read more. `need` is a lower bound on the total.
    Incomplete { need: usize },
    /// A whole header of `len` bytes; what follows it is the client's own data.
    Done { addrs: Addresses, len: usize },
}

/// Why a header was refused.
pub type Malformed = &'static str;

/// Parses a v1 or v2 header at the start of `buf` (detected from its first bytes).
pub fn parse(buf: &[u8]) -> Result<Parsed, Malformed> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] && n > 0 {
        return parse_v2(buf);
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] == V1_PREFIX[..n] {
        return parse_v1(buf);
    }
    Err("not a PROXY protocol header")
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, Malformed> {
    let Some(end) = buf.windows(2).take(V1_MAX - 1).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err("v1 header without CRLF within 107 bytes");
        }
        return Ok(Parsed::Incomplete {
            need: buf.len() + 1,
        });
    };
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| "v1 header is not ASCII")?;
    let mut parts = line.split(' ');
    parts.next(); // "PROXY"
    let addrs = match parts.next() {
        Some("UNKNOWN") => Addresses::Local,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let mut field = || parts.next().ok_or("v1 header has too few fields");
            let (src, dst, sport, dport) = (field()?, field()?, field()?, field()?);
            if parts.next().is_some() {
                return Err("v1 header has too many fields");
            }
            let ip = |s: &str| -> Result<IpAddr, Malformed> {
                let ip = if proto == "TCP4" {
                    s.parse::<Ipv4Addr>().map(IpAddr::V4)
                } else {
                    s.parse::<Ipv6Addr>().map(IpAddr::V6)
                };
                ip.map_err(|_| "v1 header has a bad address")
            };
            let port = |s: &str| -> Result<u16, Malformed> {
                // The spec forbids leading zeros ("0" itself is fine) and signs.
                let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !digits || (s.len() > 1 && s.starts_with('0')) {
                    return Err("v1 header has a bad port");
                }
                s.parse().map_err(|_| "v1 header has a bad port")
            };
            Addresses::Proxied {
                src: SocketAddr::new(ip(src)?, port(sport)?),
                dst: SocketAddr::new(ip(dst)?, port(dport)?),
            }
        }
        _ => return Err("v1 header has an unknown protocol"),
    };
    Ok(Parsed::Done {
        addrs,
        len: end + 2,
    })
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, Malformed> {
    if buf.len() < V2_FIXED {
        return Ok(Parsed::Incomplete { need: V2_FIXED });
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err("v2 header has an unknown version");
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err("v2 header has an unknown command"),
    };
    let fam = buf[13];
    let len = V2_FIXED + u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if buf.len() < len {
        return Ok(Parsed::Incomplete { need: len });
    }
    let body = &buf[V2_FIXED..len];
    if local {
        // LOCAL: the addresses (if any) are ignored, the TLVs skipped.
        return Ok(Parsed::Done {
            addrs: Addresses::Local,
            len,
        });
    }
    let addrs = match (fam >> 4, fam & 0x0f) {
        // Our listeners are stream sockets; a datagram header is not for us.
        (_, t) if t > 1 => return Err("v2 header is for a datagram transport"),
        (0, _) | (3, _) => Addresses::Local,
        (1, _) => {
            if body.len() < 12 {
                return Err("v2 TCP4 header too short for its addresses");
            }
            let ip = |o: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[o],
                    body[o + 1],
                    body[o + 2],
                    body[o + 3],
                ))
            };
            let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            Addresses::Proxied {
                src: SocketAddr::new(ip(0), port(8)),
                dst: SocketAddr::new(ip(4), port(10)),
            }
        }
        (2, _) => {
            if body.len() < 36 {
                return Err("v2 TCP6 header too short for its addresses");
            }
            let ip = |o: usize| {
                let b: [u8; 16] = body[o..o + 16].try_into().expect("16 bytes");
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            Addresses::Proxied {
                src: SocketAddr::new(ip(0), port(32)),
                dst: SocketAddr::new(ip(16), port(34)),
            }
        }
        _ => return Err("v2 header has an unknown address family"),
    };
    Ok(Parsed::Done { addrs, len })
}

/// Both addresses in one family: an IPv4 address beside an IPv6 one is written IPv4-mapped
/// (or unmapped, when the IPv6 one is itself IPv4-mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (s, d) = (canon(src), canon(dst));
    if s.is_ipv4() == d.is_ipv4() {
        return (s, d);
    }
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (v6(s), v6(d))
}

/// The v1 header for `addrs` (`PROXY UNKNOWN\r\n` without them).
pub fn v1(addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let Some((src, dst)) = addrs else {
        return b"PROXY UNKNOWN\r\n".to_vec();
    };
    let (src, dst) = same_family(src, dst);
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// The v2 header for `addrs` (a LOCAL header without them).
pub fn v2(addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(V2_FIXED + 36);
    out.extend_from_slice(&V2_SIGNATURE);
    let Some((src, dst)) = addrs else {
        out.extend_from_slice(&[0x20, 0x00, 0, 0]);
        return out;
    };
    let (src, dst) = same_family(src, dst);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x21, 0x11, 0, 12]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let six = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            out.extend_from_slice(&[0x21, 0x21, 0, 36]);
            out.extend_from_slice(&six(s));
            out.extend_from_slice(&six(d));
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn done(buf: &[u8]) -> (Addresses, usize) {
        match parse(buf).unwrap() {
            Parsed::Done { addrs, len } => (addrs, len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_round_trips_and_is_byte_exact() {
        let h = v1(Some((sa("192.0.2.1:56324"), sa("198.51.100.2:443"))));
        assert_eq!(h, b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
        let (a, len) = done(&[&h[..], b"payload"].concat());
        assert_eq!(len, h.len());
        assert_eq!(
            a,
            Addresses::Proxied {
                src: sa("192.0.2.1:56324"),
                dst: sa("198.51.100.2:443")
            }
        );
        let h6 = v1(Some((sa("[2001:db8::1]:1"), sa("[::1]:2"))));
        assert_eq!(h6, b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
        assert_eq!(done(&h6).1, h6.len());
        assert_eq!(v1(None), b"PROXY UNKNOWN\r\n");
        assert_eq!(
            done(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n").0,
            Addresses::Local
        );
        // A mapped client on an IPv6 listener is written in IPv6; an IPv4 client beside an
        // IPv4-mapped destination is written in IPv4.
        let mixed = v1(Some((sa("10.0.0.1:5"), sa("[2001:db8::2]:6"))));
        assert_eq!(mixed, b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 5 6\r\n");
        let mapped = v1(Some((sa("10.0.0.1:5"), sa("[::ffff:10.0.0.2]:6"))));
        assert_eq!(mapped, b"PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n");
    }

    #[test]
    fn v2_round_trips_and_is_byte_exact() {
        let h = v2(Some((sa("192.0.2.1:56324"), sa("198.51.100.2:443"))));
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 2]);
        want.extend_from_slice(&[0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(h, want);
        assert_eq!(done(&h).1, 28);
        let h6 = v2(Some((sa("[2001:db8::1]:1"), sa("[::1]:2"))));
        assert_eq!(h6.len(), 16 + 36);
        assert_eq!(&h6[12..16], &[0x21, 0x21, 0, 36]);
        assert_eq!(
            done(&h6).0,
            Addresses::Proxied {
                src: sa("[2001:db8::1]:1"),
                dst: sa("[::1]:2")
            }
        );
        assert_eq!(v2(None), [&V2_SIGNATURE[..], &[0x20, 0, 0, 0]].concat());
    }

    #[test]
    fn v2_local_and_tlvs_are_skipped() {
        // PROXY TCP4 with two TLVs (ALPN "h2" and an authority), then payload.
        let mut h = V2_SIGNATURE.to_vec();
        let tlvs = [&[0x01, 0x00, 0x02][..], b"h2", &[0x02, 0x00, 0x03], b"a.b"].concat();
        h.extend_from_slice(&[0x21, 0x11, 0, (12 + tlvs.len()) as u8]);
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 1, 0]);
        h.extend_from_slice(&tlvs);
        let total = h.len();
        h.extend_from_slice(b"GET /");
        let (a, len) = done(&h);
        assert_eq!(len, total);
        assert_eq!(
            a,
            Addresses::Proxied {
                src: sa("10.0.0.1:80"),
                dst: sa("10.0.0.2:256")
            }
        );
        // LOCAL with addresses and a TLV: all skipped.
        let mut l = V2_SIGNATURE.to_vec();
        l.extend_from_slice(&[0x20, 0x11, 0, 15, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        l.extend_from_slice(&[0x04, 0x00, 0x00]);
        assert_eq!(done(&l), (Addresses::Local, 31));
    }

    #[test]
    fn every_prefix_is_incomplete_and_bad_headers_are_refused() {
        let h2 = v2(Some((sa("[2001:db8::1]:1"), sa("[::1]:2"))));
        let h1 = v1(Some((sa("192.0.2.1:1"), sa("192.0.2.2:2"))));
        for h in [&h1, &h2] {
            for cut in 0..h.len() {
                let p = parse(&h[..cut]);
                assert!(
                    matches!(p, Ok(Parsed::Incomplete { .. })) || cut == 0,
                    "{cut}: {p:?}"
                );
            }
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",
            b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = [&b"PROXY TCP4 "[..], &[b'1'; 120]].concat();
        assert!(parse(&long).is_err());
        let mut v = h2.clone();
        v[12] = 0x31; // version 3
        assert!(parse(&v).is_err());
        v[12] = 0x22; // command 2
        assert!(parse(&v).is_err());
        v[12] = 0x21;
        v[13] = 0x12; // UDP over IPv4
        assert!(parse(&v).is_err());
        v[13] = 0x11;
        v[15] = 4; // TCP4 with 4 bytes of addresses
        assert!(parse(&v[..20]).is_err());
    }

    /// Random and mutated input never panics, and a Done length never exceeds the input.
    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds = [
            v2(Some((sa("[2001:db8::1]:1"), sa("[::1]:2")))),
            v1(Some((sa("192.0.2.1:1"), sa("192.0.2.2:2")))),
        ];
        for round in 0..20_000 {
            let mut buf = seeds[round % 2].clone();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % buf.len();
                buf[i] = next() as u8;
            }
            buf.truncate((next() as usize) % (buf.len() + 8));
            if let Ok(Parsed::Done { len, .. }) = parse(&buf) {
                assert!(len <= buf.len());
            }
        }
    }
}
