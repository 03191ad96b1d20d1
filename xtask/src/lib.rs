//! The project's tasks as a library, so that tests can drive them (`cargo xtask` is
//! `src/main.rs`).

pub mod alloc;
pub mod bench;
pub mod data;
pub mod difftest;
pub mod features;
pub mod fuzz;
pub mod gen;
pub mod post_program;
pub mod procfs;
pub mod python;
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

/// A `cargo` command for a build nested in this one (`cargo xtask test`, `wheel`, `rfc`).
///
/// `cargo run` gave this process the package's variables (CARGO_PKG_NAME, OUT_DIR, ...).
/// Build scripts (ring's) rerun when they change, and so would everything above them, Polars
/// included: the nested build must see the environment a build from the shell sees.
pub fn nested_cargo() -> std::process::Command {
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_run = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*key,
                "OUT_DIR"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "CARGO_TARGET_TMPDIR"
            );
        if set_by_cargo_run {
            cargo.env_remove(&*key);
        }
    }
    cargo
}
