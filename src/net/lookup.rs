//! Name resolution off the executor: [`lookup_host`] runs getaddrinfo on the blocking pool,
//! and [`ToSocketAddrs`] is what `TcpStream::connect` accepts — addresses are used as they
//! are, names are resolved on the pool, so a connect never blocks the executor's thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

mod sealed {
    pub trait Sealed {}
}

/// What an address argument resolves to.
#[doc(hidden)]
#[derive(Debug)]
pub enum Resolve {
    /// Addresses known without a lookup.
    Ready(Vec<SocketAddr>),
    /// A `host:port` to resolve on the blocking pool.
    Lookup(String),
}

/// An address, or a `host:port` to resolve: the argument of [`lookup_host`] and
/// [`TcpStream::connect`](crate::net::TcpStream::connect). Implemented for `SocketAddr` (and
/// V4/V6), `(IpAddr, u16)` (and V4/V6), `(&str, u16)`, `(String, u16)`, `&str`, `String`,
/// `&[SocketAddr]` and references to these. Sealed.
pub trait ToSocketAddrs: sealed::Sealed {
    #[doc(hidden)]
    fn resolve(&self) -> Resolve;
}

macro_rules! ready {
    ($($ty:ty),+) => {$(
        impl sealed::Sealed for $ty {}
        impl ToSocketAddrs for $ty {
            fn resolve(&self) -> Resolve {
                Resolve::Ready(vec![SocketAddr::from(*self)])
            }
        }
    )+};
}

ready!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn resolve(&self) -> Resolve {
        match self.parse::<SocketAddr>() {
            Ok(a) => Resolve::Ready(vec![a]),
            Err(_) => Resolve::Lookup(self.to_string()),
        }
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn resolve(&self) -> Resolve {
        self.as_str().resolve()
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn resolve(&self) -> Resolve {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolve::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Resolve::Lookup(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn resolve(&self) -> Resolve {
        (self.0.as_str(), self.1).resolve()
    }
}

impl sealed::Sealed for [SocketAddr] {}
impl ToSocketAddrs for [SocketAddr] {
    fn resolve(&self) -> Resolve {
        Resolve::Ready(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn resolve(&self) -> Resolve {
        (**self).resolve()
    }
}

/// Resolves `host` (`"example.com:443"`, `("example.com", 443)`, or an address) to its
/// socket addresses: getaddrinfo on the runtime's blocking pool (the executor's thread never
/// waits for DNS); addresses are returned at once. An unresolvable name is an error.
///
/// ```
/// corio::block_on(async {
///     let addrs: Vec<_> = corio::net::lookup_host("localhost:80").await?.collect();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(&host).await.map(Vec::into_iter)
}

/// The addresses of `addr`, from the blocking pool when a name must be looked up.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    match addr.resolve() {
        Resolve::Ready(addrs) => Ok(addrs),
        Resolve::Lookup(name) => {
            let job = crate::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&name).map(Iterator::collect)
            });
            match job.await {
                Ok(res) => res,
                Err(e) => Err(io::Error::other(format!("name lookup failed: {e}"))),
            }
        }
    }
}
