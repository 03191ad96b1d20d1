//! From a column chunk's bytes to columns and batches, knowing nothing of files or scans.
//!
//! - `pages`: page headers checked against the footer, and what decoding them holds;
//! - `decompressed`: a chunk's pages decompressed once for the units that share them;
//! - `deserialize`: Polars' decoder over a column's chunks, from bytes or kept pages;
//! - `categorical`: string columns decoded as dictionary codes under one mapping;
//! - `compiled`: a predicate compiled once per schema, evaluated on every batch;
//! - `assemble`: batches copied into one chunk per column as they arrive.

pub(crate) mod assemble;
pub(crate) mod categorical;
pub(crate) mod compiled;
pub(crate) mod decompressed;
pub(crate) mod deserialize;
pub(crate) mod pages;
