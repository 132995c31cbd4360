//! The traffic settings of a listener (docs/proxy.md, "Traffic features"): upstream entries
//! with weights and backups, PROXY protocol, SNI routes, active health checks, host-name
//! resolution, Unix listeners and source ACLs. Their TOML form is read in `config`, which calls
//! [`check`] for what types alone cannot check; each error names its key.

use crate::addr::{Listen, Target};
use crate::config::{BadInput, Balance};
use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub const DEFAULT_PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_SNI_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_HEALTH_RISE: u32 = 2;
pub const DEFAULT_HEALTH_FALL: u32 = 3;
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_UNIX_MODE: u32 = 0o660;
/// The largest weight (HAProxy allows 256, nginx any int; 1000 leaves room for ratios).
pub const MAX_WEIGHT: u32 = 1000;

/// One upstream as configured: `"ADDR"`, or `{ addr = "ADDR", weight = N, backup = bool }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    pub weight: u32,
    pub backup: bool,
}

impl Entry {
    pub fn new(target: Target) -> Entry {
        Entry {
            target,
            weight: 1,
            backup: false,
        }
    }
}

/// The PROXY protocol version a listener sends to its upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
pub enum ProxyVersion {
    #[serde(rename = "v1")]
    #[value(name = "v1")]
    V1,
    #[serde(rename = "v2")]
    #[value(name = "v2")]
    V2,
}

/// An SNI route: clients whose ClientHello names one of `sni` go to `upstreams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Lower-case names; `*.example.org` matches exactly one more label.
    pub sni: Vec<String>,
    pub upstreams: Vec<Entry>,
    pub balance: Balance,
}

/// Active health checks (`health-check = "tcp"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Sent after the connect; the check then reads the answer.
    pub send: Option<Vec<u8>>,
    /// The answer must start with these bytes.
    pub expect: Option<Vec<u8>>,
}

/// What checks are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthKind {
    /// A connect that succeeds within the connect timeout (then send/expect, if set).
    Tcp,
}

/// Everything of this module a listener has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    pub send_proxy: Option<ProxyVersion>,
    pub accept_proxy: bool,
    pub proxy_header_timeout: Duration,
    pub routes: Vec<Route>,
    pub sni_timeout: Duration,
    pub health: Option<HealthCheck>,
    pub resolve_interval: Duration,
    pub unix_mode: u32,
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    pub max_conns_per_source: Option<u32>,
}

impl Default for Traffic {
    fn default() -> Traffic {
        Traffic {
            send_proxy: None,
            accept_proxy: false,
            proxy_header_timeout: DEFAULT_PROXY_HEADER_TIMEOUT,
            routes: Vec::new(),
            sni_timeout: DEFAULT_SNI_TIMEOUT,
            health: None,
            resolve_interval: DEFAULT_RESOLVE_INTERVAL,
            unix_mode: DEFAULT_UNIX_MODE,
            allow: Vec::new(),
            deny: Vec::new(),
            max_conns_per_source: None,
        }
    }
}

/// Checks what types alone cannot; `key` names a key of this listener as the caller spells
/// keys (`--flag` or ``key `listener[0].x` ``).
pub fn check(
    listen: &Listen,
    upstreams: &[Entry],
    t: &Traffic,
    key: &dyn Fn(&str) -> String,
) -> Result<(), BadInput> {
    let bad = |k: &str, msg: &str| Err(BadInput(format!("{}: {msg}", key(k))));
    if upstreams.is_empty() && t.routes.is_empty() {
        return bad("upstreams", "the upstream list is empty");
    }
    entries(upstreams, "upstreams", key)?;
    for (r, route) in t.routes.iter().enumerate() {
        if route.upstreams.is_empty() {
            return bad(&format!("route[{r}].upstreams"), "a route needs upstreams");
        }
        entries(&route.upstreams, &format!("route[{r}].upstreams"), key)?;
        if route.sni.is_empty() {
            return bad(
                &format!("route[{r}].sni"),
                "a route needs at least one name",
            );
        }
        for (n, name) in route.sni.iter().enumerate() {
            if let Err(e) = sni_pattern(name) {
                return bad(&format!("route[{r}].sni[{n}]"), &e);
            }
        }
    }
    if let Some(h) = &t.health {
        if h.rise == 0 {
            return bad("health-rise", "must be at least 1");
        }
        if h.fall == 0 {
            return bad("health-fall", "must be at least 1");
        }
    }
    if t.max_conns_per_source == Some(0) {
        return bad("max-conns-per-source", "must be at least 1");
    }
    if t.unix_mode > 0o777 {
        return bad("unix-mode", "must be permission bits, 0000 to 0777");
    }
    if matches!(listen, Listen::Unix(_)) && !t.accept_proxy {
        let no_addr = "a Unix listener has no client IP addresses (add accept-proxy = true)";
        if !t.allow.is_empty() {
            return bad("allow", no_addr);
        }
        if !t.deny.is_empty() {
            return bad("deny", no_addr);
        }
        if t.max_conns_per_source.is_some() {
            return bad("max-conns-per-source", no_addr);
        }
    }
    Ok(())
}

fn entries(list: &[Entry], at: &str, key: &dyn Fn(&str) -> String) -> Result<(), BadInput> {
    for (i, e) in list.iter().enumerate() {
        if e.weight == 0 || e.weight > MAX_WEIGHT {
            return Err(BadInput(format!(
                "{}: must be 1 to {MAX_WEIGHT}",
                key(&format!("{at}[{i}].weight"))
            )));
        }
    }
    if !list.is_empty() && list.iter().all(|e| e.backup) {
        return Err(BadInput(format!(
            "{}: every upstream is a backup; at least one must not be",
            key(at)
        )));
    }
    Ok(())
}

/// An SNI pattern: a host name, or `*.` and a host name.
fn sni_pattern(p: &str) -> Result<(), String> {
    let name = p.strip_prefix("*.").unwrap_or(p);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{p:?} is not a host name or *.name (a wildcard stands for one leading label)"
        ))
    }
}

/// A CIDR (`10.0.0.0/8`) or a single address (`192.0.2.7`, `::1`). IPv4-mapped IPv6 rules
/// (`::ffff:10.0.0.0/104`) become the IPv4 rule they mean.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{s:?} is not a CIDR (10.0.0.0/8, ::1/128) or an address"))?,
    };
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            let net = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|e| e.to_string())?;
            return Ok(IpNet::V4(net.trunc()));
        }
    }
    Ok(net.trunc())
}

// ---- The TOML forms ----

/// An upstream entry in TOML: a string, or a table.
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"IP:PORT\", \"host:port\", \"unix:/path\", or { addr, weight, backup }")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Entry, E> {
        Target::parse(s).map(Entry::new).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut target = None;
        let mut weight = 1;
        let mut backup = false;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "addr" => {
                    let s: String = map.next_value()?;
                    target = Some(Target::parse(&s).map_err(de::Error::custom)?);
                }
                "weight" => weight = map.next_value()?,
                "backup" => backup = map.next_value()?,
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["addr", "weight", "backup"],
                    ))
                }
            }
        }
        let target = target.ok_or_else(|| de::Error::missing_field("addr"))?;
        Ok(Entry {
            target,
            weight,
            backup,
        })
    }
}

/// A listener's `listen` in TOML.
pub fn de_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Listen, D::Error> {
    let s = String::deserialize(d)?;
    Listen::parse(&s).map_err(de::Error::custom)
}

/// `allow` / `deny` in TOML.
pub fn de_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    struct Cidr(IpNet);
    impl<'de> Deserialize<'de> for Cidr {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
            let s = String::deserialize(d)?;
            parse_cidr(&s).map(Cidr).map_err(de::Error::custom)
        }
    }
    Ok(Vec::<Cidr>::deserialize(d)?
        .into_iter()
        .map(|c| c.0)
        .collect())
}

/// `unix-mode` in TOML: an octal string ("0660") or an integer (0o660).
pub fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct ModeVisitor;
    impl Visitor<'_> for ModeVisitor {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("permission bits in octal, as \"0660\" or 0o660")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u32, E> {
            u32::from_str_radix(s, 8)
                .map_err(|_| E::custom(format!("{s:?} is not an octal mode such as \"0660\"")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom("a mode cannot be negative"))
        }
    }
    d.deserialize_any(ModeVisitor).map(Some)
}

/// One `[[listener.route]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileRoute {
    sni: Vec<String>,
    #[serde(default)]
    upstreams: Vec<Entry>,
    balance: Option<Balance>,
}

impl FileRoute {
    pub fn into_route(self) -> Route {
        Route {
            sni: self.sni.iter().map(|s| s.to_ascii_lowercase()).collect(),
            upstreams: self.upstreams,
            balance: self.balance.unwrap_or(Balance::RoundRobin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.1.2.3/8").unwrap(),
            "10.0.0.0/8".parse().unwrap()
        );
        assert_eq!(parse_cidr("::1").unwrap(), "::1/128".parse().unwrap());
        assert_eq!(
            parse_cidr("::ffff:10.0.0.0/104").unwrap(),
            "10.0.0.0/8".parse().unwrap()
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("ten").is_err());
    }

    #[test]
    fn sni_patterns() {
        assert!(sni_pattern("api.example.com").is_ok());
        assert!(sni_pattern("*.example.org").is_ok());
        for bad in ["", "*", "*.", "a.*.b", "a..b", "a b"] {
            assert!(sni_pattern(bad).is_err(), "{bad}");
        }
    }
}
