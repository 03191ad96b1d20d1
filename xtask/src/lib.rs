//! The project's tasks as a library, so that tests can drive them (`cargo xtask` is
//! `src/main.rs`).

pub mod bench;
pub mod data;
pub mod difftest;
pub mod fuzz;
pub mod gen;
pub mod post_program;
pub mod procfs;
#[cfg(feature = "rfc")]
pub mod rfc;

/// The repository's root: the parent of the running package's directory (xtask's, or the
/// rfc runner's). `cargo run` and `cargo test` give that directory to the process in
/// `CARGO_MANIFEST_DIR`; the value compiled in is the fallback for a binary run directly. The
/// compiled value alone is not enough: clones that share a target dir (`.ci/run` on a fresh
/// clone next to a working checkout) share xtask's binary, since cargo names a path package's
/// artifacts without its path, and a binary last built in the clone wrote the checkout's
/// benchmark report into the clone.
pub fn project_root() -> std::path::PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    package.parent().unwrap().to_path_buf()
}
