//! One integration-test binary for the crate: every binary links all of Polars, so the
//! test files are modules of this one.

mod bad_input;
mod bloom_filters;
mod common;
mod exact_bounds;
mod filter_first;
mod mapped_files;
mod memory_budget;
mod page_index;
mod panics;
mod parquet_testing;
mod paths;
mod pruning_soundness;
mod readers;
