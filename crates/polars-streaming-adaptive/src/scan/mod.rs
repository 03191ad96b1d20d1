//! Scans: a file's rows cut into units that fit the budget, units read into batches, and the
//! two public readers that drive them.
//!
//! - `options`: what a scan reads, shared by its files, and the caller's hooks;
//! - `file_scan`: one file's columns, pruning decisions and units;
//! - `row_filter`: reading a unit, filter-first where the predicate compiles;
//! - `sequential`: `AdaptiveStreamingReader`, one file on the caller's thread;
//! - `parallel`: `ParallelStreamReader`, many files on Polars' pool, in order.

pub(crate) mod file_scan;
pub(crate) mod options;
pub(crate) mod parallel;
pub(crate) mod row_filter;
pub(crate) mod sequential;
