//! Runs the prototype's checks and benchmarks: `cargo xtask rfc` builds and calls this.

fn main() {
    if let Err(e) = xtask::rfc::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
