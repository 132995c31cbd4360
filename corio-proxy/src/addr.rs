//! Addresses as an operator writes them: a listener's `IP:PORT` or `unix:/path`, and an
//! upstream's `IP:PORT`, `host:port` or `unix:/path`. Parsing here only checks the form; host
//! names are resolved later, off the executor (`resolve`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The most bytes a Unix socket path may have (sun_path holds 108, with the final NUL).
const MAX_UNIX_PATH: usize = 107;

/// Where a listener accepts clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Where an upstream is, as written: a host name is kept as it is until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Ip(SocketAddr),
    Host(String, u16),
    Unix(PathBuf),
}

/// Where one upstream server is, once resolved: what a connect needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    Ip(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            return unix_path(path).map(Listen::Unix);
        }
        s.parse::<SocketAddr>()
            .map(Listen::Tcp)
            .map_err(|_| format!("{s:?} is neither IP:PORT ([::1]:8000 for IPv6) nor unix:/path"))
    }
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            return unix_path(path).map(Target::Unix);
        }
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Target::Ip(a));
        }
        let bad = || format!("{s:?} is not IP:PORT, host:port or unix:/path");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(Target::Host(host.to_ascii_lowercase(), port))
    }

    /// The destination, when no resolution is needed.
    pub fn dest(&self) -> Option<Dest> {
        match self {
            Target::Ip(a) => Some(Dest::Ip(*a)),
            Target::Unix(p) => Some(Dest::Unix(p.clone())),
            Target::Host(..) => None,
        }
    }
}

/// Checks a `unix:` path: absolute or relative, non-empty, no NUL, short enough for sun_path.
fn unix_path(p: &str) -> Result<PathBuf, String> {
    if p.is_empty() {
        return Err("unix: needs a path (unix:/run/app.sock)".into());
    }
    if p.contains('\0') {
        return Err(format!("unix:{p:?}: the path contains a NUL byte"));
    }
    if p.len() > MAX_UNIX_PATH {
        return Err(format!(
            "unix:{p}: the path is {} bytes, and a Unix socket path holds at most {MAX_UNIX_PATH}",
            p.len()
        ));
    }
    Ok(Path::new(p).to_path_buf())
}

/// As a string (`IP:PORT` or `unix:/path`): the takeover messages carry it.
impl serde::Serialize for Listen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Listen, D::Error> {
        let s = String::deserialize(d)?;
        Listen::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(a) => write!(f, "{a}"),
            Target::Host(h, p) => write!(f, "{h}:{p}"),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Ip(a) => write!(f, "{a}"),
            Dest::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            Listen::parse("127.0.0.1:80").unwrap(),
            Listen::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            Listen::parse("unix:/run/a.sock").unwrap(),
            Listen::Unix("/run/a.sock".into())
        );
        assert!(Listen::parse("localhost:80").is_err());
        assert_eq!(
            Target::parse("LocalHost:16379").unwrap(),
            Target::Host("localhost".into(), 16379)
        );
        assert_eq!(
            Target::parse("[::1]:9").unwrap(),
            Target::Ip("[::1]:9".parse().unwrap())
        );
        for bad in [
            "localhost",
            "host:99999",
            ":80",
            "a..b:1",
            "-a:1",
            "unix:",
            "x y:1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let long = format!("unix:/{}", "a".repeat(120));
        assert!(Target::parse(&long).unwrap_err().contains("at most 107"));
        assert_eq!(
            Target::parse("unix:/x").unwrap().to_string(),
            "unix:/x".to_string()
        );
    }
}
