//! The command line: one listener from flags, or everything from `--config FILE`.

use crate::addr::{Listen, Target};
use crate::config::{
    self, Accept, BadInput, Balance, Copy, DriverChoice, ListenerSettings, LogFormat, Names,
    Settings,
};
use crate::traffic::{Entry, ProxyVersion, Traffic};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An L4 TCP proxy on corio: one executor per core, each with its own listener.
#[derive(Debug, Parser)]
#[command(name = "corio-proxy", version, about)]
pub struct Args {
    /// Address to accept clients on (IP:PORT, port 0 picks one, printed on stderr; or
    /// unix:/path).
    #[arg(long, value_name = "ADDR", required_unless_present = "config", value_parser = Listen::parse)]
    listen: Option<Listen>,
    /// An upstream (IP:PORT, host:port or unix:/path); repeat for several.
    #[arg(
        long = "upstream",
        value_name = "ADDR",
        required_unless_present = "config",
        value_parser = Target::parse
    )]
    upstreams: Vec<Target>,
    /// Start every upstream connection with a PROXY protocol header (v1 text, v2 binary).
    #[arg(long, value_enum, value_name = "VERSION")]
    send_proxy: Option<ProxyVersion>,
    /// Every client starts with a PROXY protocol header (v1 or v2), whose addresses are used.
    #[arg(long)]
    accept_proxy: bool,
    /// Executors (threads, one core each); default: one per CPU.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    workers: Option<usize>,
    /// I/O driver; default auto (or CORIO_DRIVER when set).
    #[arg(long, value_enum)]
    driver: Option<DriverChoice>,
    /// How an upstream is chosen for each client.
    #[arg(long, value_enum, default_value = "round-robin")]
    balance: Balance,
    /// Upstream connect timeout.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = config::parse_duration, default_value = "5s")]
    connect_timeout: Duration,
    /// Close a pair when no byte moved either way for DUR; `off` disables it.
    #[arg(long, value_name = "DUR|off", allow_hyphen_values = true, value_parser = parse_idle, default_value = "10m")]
    idle_timeout: Idle,
    /// Live clients, across all workers; at the limit the listener stops accepting and new
    /// clients wait in the backlog. Default: what the fd limit allows (two per client, less a
    /// reserve).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_conns: Option<usize>,
    /// On SIGTERM/SIGINT, how long live pairs may finish before they are closed.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = config::parse_duration, default_value = "30s")]
    drain_timeout: Duration,
    /// How bytes move: through pooled buffers, or kernel to kernel with splice.
    #[arg(long, value_enum, default_value = "buffered")]
    copy: Copy,
    /// Serve Prometheus text at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Connect failures in a row after which an upstream is skipped.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_FAILS)]
    max_fails: u32,
    /// How long a failing upstream is skipped.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = config::parse_duration, default_value = "10s")]
    fail_timeout: Duration,
    /// How connections reach the workers.
    #[arg(long, value_enum, default_value = "reuseport")]
    accept: Accept,
    /// Write one JSON line per ended connection to PATH (`-`: stderr); reopened on SIGHUP.
    #[arg(long, value_name = "PATH")]
    access_log: Option<PathBuf>,
    /// The event log's format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Event log filter (error, warn, info, debug, trace, or RUST_LOG syntax); default: RUST_LOG,
    /// else info.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Listen on a Unix socket at PATH for a successor's --takeover (binary upgrade). May be
    /// given with --config.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Take the listening sockets over from the proxy whose --control socket is PATH, then
    /// tell it to drain. May be given with --config.
    #[arg(long, value_name = "PATH")]
    pub takeover: Option<PathBuf>,
    /// Read every setting from a TOML file instead of flags (SIGHUP reads it again).
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "listen", "upstreams", "workers", "driver", "balance", "connect_timeout",
        "idle_timeout", "max_conns", "drain_timeout", "copy", "admin", "max_fails",
        "fail_timeout", "accept", "access_log", "log_format", "log_level", "send_proxy",
        "accept_proxy",
    ])]
    pub config: Option<PathBuf>,
}

/// `--idle-timeout`: a duration, or off (`None`).
#[derive(Debug, Clone, Copy)]
struct Idle(Option<Duration>);

fn parse_idle(s: &str) -> Result<Idle, String> {
    config::parse_idle(s).map(Idle)
}

impl Args {
    /// The settings these flags (or the file they name) describe.
    pub fn settings(&self) -> Result<Settings, BadInput> {
        if let Some(path) = &self.config {
            let mut s = config::load(path)?;
            // The two process flags that may go with --config; they win over the file.
            if self.control.is_some() {
                s.control.clone_from(&self.control);
            }
            return Ok(s);
        }
        let listen = self
            .listen
            .clone()
            .ok_or_else(|| BadInput("--listen is required".into()))?;
        let settings = Settings {
            workers: self.workers,
            driver: self.driver,
            admin: self.admin,
            drain_timeout: self.drain_timeout,
            accept: self.accept,
            max_conns: None,
            control: self.control.clone(),
            access_log: self.access_log.clone(),
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            listeners: vec![ListenerSettings {
                listen,
                upstreams: self.upstreams.iter().cloned().map(Entry::new).collect(),
                balance: self.balance,
                connect_timeout: self.connect_timeout,
                idle_timeout: self.idle_timeout.0,
                max_conns: self.max_conns,
                copy: self.copy,
                max_fails: self.max_fails,
                fail_timeout: self.fail_timeout,
                traffic: Traffic {
                    send_proxy: self.send_proxy,
                    accept_proxy: self.accept_proxy,
                    ..Traffic::default()
                },
            }],
        };
        config::validate(&settings, Names::Flags)?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let args = Args::try_parse_from(std::iter::once("corio-proxy").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        args.settings().map_err(|e| e.0)
    }

    #[test]
    fn flags_make_one_listener() {
        let s = settings(&[
            "--listen",
            "127.0.0.1:8000",
            "--upstream",
            "127.0.0.1:9000",
            "--upstream",
            "127.0.0.1:9001",
            "--balance",
            "least-conn",
            "--idle-timeout",
            "2m",
            "--max-conns",
            "10",
            "--copy",
            "splice",
            "--workers",
            "3",
            "--driver",
            "epoll",
        ])
        .unwrap();
        assert_eq!(s.workers, Some(3));
        assert_eq!(s.driver, Some(DriverChoice::Epoll));
        let l = &s.listeners[0];
        assert_eq!(l.upstreams.len(), 2);
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(120)));
        assert_eq!((l.balance, l.copy), (Balance::LeastConn, Copy::Splice));
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let cases: [(&[&str], &str); 6] = [
            (
                &["--listen", "nowhere", "--upstream", "127.0.0.1:1"],
                "--listen",
            ),
            (&["--listen", "127.0.0.1:1"], "--upstream"),
            (
                &[
                    "--listen",
                    "127.0.0.1:1",
                    "--upstream",
                    "127.0.0.1:2",
                    "--connect-timeout",
                    "x",
                ],
                "--connect-timeout",
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:1",
                    "--upstream",
                    "127.0.0.1:2",
                    "--workers",
                    "0",
                ],
                "--workers",
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:1",
                    "--upstream",
                    "127.0.0.1:2",
                    "--max-conns",
                    "0",
                ],
                "--max-conns",
            ),
            (
                &["--config", "x.toml", "--listen", "127.0.0.1:1"],
                "--config",
            ),
        ];
        for (args, flag) in cases {
            let err = settings(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
