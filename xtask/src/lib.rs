//! The project's tasks as a library, so that tests can drive them (`cargo xtask` is
//! `src/main.rs`).

pub mod difftest;
pub mod fuzz;
