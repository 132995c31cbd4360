//! SNI routing for TLS passthrough: find the server_name in a client's ClientHello without
//! terminating TLS, and pick the route it names.
//!
//! The record layer is framed here (5-byte headers; a ClientHello may span several records,
//! each at most 16 KiB); the handshake message itself is parsed by `tls-parser` (rusticata),
//! and of its extensions only server_name is decoded, so an extension this parser does not
//! know cannot make an otherwise good ClientHello fail. The bytes looked at are never changed:
//! the caller forwards every byte it read.

use std::collections::HashMap;
use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};

/// The most ClientHello bytes the proxy reads before giving up (the bound; real
/// ClientHellos, post-quantum key shares included, are 0.5-2 KiB).
pub const MAX_HELLO: usize = 16 << 10;
const RECORD_HEADER: usize = 5;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// TLSPlaintext.length is at most 2^14.
const MAX_RECORD: usize = 1 << 14;

/// What the first bytes of a client say.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// The ClientHello is not complete yet: read more.
    Incomplete,
    /// Not a TLS handshake: the default route.
    NotTls,
    /// A ClientHello without server_name: the default route.
    NoName,
    /// The server_name, lower-case, without a trailing dot.
    Name(String),
    /// A TLS record stream that breaks the rules, or a ClientHello over `MAX_HELLO`.
    Malformed(&'static str),
}

/// Looks at the bytes a client has sent so far.
pub fn inspect(buf: &[u8]) -> Hello {
    if buf.is_empty() {
        return Hello::Incomplete;
    }
    // A TLS 1.0-1.3 ClientHello record starts 0x16 0x03 (record version 3.x).
    if buf[0] != CONTENT_HANDSHAKE || (buf.len() > 1 && buf[1] != 3) {
        return Hello::NotTls;
    }
    // Gather the handshake bytes of the records received whole.
    let mut msg = Vec::new();
    let mut pos = 0;
    loop {
        if buf.len() < pos + RECORD_HEADER {
            break;
        }
        let h = &buf[pos..pos + RECORD_HEADER];
        if h[0] != CONTENT_HANDSHAKE || h[1] != 3 {
            return Hello::Malformed("a record inside the ClientHello is not a handshake record");
        }
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        if len == 0 || len > MAX_RECORD {
            return Hello::Malformed("a handshake record of length 0 or over 16 KiB");
        }
        if buf.len() < pos + RECORD_HEADER + len {
            break;
        }
        msg.extend_from_slice(&buf[pos + RECORD_HEADER..pos + RECORD_HEADER + len]);
        pos += RECORD_HEADER + len;
        if msg.len() >= 4 {
            let want = 4 + u32::from_be_bytes([0, msg[1], msg[2], msg[3]]) as usize;
            if msg.len() >= want {
                break;
            }
        }
    }
    if !msg.is_empty() && msg[0] != HANDSHAKE_CLIENT_HELLO {
        return Hello::Malformed("the first handshake message is not a ClientHello");
    }
    if msg.len() < 4 {
        return Hello::Incomplete;
    }
    let want = 4 + u32::from_be_bytes([0, msg[1], msg[2], msg[3]]) as usize;
    if want > MAX_HELLO {
        return Hello::Malformed("a ClientHello over 16 KiB");
    }
    if msg.len() < want {
        return Hello::Incomplete;
    }
    server_name(&msg[..want])
}

/// The server_name of a whole ClientHello handshake message.
fn server_name(msg: &[u8]) -> Hello {
    let ext = match tls_parser::parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => ch.ext,
        _ => return Hello::Malformed("the ClientHello does not parse"),
    };
    let mut ext = ext.unwrap_or_default();
    // Extensions: type (2), length (2), data; only server_name (type 0) is decoded.
    while ext.len() >= 4 {
        let kind = u16::from_be_bytes([ext[0], ext[1]]);
        let len = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        let Some(data) = ext.get(4..4 + len) else {
            return Hello::Malformed("an extension runs past the ClientHello");
        };
        ext = &ext[4 + len..];
        if kind != 0 {
            continue;
        }
        let names = match tls_parser::parse_tls_extension_sni_content(data) {
            Ok((_, TlsExtension::SNI(names))) => names,
            _ => return Hello::Malformed("the server_name extension does not parse"),
        };
        // The one name type defined is host_name (0).
        let Some((_, name)) = names.iter().find(|(t, _)| t.0 == 0) else {
            return Hello::NoName;
        };
        return match std::str::from_utf8(name) {
            Ok(n) if !n.is_empty() && n.is_ascii() => {
                Hello::Name(n.trim_end_matches('.').to_ascii_lowercase())
            }
            _ => Hello::Malformed("server_name is not an ASCII host name"),
        };
    }
    Hello::NoName
}

/// A listener's SNI routes: exact names first, then `*.suffix` wildcards (one label).
#[derive(Debug, Default)]
pub struct Router {
    exact: HashMap<String, usize>,
    wild: HashMap<String, usize>,
}

impl Router {
    /// From each route's names (lower-case); a name listed twice keeps its first route.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a [String]>) -> Router {
        let mut r = Router::default();
        for (i, names) in routes.into_iter().enumerate() {
            for n in names {
                match n.strip_prefix("*.") {
                    Some(suffix) => r.wild.entry(suffix.to_string()).or_insert(i),
                    None => r.exact.entry(n.clone()).or_insert(i),
                };
            }
        }
        r
    }

    /// The route for `name`, if any.
    pub fn route(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(name) {
            return Some(i);
        }
        let (_, suffix) = name.split_once('.')?;
        self.wild.get(suffix).copied()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal but valid TLS 1.2 ClientHello record naming `sni` (if any), plus `pad`
    /// bytes of a padding extension to make it as long as a test needs.
    pub fn client_hello(sni: Option<&str>, pad: usize) -> Vec<u8> {
        let mut ext = Vec::new();
        if let Some(name) = sni {
            let n = name.as_bytes();
            let list_len = 3 + n.len();
            ext.extend_from_slice(&[0, 0]);
            ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
            ext.extend_from_slice(&(list_len as u16).to_be_bytes());
            ext.push(0);
            ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
            ext.extend_from_slice(n);
        }
        // An extension this code does not decode, with junk inside: must not matter.
        ext.extend_from_slice(&[0xfe, 0x0d, 0, 3, 1, 2, 3]);
        if pad > 0 {
            ext.extend_from_slice(&[0, 21]);
            ext.extend_from_slice(&(pad as u16).to_be_bytes());
            ext.extend(std::iter::repeat_n(0u8, pad));
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        records(&msg, MAX_RECORD)
    }

    /// `msg` framed in handshake records of at most `each` bytes.
    pub fn records(msg: &[u8], each: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in msg.chunks(each) {
            out.extend_from_slice(&[22, 3, 1]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn finds_the_name_at_every_split() {
        let hello = client_hello(Some("API.Example.com."), 300);
        for cut in 0..hello.len() {
            assert_eq!(inspect(&hello[..cut]), Hello::Incomplete, "{cut}");
        }
        assert_eq!(inspect(&hello), Hello::Name("api.example.com".into()));
        assert_eq!(inspect(&client_hello(None, 0)), Hello::NoName);
        assert_eq!(inspect(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(inspect(b"\x16\x02"), Hello::NotTls);
    }

    #[test]
    fn a_hello_across_several_records() {
        let one = client_hello(Some("a.example.org"), 100);
        let msg = &one[5..];
        let many = records(msg, 40);
        for cut in 0..many.len() {
            assert_eq!(inspect(&many[..cut]), Hello::Incomplete, "{cut}");
        }
        assert_eq!(inspect(&many), Hello::Name("a.example.org".into()));
        let huge = client_hello(Some("a.b"), MAX_HELLO);
        let huge = records(&huge[5..], MAX_RECORD);
        assert!(matches!(inspect(&huge), Hello::Malformed(_)));
        let mut alert = many.clone();
        alert[5 + 40] = 21; // the second record is an alert
        assert!(matches!(inspect(&alert), Hello::Malformed(_)));
    }

    #[test]
    fn routes_exact_before_wildcards() {
        let routes = [
            vec!["*.example.org".to_string()],
            vec!["api.example.org".to_string(), "x.com".to_string()],
        ];
        let r = Router::new(routes.iter().map(|v| v.as_slice()));
        assert_eq!(r.route("api.example.org"), Some(1));
        assert_eq!(r.route("www.example.org"), Some(0));
        assert_eq!(r.route("a.www.example.org"), None, "one label only");
        assert_eq!(r.route("example.org"), None);
        assert_eq!(r.route("x.com"), Some(1));
    }

    /// The fuzzing of the framing and the walk over extensions: random bytes, and real
    /// ClientHellos with random bytes changed and cut anywhere, never panic.
    #[test]
    fn mutated_hellos_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds = [
            client_hello(Some("a.example.org"), 64),
            records(&client_hello(Some("b.example.org"), 0)[5..], 17),
            client_hello(None, 0),
        ];
        for round in 0..30_000 {
            let mut buf = seeds[round % seeds.len()].clone();
            for _ in 0..(1 + next() % 6) {
                let i = (next() as usize) % buf.len();
                buf[i] = next() as u8;
            }
            buf.truncate((next() as usize) % (buf.len() + 1));
            let _ = inspect(&buf);
            let junk: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
            let _ = inspect(&[&[22, 3][..], &junk].concat());
        }
    }
}
