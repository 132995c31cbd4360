//! The validated settings a run uses, and the TOML file form of them (`--config FILE`).
//!
//! The file has the process-wide keys at the top and one `[[listener]]` table per listener,
//! each key named as its flag is. Unknown keys and values of the wrong type are errors that
//! name the key (`listener[0].max-conns: ...`).

use crate::addr::Listen;
use crate::traffic::{self, Entry, FileRoute, HealthCheck, HealthKind, ProxyVersion, Traffic};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_FAILS: u32 = 3;
pub const DEFAULT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);
/// nginx's stream `proxy_timeout` default; `off` disables it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How a listener picks an upstream for a new client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Each upstream in turn.
    RoundRobin,
    /// The upstream with the fewest live pairs, counted across all workers.
    LeastConn,
    /// Consistent hashing on the client's address: a client keeps its upstream.
    HashSource,
}

/// How bytes move from one socket to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Copy {
    /// Through a 16 KiB user-space buffer held only while bytes are in flight, read the way
    /// corio's copy reads by default (`ready` today; docs/proxy.md, "Provided buffers").
    Buffered,
    /// Buffered: each read into a provided buffer the read takes only when bytes arrive, one
    /// operation per read (corio's `BufRing`).
    Pooled,
    /// Buffered: wait until the source is readable, then take a buffer and read (two
    /// operations per read on io_uring).
    Ready,
    /// Kernel to kernel through a pooled pipe (splice).
    Splice,
}

/// How connections reach the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Accept {
    /// One SO_REUSEPORT listener per worker; the kernel spreads connections.
    Reuseport,
    /// One listener on worker 0, each connection handed to the least-loaded worker.
    Balanced,
}

/// The driver to ask corio for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DriverChoice {
    Auto,
    Uring,
    Epoll,
}

/// The error log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One line per event: time, level, message.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One listener and its upstreams.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSettings {
    pub listen: Listen,
    pub upstreams: Vec<Entry>,
    pub balance: Balance,
    pub connect_timeout: Duration,
    /// `None`: off.
    pub idle_timeout: Option<Duration>,
    /// `None`: only the process-wide limit applies.
    pub max_conns: Option<usize>,
    pub copy: Copy,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// PROXY protocol, SNI routes, health checks, Unix sockets, ACLs (module `traffic`).
    pub traffic: Traffic,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: one per CPU.
    pub workers: Option<usize>,
    /// `None`: `CORIO_DRIVER`, else auto.
    pub driver: Option<DriverChoice>,
    pub admin: Option<SocketAddr>,
    pub drain_timeout: Duration,
    pub accept: Accept,
    pub listeners: Vec<ListenerSettings>,
    /// Live clients across all listeners; `None`: what the fd limit allows (see limits.rs).
    pub max_conns: Option<usize>,
    /// The Unix socket a successor takes the listeners over from (`--control`).
    pub control: Option<PathBuf>,
    /// Where one JSON line per ended pair goes (`-`: stderr).
    pub access_log: Option<PathBuf>,
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter (`info`, `corio_proxy=debug`); `None`: RUST_LOG, else info.
    pub log_level: Option<String>,
}

/// A bad flag or key: the message names it; the process exits with status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The TOML file's top level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    workers: Option<usize>,
    driver: Option<DriverChoice>,
    admin: Option<SocketAddr>,
    #[serde(default, with = "dur")]
    drain_timeout: Option<Duration>,
    accept: Option<Accept>,
    #[serde(default)]
    listener: Vec<FileListener>,
    max_conns: Option<usize>,
    control: Option<PathBuf>,
    access_log: Option<PathBuf>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
}

/// One `[[listener]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileListener {
    #[serde(deserialize_with = "traffic::de_listen")]
    listen: Listen,
    #[serde(default)]
    upstreams: Vec<Entry>,
    balance: Option<Balance>,
    #[serde(default, with = "dur")]
    connect_timeout: Option<Duration>,
    #[serde(default, with = "idle")]
    idle_timeout: Option<Option<Duration>>,
    max_conns: Option<usize>,
    copy: Option<Copy>,
    max_fails: Option<u32>,
    #[serde(default, with = "dur")]
    fail_timeout: Option<Duration>,
    // Traffic features (module `traffic`).
    send_proxy: Option<ProxyVersion>,
    #[serde(default)]
    accept_proxy: bool,
    #[serde(default, with = "dur")]
    proxy_header_timeout: Option<Duration>,
    #[serde(default)]
    route: Vec<FileRoute>,
    #[serde(default, with = "dur")]
    sni_timeout: Option<Duration>,
    health_check: Option<HealthKind>,
    #[serde(default, with = "dur")]
    health_interval: Option<Duration>,
    health_rise: Option<u32>,
    health_fall: Option<u32>,
    health_send: Option<String>,
    health_expect: Option<String>,
    #[serde(default, with = "dur")]
    resolve_interval: Option<Duration>,
    #[serde(default, deserialize_with = "traffic::de_mode")]
    unix_mode: Option<u32>,
    #[serde(default, deserialize_with = "traffic::de_cidrs")]
    allow: Vec<ipnet::IpNet>,
    #[serde(default, deserialize_with = "traffic::de_cidrs")]
    deny: Vec<ipnet::IpNet>,
    max_conns_per_source: Option<u32>,
}

impl FileListener {
    /// The traffic keys; health-send or health-expect without health-check names the key.
    fn traffic(&mut self, i: usize) -> Result<Traffic, BadInput> {
        let health = match self.health_check {
            Some(HealthKind::Tcp) => Some(HealthCheck {
                interval: self
                    .health_interval
                    .unwrap_or(traffic::DEFAULT_HEALTH_INTERVAL),
                rise: self.health_rise.unwrap_or(traffic::DEFAULT_HEALTH_RISE),
                fall: self.health_fall.unwrap_or(traffic::DEFAULT_HEALTH_FALL),
                send: self.health_send.take().map(String::into_bytes),
                expect: self.health_expect.take().map(String::into_bytes),
            }),
            None => {
                let set = [
                    ("health-interval", self.health_interval.is_some()),
                    ("health-rise", self.health_rise.is_some()),
                    ("health-fall", self.health_fall.is_some()),
                    ("health-send", self.health_send.is_some()),
                    ("health-expect", self.health_expect.is_some()),
                ];
                if let Some((k, _)) = set.iter().find(|(_, on)| *on) {
                    return Err(BadInput(format!(
                        "{}: needs health-check = \"tcp\"",
                        Names::File.listener(i, k)
                    )));
                }
                None
            }
        };
        Ok(Traffic {
            send_proxy: self.send_proxy,
            accept_proxy: self.accept_proxy,
            proxy_header_timeout: self
                .proxy_header_timeout
                .unwrap_or(traffic::DEFAULT_PROXY_HEADER_TIMEOUT),
            routes: std::mem::take(&mut self.route)
                .into_iter()
                .map(FileRoute::into_route)
                .collect(),
            sni_timeout: self.sni_timeout.unwrap_or(traffic::DEFAULT_SNI_TIMEOUT),
            health,
            resolve_interval: self
                .resolve_interval
                .unwrap_or(traffic::DEFAULT_RESOLVE_INTERVAL),
            unix_mode: self.unix_mode.unwrap_or(traffic::DEFAULT_UNIX_MODE),
            allow: std::mem::take(&mut self.allow),
            deny: std::mem::take(&mut self.deny),
            max_conns_per_source: self.max_conns_per_source,
        })
    }
}

/// Durations as humantime strings ("250ms", "5s", "1m30s").
mod dur {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// The idle timeout: a duration, or "off" (`Some(None)`).
mod idle {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Duration>>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_idle(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// An idle timeout: a duration above zero, or `off` (`None`).
pub fn parse_idle(s: &str) -> Result<Option<Duration>, String> {
    if s.trim() == "off" {
        return Ok(None);
    }
    parse_duration(s)
        .map(Some)
        .map_err(|e| format!("{e}, or off"))
}

/// A humantime duration ("250ms", "5s", "1m30s"); zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 250ms, 5s, 1m30s"))?;
    if d.is_zero() {
        return Err(format!("{s:?}: the duration must be above zero"));
    }
    Ok(d)
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Settings, BadInput> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("--config {shown}: cannot read the file: {e}")))?;
    let de = toml::Deserializer::parse(&text)
        .map_err(|e| BadInput(format!("--config {shown}: {}", e.to_string().trim_end())))?;
    let file: File = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.message().to_string();
        match key.as_str() {
            "." | "" => BadInput(format!("--config {shown}: {msg}")),
            _ => BadInput(format!("--config {shown}: key `{key}`: {msg}")),
        }
    })?;
    from_file(file).map_err(|e| BadInput(format!("--config {shown}: {e}")))
}

fn from_file(file: File) -> Result<Settings, BadInput> {
    if file.listener.is_empty() {
        return Err(BadInput(
            "no [[listener]] table: at least one listener is needed".into(),
        ));
    }
    let mut listeners = Vec::with_capacity(file.listener.len());
    for (i, mut l) in file.listener.into_iter().enumerate() {
        let traffic = l.traffic(i)?;
        listeners.push(ListenerSettings {
            listen: l.listen,
            upstreams: l.upstreams,
            balance: l.balance.unwrap_or(Balance::RoundRobin),
            connect_timeout: l.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            idle_timeout: l.idle_timeout.unwrap_or(Some(DEFAULT_IDLE_TIMEOUT)),
            max_conns: l.max_conns,
            copy: l.copy.unwrap_or(Copy::Buffered),
            max_fails: l.max_fails.unwrap_or(DEFAULT_MAX_FAILS),
            fail_timeout: l.fail_timeout.unwrap_or(DEFAULT_FAIL_TIMEOUT),
            traffic,
        });
    }
    let settings = Settings {
        workers: file.workers,
        driver: file.driver,
        admin: file.admin,
        drain_timeout: file.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT),
        accept: file.accept.unwrap_or(Accept::Reuseport),
        listeners,
        max_conns: file.max_conns,
        control: file.control,
        access_log: file.access_log,
        log_format: file.log_format.unwrap_or_default(),
        log_level: file.log_level,
    };
    validate(&settings, Names::File)?;
    Ok(settings)
}

/// How to name a setting in an error: as a flag or as a config key.
#[derive(Clone, Copy)]
pub enum Names {
    Flags,
    File,
}

impl Names {
    fn top(self, key: &str) -> String {
        match self {
            Names::Flags => format!("--{key}"),
            Names::File => format!("key `{key}`"),
        }
    }
    fn listener(self, i: usize, key: &str) -> String {
        match self {
            Names::Flags => format!("--{key}"),
            Names::File => format!("key `listener[{i}].{key}`"),
        }
    }
}

/// Checks what types alone cannot: counts above zero, a non-empty upstream list.
pub fn validate(s: &Settings, names: Names) -> Result<(), BadInput> {
    if s.workers == Some(0) {
        return Err(BadInput(format!(
            "{}: must be at least 1",
            names.top("workers")
        )));
    }
    if s.drain_timeout.is_zero() {
        let key = names.top("drain-timeout");
        return Err(BadInput(format!("{key}: must be above zero")));
    }
    if s.max_conns == Some(0) {
        let key = names.top("max-conns");
        return Err(BadInput(format!("{key}: must be at least 1")));
    }
    if let Some(filter) = &s.log_level {
        crate::log::check_filter(filter)
            .map_err(|e| BadInput(format!("{}: {e}", names.top("log-level"))))?;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, l) in s.listeners.iter().enumerate() {
        let port_0 = matches!(l.listen, Listen::Tcp(a) if a.port() == 0);
        if !port_0 && !seen.insert(l.listen.clone()) {
            let key = names.listener(i, "listen");
            return Err(BadInput(format!("{key}: {} is listed twice", l.listen)));
        }
    }
    for (i, l) in s.listeners.iter().enumerate() {
        traffic::check(&l.listen, &l.upstreams, &l.traffic, &|k| {
            names.listener(i, k)
        })?;
        if l.max_conns == Some(0) {
            let key = names.listener(i, "max-conns");
            return Err(BadInput(format!("{key}: must be at least 1")));
        }
        if l.max_fails == 0 {
            let key = names.listener(i, "max-fails");
            return Err(BadInput(format!("{key}: must be at least 1")));
        }
        for (key, d) in [
            ("connect-timeout", Some(l.connect_timeout)),
            ("idle-timeout", l.idle_timeout),
            ("fail-timeout", Some(l.fail_timeout)),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                let key = names.listener(i, key);
                return Err(BadInput(format!("{key}: must be above zero")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        let file: File = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner().message())
        })?;
        from_file(file).map_err(|e| e.0)
    }

    const GOOD: &str = r#"
workers = 2
driver = "epoll"
admin = "127.0.0.1:9100"
drain-timeout = "1m30s"
accept = "balanced"

[[listener]]
listen = "127.0.0.1:8000"
upstreams = ["127.0.0.1:9000", "[::1]:9001"]
balance = "least-conn"
connect-timeout = "250ms"
idle-timeout = "5s"
max-conns = 100
copy = "splice"
max-fails = 5
fail-timeout = "2s"
"#;

    #[test]
    fn every_key_parses() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.workers, Some(2));
        assert_eq!(s.driver, Some(DriverChoice::Epoll));
        assert_eq!(s.drain_timeout, Duration::from_secs(90));
        assert_eq!(s.accept, Accept::Balanced);
        let l = &s.listeners[0];
        assert_eq!(l.upstreams.len(), 2);
        assert_eq!(l.balance, Balance::LeastConn);
        assert_eq!(l.connect_timeout, Duration::from_millis(250));
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(l.max_conns, Some(100));
        assert_eq!(l.copy, Copy::Splice);
        assert_eq!((l.max_fails, l.fail_timeout), (5, Duration::from_secs(2)));
    }

    #[test]
    fn defaults_apply() {
        let s = parse("[[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = [\"127.0.0.1:2\"]\n")
            .unwrap();
        assert_eq!(s.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
        let l = &s.listeners[0];
        assert_eq!(l.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(l.idle_timeout, Some(DEFAULT_IDLE_TIMEOUT));
        assert_eq!((l.max_conns, s.max_conns), (None, None));
        assert_eq!((l.balance, l.copy), (Balance::RoundRobin, Copy::Buffered));
        assert_eq!(
            (s.log_format, &s.control, &s.access_log),
            (LogFormat::Text, &None, &None)
        );
    }

    #[test]
    fn operations_keys_parse() {
        let s = parse(
            "max-conns = 500\ncontrol = \"/run/corio-proxy.sock\"\naccess-log = \"-\"\n\
             log-format = \"json\"\nlog-level = \"debug\"\n\
             [[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = [\"127.0.0.1:2\"]\n\
             idle-timeout = \"off\"\n",
        )
        .unwrap();
        assert_eq!(s.max_conns, Some(500));
        assert_eq!(s.control, Some(PathBuf::from("/run/corio-proxy.sock")));
        assert_eq!(s.access_log, Some(PathBuf::from("-")));
        assert_eq!(
            (s.log_format, s.log_level.as_deref()),
            (LogFormat::Json, Some("debug"))
        );
        assert_eq!(s.listeners[0].idle_timeout, None);
        let bad = [
            ("max-conns = 0\n", "max-conns"),
            ("log-format = \"xml\"\n", "log-format"),
            ("log-level = \"loud=?=\"\n", "log-level"),
        ];
        let l = "[[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = [\"127.0.0.1:2\"]\n";
        for (top, key) in bad {
            let err = parse(&format!("{top}{l}")).unwrap_err();
            assert!(err.contains(key), "{top:?}: {err}");
        }
        let twice = format!("{l}{l}");
        assert!(parse(&twice).unwrap_err().contains("listener[1].listen"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("workers = \"two\"\n", "workers"),
            ("bogus = 1\n", "bogus"),
            ("drain-timeout = \"soon\"\n", "drain-timeout"),
            ("[[listener]]\nlisten = \"nowhere\"\n", "listener[0].listen"),
            (
                "[[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = []\n",
                "listener[0].upstreams",
            ),
            (
                "[[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = [\"127.0.0.1:2\"]\nmax-conns = -1\n",
                "listener[0].max-conns",
            ),
            (
                "[[listener]]\nlisten = \"127.0.0.1:1\"\nupstreams = [\"127.0.0.1:2\"]\nspeed = 1\n",
                "speed",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_idle("off").unwrap(), None);
        assert_eq!(parse_idle("2m").unwrap(), Some(Duration::from_secs(120)));
        assert!(parse_idle("0s").unwrap_err().contains("or off"));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
