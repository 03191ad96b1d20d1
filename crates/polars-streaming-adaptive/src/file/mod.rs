//! One Parquet file: where its bytes come from, its footer and statistics, and
//! `MmapParquetReader`, which decodes its row groups through `decode`.
//!
//! - `source`: the mapping or positioned reads (`MmapMode`), and the stamp that detects change;
//! - `footer`: magic bytes, the footer parsed and checked against the file, the schema;
//! - `footer_cache`: footers parsed once for the reads of one scan;
//! - `statistics`: the footer's statistics typed as Polars values, and whether bounds are exact;
//! - `exact_flags`: the statistics' exactness flags as the footer states them;
//! - `reader`: `MmapParquetReader`, what it holds and what decoding it costs;
//! - `read`: decoding rows of a row group (whole, a range, a mask);
//! - `predicated`: decoding whole row groups filtered inside Polars' decoder;
//! - `page_cache`: page checks and pages decompressed once, per row group and column;
//! - `paths`: a file, a directory or a glob as a sorted list of files.

pub(crate) mod exact_flags;
pub(crate) mod footer;
pub(crate) mod footer_cache;
pub(crate) mod page_cache;
pub(crate) mod paths;
pub(crate) mod predicated;
pub(crate) mod read;
pub(crate) mod reader;
pub(crate) mod source;
pub(crate) mod statistics;

#[cfg(test)]
mod tests;
