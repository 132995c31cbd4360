//! What happens to a client before any upstream is contacted (HAProxy's tcp-request stage):
//!
//! 1. `accept-proxy`: its PROXY header is read within `proxy-header-timeout`; the addresses
//!    it carries become the client's (a `LOCAL` header keeps the socket's own).
//! 2. `allow`/`deny`, then `max-conns-per-source`, on that address.
//! 3. SNI routes: the ClientHello is read within `sni-timeout` and picks the route.
//!
//! Every byte read past the PROXY header — payload that came in the same segment, the
//! ClientHello — is kept in `Client::prefix` and written to the upstream first, unchanged.
//! A client refused at any step is closed before an upstream is contacted, and counted under
//! its `Reject` reason.

use crate::acl::SourceSlot;
use crate::conn::Conn;
use crate::pair::Listener;
use crate::proxy_proto::{self, Addresses, Parsed};
use crate::sni::{self, Hello};
use std::net::SocketAddr;
use std::time::Duration;

/// A client let through, and what was learned about it.
pub struct Client {
    /// Its address: the PROXY header's with `accept-proxy`, else the socket's peer.
    pub src: Option<SocketAddr>,
    /// The address it connected to (likewise); read from the socket only when needed.
    pub dst: Option<SocketAddr>,
    /// Bytes already read from it, for the upstream before anything else.
    pub prefix: Vec<u8>,
    /// The upstream group: 0 is the listener's own list (the default route), 1.. the routes.
    pub group: usize,
    /// The ClientHello's server_name, with SNI routes.
    pub sni: Option<String>,
    /// Its place under `max-conns-per-source`, held until the pair ends.
    _slot: Option<SourceSlot>,
}

impl Client {
    /// What stays while its pair runs: its address, and its place under
    /// `max-conns-per-source` (given back when dropped).
    pub fn keep(self) -> (Option<SocketAddr>, Option<SourceSlot>) {
        (self.src, self._slot)
    }
}

#[cfg(test)]
impl Client {
    /// A client nothing was learned about (for tests).
    pub fn empty() -> Client {
        Client {
            src: None,
            dst: None,
            prefix: Vec::new(),
            group: 0,
            sni: None,
            _slot: None,
        }
    }
}

/// Why a client was closed before an upstream was contacted: one counter each
/// (`corio_proxy_client_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    ProxyHeaderMalformed,
    ProxyHeaderTimeout,
    ProxyHeaderClosed,
    Denied,
    SourceLimit,
    SniNoRoute,
    SniTimeout,
    SniMalformed,
    SniClosed,
}

impl Reject {
    pub const ALL: [Reject; 9] = [
        Reject::ProxyHeaderMalformed,
        Reject::ProxyHeaderTimeout,
        Reject::ProxyHeaderClosed,
        Reject::Denied,
        Reject::SourceLimit,
        Reject::SniNoRoute,
        Reject::SniTimeout,
        Reject::SniMalformed,
        Reject::SniClosed,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Reject::ProxyHeaderMalformed => "proxy_header_malformed",
            Reject::ProxyHeaderTimeout => "proxy_header_timeout",
            Reject::ProxyHeaderClosed => "proxy_header_closed",
            Reject::Denied => "acl_denied",
            Reject::SourceLimit => "max_conns_per_source",
            Reject::SniNoRoute => "sni_no_route",
            Reject::SniTimeout => "sni_timeout",
            Reject::SniMalformed => "sni_malformed",
            Reject::SniClosed => "sni_closed",
        }
    }
}

/// A refusal, with what to log.
pub struct Refused {
    pub reason: Reject,
    pub detail: String,
    /// The client's address as far as it was learned.
    pub src: Option<SocketAddr>,
}

/// Runs the steps the listener has; `peer` is the address accept gave.
pub async fn intake(
    conn: &Conn,
    peer: Option<SocketAddr>,
    l: &Listener,
) -> Result<Client, Refused> {
    let t = &l.settings.traffic;
    let mut c = Client {
        src: peer,
        dst: None,
        prefix: Vec::new(),
        group: 0,
        sni: None,
        _slot: None,
    };
    let refuse = |reason, detail: String, src| {
        Err(Refused {
            reason,
            detail,
            src,
        })
    };
    if t.accept_proxy {
        match read_proxy_header(conn, t.proxy_header_timeout).await {
            Ok((Addresses::Proxied { src, dst }, rest)) => {
                (c.src, c.dst, c.prefix) = (Some(src), Some(dst), rest);
            }
            Ok((Addresses::Local, rest)) => c.prefix = rest,
            Err((reason, detail)) => return refuse(reason, detail, c.src),
        }
    }
    if !l.acl.permits(c.src.map(|a| a.ip())) {
        return refuse(Reject::Denied, "denied by allow/deny".into(), c.src);
    }
    if let (Some(limit), Some(src)) = (&l.per_source, c.src) {
        match limit.admit(src.ip()) {
            Some(slot) => c._slot = Some(slot),
            None => {
                let max = t.max_conns_per_source.unwrap_or(0);
                return refuse(
                    Reject::SourceLimit,
                    format!("{max} live clients from this source already"),
                    c.src,
                );
            }
        }
    }
    if !t.routes.is_empty() {
        let prefix = std::mem::take(&mut c.prefix);
        match read_client_hello(conn, prefix, t.sni_timeout).await {
            Ok((hello, bytes)) => {
                c.prefix = bytes;
                if let Hello::Name(name) = hello {
                    c.group = l.router.route(&name).map_or(0, |r| r + 1);
                    c.sni = Some(name);
                }
                if c.group == 0 && l.upstreams[0].is_empty() {
                    let what = c.sni.as_deref().unwrap_or("(no server_name)");
                    return refuse(
                        Reject::SniNoRoute,
                        format!("no route for {what} and no default"),
                        c.src,
                    );
                }
            }
            Err((reason, detail)) => return refuse(reason, detail, c.src),
        }
    }
    Ok(c)
}

/// Reads one PROXY header: its addresses, and the bytes read past it.
async fn read_proxy_header(
    conn: &Conn,
    limit: Duration,
) -> Result<(Addresses, Vec<u8>), (Reject, String)> {
    let read = async {
        let mut buf = Vec::with_capacity(256);
        loop {
            let need = match proxy_proto::parse(&buf) {
                Ok(Parsed::Done { addrs, len }) => return Ok((addrs, buf.split_off(len))),
                Ok(Parsed::Incomplete { need }) => need,
                Err(why) => return Err((Reject::ProxyHeaderMalformed, why.to_string())),
            };
            buf = read_more(conn, buf, need)
                .await
                .map_err(|e| (Reject::ProxyHeaderClosed, e))?;
        }
    };
    corio::time::timeout(limit, read).await.unwrap_or_else(|_| {
        Err((
            Reject::ProxyHeaderTimeout,
            format!("no complete PROXY header within {limit:?}"),
        ))
    })
}

/// Reads until the ClientHello is whole (or the bytes are not TLS): what it says, and every
/// byte read (`prefix` included).
async fn read_client_hello(
    conn: &Conn,
    prefix: Vec<u8>,
    limit: Duration,
) -> Result<(Hello, Vec<u8>), (Reject, String)> {
    let read = async {
        let mut buf = prefix;
        loop {
            match sni::inspect(&buf) {
                Hello::Incomplete if buf.len() >= sni::MAX_HELLO + 4096 => {
                    return Err((
                        Reject::SniMalformed,
                        "no whole ClientHello in 20 KiB".into(),
                    ))
                }
                Hello::Incomplete => {}
                Hello::Malformed(why) => return Err((Reject::SniMalformed, why.to_string())),
                hello => return Ok((hello, buf)),
            }
            buf = read_more(conn, buf, 0)
                .await
                .map_err(|e| (Reject::SniClosed, e))?;
        }
    };
    corio::time::timeout(limit, read).await.unwrap_or_else(|_| {
        Err((
            Reject::SniTimeout,
            format!("no complete ClientHello within {limit:?}"),
        ))
    })
}

/// Appends what the client sends next to `buf` (room for at least `need` bytes in all, or a
/// few KiB); EOF or an error is the reason as text.
async fn read_more(conn: &Conn, mut buf: Vec<u8>, need: usize) -> Result<Vec<u8>, String> {
    let want = need.saturating_sub(buf.len()).max(4096);
    let (res, chunk) = conn.read(Vec::with_capacity(want)).await;
    match res {
        Ok(0) => Err("the client closed first".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(buf)
        }
        Err(e) => Err(format!("read: {e}")),
    }
}
