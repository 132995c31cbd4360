//! Argument parsing for `load` and the suite. Both parsers return `Err(message)` for anything
//! they refuse; the caller prints it with the usage hint and exits 2. Nothing here does I/O.

use crate::load::{LoadConfig, Mode};
use crate::servers::ServerKind;
use crate::suite::{default_cases, Case, Options};
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// What `corio-bench load ...` asked for.
#[derive(Debug)]
pub struct LoadArgs {
    pub cfg: LoadConfig,
    pub json: bool,
}

/// Walks `--flag value` pairs; boolean flags are taken by the caller before asking for a value.
struct Flags<'a> {
    it: std::slice::Iter<'a, String>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags { it: args.iter() }
    }

    fn next_flag(&mut self) -> Option<&'a str> {
        self.it.next().map(String::as_str)
    }

    fn value(&mut self, flag: &str) -> Result<&'a str, String> {
        self.it
            .next()
            .map(String::as_str)
            .ok_or_else(|| format!("{flag} needs a value"))
    }

    /// The next value parsed as `T` and inside `ok`; `what` describes the accepted values.
    fn parsed<T: FromStr>(
        &mut self,
        flag: &str,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<T, String> {
        let v = self.value(flag)?;
        match v.parse::<T>() {
            Ok(x) if ok(&x) => Ok(x),
            _ => Err(format!("{flag} {v:?}: expected {what}")),
        }
    }
}

fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    match v.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => Ok(a),
        _ => Err(format!("--addr {v:?}: expected HOST:PORT")),
    }
}

/// Parses the arguments after `load`.
pub fn parse_load(args: &[String]) -> Result<LoadArgs, String> {
    let mut cfg = LoadConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        conns: 50,
        size: 64,
        depth: 1,
        secs: 2.0,
        warmup: 0.2,
        mode: Mode::PingPong,
        driver: corio::DriverChoice::IoUring,
    };
    let (mut addr, mut mode, mut rate, mut json) = (None, "pingpong", None, false);
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--json" => json = true,
            "--addr" => addr = Some(socket_addr(flags.value(flag)?)?),
            "--conns" => {
                cfg.conns = flags.parsed(flag, "1..=100000", |n| (1..=100_000).contains(n))?
            }
            "--size" => {
                cfg.size =
                    flags.parsed(flag, "1..=16777216 bytes", |n| (1..=16 << 20).contains(n))?
            }
            "--depth" => cfg.depth = flags.parsed(flag, "1..=1024", |n| (1..=1024).contains(n))?,
            "--secs" => {
                cfg.secs =
                    flags.parsed(flag, "seconds in (0, 3600]", |s| *s > 0.0 && *s <= 3600.0)?
            }
            "--warmup" => {
                cfg.warmup =
                    flags.parsed(flag, "seconds in [0, 60]", |s| (0.0..=60.0).contains(s))?
            }
            "--mode" => mode = flags.value(flag)?,
            "--rate" => {
                rate =
                    Some(flags.parsed(flag, "requests/s in (0, 1e7]", |r| *r > 0.0 && *r <= 1e7)?)
            }
            "--driver" => {
                cfg.driver = match flags.value(flag)? {
                    "uring" => corio::DriverChoice::IoUring,
                    "epoll" => corio::DriverChoice::Epoll,
                    v => return Err(format!("--driver {v:?}: expected uring or epoll")),
                }
            }
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    cfg.addr = addr.ok_or("--addr is required")?;
    cfg.mode = match (mode, rate) {
        ("pingpong", _) => Mode::PingPong,
        ("churn", _) => Mode::Churn,
        ("bulk", _) => Mode::Bulk,
        ("rate", Some(r)) => Mode::Rate(r),
        ("rate", None) => return Err("--mode rate needs --rate R".into()),
        (m, _) => {
            return Err(format!(
                "--mode {m:?}: expected pingpong, churn, bulk or rate"
            ))
        }
    };
    if rate.is_some() && !matches!(cfg.mode, Mode::Rate(_)) {
        return Err("--rate only applies to --mode rate".into());
    }
    Ok(LoadArgs { cfg, json })
}

/// Parses the suite's arguments (after `suite`, or all of them when there is no subcommand).
/// `command` in the result is the command line as given, for the report.
pub fn parse_suite(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        secs: 1.0,
        warmup: 0.25,
        servers: ServerKind::ALL.to_vec(),
        cases: default_cases(),
        out: None,
        pin: None,
        command: std::iter::once("corio-bench")
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let (mut quick, mut secs) = (false, None);
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--quick" => quick = true,
            "--secs" => {
                secs = Some(flags.parsed(flag, "seconds in (0, 600]", |s: &f64| {
                    *s > 0.0 && *s <= 600.0
                })?)
            }
            "--servers" => {
                let mut list = Vec::new();
                for name in flags.value(flag)?.split(',') {
                    let kind = ServerKind::parse(name).ok_or_else(|| {
                        format!(
                            "unknown server {name:?} (known: {})",
                            ServerKind::ALL.map(ServerKind::name).join(", ")
                        )
                    })?;
                    if !list.contains(&kind) {
                        list.push(kind);
                    }
                }
                opts.servers = list;
            }
            "--cases" => {
                // A word picks the case of that exact name, or else every case it begins.
                let v = flags.value(flag)?;
                let all = std::mem::take(&mut opts.cases);
                let picks = |c: &Case, w: &str| {
                    if all.iter().any(|c| c.name == w) {
                        c.name == w
                    } else {
                        c.name.starts_with(w)
                    }
                };
                opts.cases = all
                    .iter()
                    .filter(|c| v.split(',').any(|w| picks(c, w)))
                    .cloned()
                    .collect();
                if opts.cases.is_empty() {
                    return Err(format!("--cases {v:?} matches no case"));
                }
            }
            "--out" => opts.out = Some(flags.value(flag)?.into()),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    // --quick shortens both phases; an explicit --secs still sets the measured time.
    if quick {
        opts.secs = 0.2;
        opts.warmup = 0.05;
    }
    if let Some(s) = secs {
        opts.secs = s;
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn load_defaults_and_every_flag() {
        let a = parse_load(&args("--addr 127.0.0.1:9")).unwrap();
        assert_eq!(
            (a.cfg.conns, a.cfg.size, a.cfg.depth, a.cfg.mode, a.json),
            (50, 64, 1, Mode::PingPong, false)
        );
        let a = parse_load(&args(
            "--addr 127.0.0.1:9 --conns 7 --size 100 --depth 3 --secs 0.5 --warmup 0 \
             --mode rate --rate 1000 --driver epoll --json",
        ))
        .unwrap();
        assert_eq!((a.cfg.conns, a.cfg.size, a.cfg.depth), (7, 100, 3));
        assert_eq!((a.cfg.secs, a.cfg.warmup), (0.5, 0.0));
        assert_eq!(a.cfg.mode, Mode::Rate(1000.0));
        assert_eq!(a.cfg.driver, corio::DriverChoice::Epoll);
        assert!(a.json);
    }

    #[test]
    fn load_refusals_name_the_flag() {
        for (line, needle) in [
            ("--conns 5", "--addr is required"),
            ("--addr nowhere", "--addr"),
            ("--addr 127.0.0.1:9 --conns 0", "--conns"),
            ("--addr 127.0.0.1:9 --conns x", "--conns"),
            ("--addr 127.0.0.1:9 --secs -1", "--secs"),
            ("--addr 127.0.0.1:9 --secs NaN", "--secs"),
            ("--addr 127.0.0.1:9 --mode rate", "--rate"),
            ("--addr 127.0.0.1:9 --rate 5", "--rate"),
            ("--addr 127.0.0.1:9 --mode sprint", "--mode"),
            ("--addr 127.0.0.1:9 --driver kqueue", "--driver"),
            ("--addr 127.0.0.1:9 --depth", "needs a value"),
            ("--addr 127.0.0.1:9 --frob 1", "unknown flag"),
        ] {
            let err = parse_load(&args(line)).unwrap_err();
            assert!(err.contains(needle), "{line}: {err}");
        }
    }

    #[test]
    fn suite_flags() {
        let o = parse_suite(&[]).unwrap();
        assert_eq!(o.servers.len(), 6);
        assert_eq!(o.cases.len(), default_cases().len());
        let o = parse_suite(&args(
            "--secs 3 --quick --servers tokio,raw-epoll,tokio --cases pingpong,churn --out d",
        ))
        .unwrap();
        assert_eq!((o.secs, o.warmup), (3.0, 0.05));
        assert_eq!(o.servers, [ServerKind::Tokio, ServerKind::RawEpoll]);
        assert!(o
            .cases
            .iter()
            .all(|c| c.name.starts_with("pingpong") || c.name.starts_with("churn")));
        assert_eq!(o.out.as_deref(), Some(std::path::Path::new("d")));
        let o = parse_suite(&args("--cases pingpong,pipe")).unwrap();
        assert_eq!(o.cases.len(), 4);
        let exact = ["--cases".to_string(), "pingpong c=50,churn".to_string()];
        let names: Vec<String> = parse_suite(&exact)
            .unwrap()
            .cases
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["pingpong c=50", "churn c=8"]);
        for bad in ["--servers nginx", "--cases nothing", "--secs 0", "--bogus"] {
            assert!(parse_suite(&args(bad)).is_err(), "{bad}");
        }
    }
}
