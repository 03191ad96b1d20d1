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

/// The repository's root (xtask's parent directory).
pub fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
