//! One integration-test binary for the crate: every binary links all of Polars, so the
//! test files are modules of this one.

mod budget_rss;
mod collect_adaptive;
mod collect_adaptive_memory;
mod common;
mod design_examples;
mod first_n_per_group;
mod scan_adaptive;
mod scan_adaptive_corpus;
mod several_scans;
mod sinks_adaptive;
mod splits;
mod top_k;
