//! corio-bench: the completion-vs-readiness benchmark harness (work in progress).
mod servers;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        std::process::exit(servers::serve_cmd(&args[1..]));
    }
    eprintln!("corio-bench: not built yet");
    std::process::exit(2);
}
