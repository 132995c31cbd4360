//! The arguments of the pieces that run one server: `serve echo|file|http` and `file-read`.

use super::values::{addrs, load_secs, server, warmup_secs, Addrs, DriverArg};
use crate::serve::{ReadConfig, ServeConfig, ServiceKind};
use crate::servers::{self, ServerSpec};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub service: Service,
}

const ECHO_ABOUT: &str = "\
Runs an echo server (accept, TCP_NODELAY, read up to 16 KiB, write it all back) until SIGINT \
or SIGTERM, then prints one JSON line of server figures on stdout and exits 0: {\"server\", \
\"requests_hint\" (null but for http), \"cpu_us\" (process CPU, user+system), \"enters\", \
\"epoll_waits\", \"io_syscalls\", \"ops_submitted\", \"completions\" (null where the server \
cannot count them), \"accepted\"}. SIGUSR1 prints the same line and keeps running. On \
stderr: for corio, the driver it got and why (with --driver auto, the reason io_uring was \
refused), then \"listening on ADDR\" once the server accepts connections. Exit 1 if it cannot \
start (the address is in use; --driver uring where io_uring is refused: the message names \
io_uring and the errno).";

const FILE_ABOUT: &str = "\
Runs a static file server until SIGINT or SIGTERM: each byte a connection sends asks for the \
whole of --file, which the server reads in 64 KiB chunks at increasing offsets (the file is \
opened once per worker) and writes to the connection chunk by chunk. Stats lines, signals and \
stderr as for `serve echo`. `load --mode fetch --size LEN` drives it and checks every byte \
(the file must hold the suite's content, as the suite writes it).";

const HTTP_ABOUT: &str = "\
Runs hyper 1.x (HTTP/1.1, keep-alive) until SIGINT or SIGTERM: `GET /` answers 64 bytes, \
anything else 404. corio's servers go through corio-compat; tokio's through hyper-util on a \
current_thread runtime. Stats lines as for `serve echo`, with \"requests_hint\" the requests \
served.";

pub(super) const FILE_READ_ABOUT: &str = "\
Runs one server's file-read runner in this process: --depth reads of 4 KiB in flight at \
random block-aligned offsets of --file (which must hold the suite's content: every read's \
length and first and last 8 bytes are checked, and every --check-every-th read of each slot \
byte for byte), for --warmup then --secs seconds. Prints one JSON line: {\"server\", \"depth\", \
\"ops\", \"bytes\", \"secs\", \"errors\", \"corrupt\", \"cpu_us\" (this process's user+system \
CPU over the window: every thread, the runtime's helpers included), \"proc_cpu_us\", \
\"run_wait_us\", \"enters\", \"epoll_waits\", \"io_syscalls\", \"ops_submitted\", \
\"completions\" (null where not counted)}. Exit 1 if the runner fails.";

#[derive(Subcommand, Debug)]
pub enum Service {
    /// An echo server: corio on a driver, or any server by name
    #[command(long_about = ECHO_ABOUT, args_override_self = true)]
    Echo(EchoArgs),
    /// A static file server: each byte received asks for the whole file
    #[command(long_about = FILE_ABOUT, args_override_self = true)]
    File(FileArgs),
    /// An HTTP/1.1 server (hyper): GET / answers 64 bytes
    #[command(long_about = HTTP_ABOUT, args_override_self = true)]
    Http(HttpArgs),
}

#[derive(Args, Debug)]
pub struct EchoArgs {
    /// corio on this driver
    #[arg(long, value_enum, default_value_t = DriverArg::Auto, conflicts_with = "server")]
    pub driver: DriverArg,
    /// This server instead: corio-uring, corio-epoll, corio-uring-compat, raw-uring,
    /// raw-epoll, tokio, monoio, compio
    #[arg(long, value_name = "NAME", value_parser = server)]
    pub server: Option<&'static ServerSpec>,
    #[command(flatten)]
    pub listen: Listen,
}

/// Where and how many: shared by every service.
#[derive(Args, Debug)]
pub struct Listen {
    /// Where to listen; a host name is resolved, and the first address that binds is used
    #[arg(long, value_name = "HOST:PORT", value_parser = addrs)]
    pub addr: Addrs,
    /// Worker threads, each with its own runtime and listener (SO_REUSEPORT)
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 1
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: u64,
}

#[derive(Args, Debug)]
pub struct FileArgs {
    /// The server: corio-uring, corio-epoll, tokio, monoio, compio
    #[arg(long, value_name = "NAME", value_parser = file_server)]
    pub server: &'static ServerSpec,
    /// The file to serve
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    #[command(flatten)]
    pub listen: Listen,
}

#[derive(Args, Debug)]
pub struct HttpArgs {
    /// The server: corio-uring, corio-epoll, tokio
    #[arg(long, value_name = "NAME", value_parser = http_server)]
    pub server: &'static ServerSpec,
    #[command(flatten)]
    pub listen: Listen,
}

#[derive(Args, Debug)]
pub struct FileReadArgs {
    /// The runner: corio-uring, corio-epoll, raw-uring, tokio, monoio, compio
    #[arg(long, value_name = "NAME", value_parser = read_server)]
    pub server: &'static ServerSpec,
    /// The file to read (at least 4 KiB, holding the suite's content)
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    /// Reads in flight
    #[arg(
        long,
        value_name = "D",
        allow_negative_numbers = true,
        default_value_t = 1
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub depth: u64,
    /// Measured seconds, in (0, 3600]
    #[arg(
        long,
        value_name = "S",
        allow_negative_numbers = true,
        default_value_t = 1.0
    )]
    #[arg(value_parser = load_secs)]
    pub secs: f64,
    /// Warm-up seconds before them, in [0, 60]
    #[arg(
        long,
        value_name = "S",
        allow_negative_numbers = true,
        default_value_t = 0.2
    )]
    #[arg(value_parser = warmup_secs)]
    pub warmup: f64,
    /// Compare every N-th read of each slot byte for byte (1: every read)
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 64
    )]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub check_every: u64,
}

/// A server that has `what`, by name.
fn with(s: &str, what: &str, has: fn(&ServerSpec) -> bool) -> Result<&'static ServerSpec, String> {
    let spec = server(s)?;
    if has(spec) {
        return Ok(spec);
    }
    let names: Vec<&str> = servers::REGISTRY
        .iter()
        .filter(|s| has(s))
        .map(|s| s.name)
        .collect();
    Err(format!(
        "{s} has no {what} (those that do: {})",
        names.join(", ")
    ))
}

fn file_server(s: &str) -> Result<&'static ServerSpec, String> {
    with(s, "file service", |s| s.file.is_some())
}

fn http_server(s: &str) -> Result<&'static ServerSpec, String> {
    with(s, "http service", |s| s.http.is_some())
}

fn read_server(s: &str) -> Result<&'static ServerSpec, String> {
    with(s, "file-read runner", |s| s.file_read.is_some())
}

pub fn serve_config(service: Service) -> ServeConfig {
    let (spec, kind, listen, file) = match service {
        Service::Echo(a) => {
            let spec = a.server.unwrap_or(match a.driver {
                DriverArg::Auto => &servers::CORIO_AUTO,
                DriverArg::Uring => servers::find("corio-uring").expect("registered"),
                DriverArg::Epoll => servers::find("corio-epoll").expect("registered"),
            });
            (spec, ServiceKind::Echo, a.listen, None)
        }
        Service::File(a) => (a.server, ServiceKind::File, a.listen, Some(a.file)),
        Service::Http(a) => (a.server, ServiceKind::Http, a.listen, None),
    };
    ServeConfig {
        spec,
        service: kind,
        addrs: listen.addr.list,
        workers: listen.workers as usize,
        file,
    }
}

pub fn file_read_config(a: FileReadArgs) -> ReadConfig {
    ReadConfig {
        spec: a.server,
        file: a.file,
        depth: a.depth as usize,
        secs: a.secs,
        warmup: a.warmup,
        check_every: a.check_every,
    }
}
