//! corio-bench: the completion-vs-readiness benchmark harness (work in progress).
fn main() {
    eprintln!("corio-bench: not built yet");
    std::process::exit(2);
}
