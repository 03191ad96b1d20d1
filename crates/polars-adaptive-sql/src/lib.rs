//! polars-adaptive-sql: SQL over `scan_adaptive` tables.
//!
//! [`SqlEngine`] holds tables registered by name (files, directories or globs, each with its
//! `ScanArgsAdaptive`); [`SqlEngine::plan`] checks one statement (reads only: no DDL, no DML,
//! no table functions), plans it with polars-sql in a context of its own, and the [`Query`]
//! runs through `collect_adaptive` / `sink_batches_adaptive` within its memory budget. The
//! Flight SQL server, the command line and Python's `polars_adaptive.sql` are front ends of it.

mod engine;
mod error;
mod statement;
pub mod testing;

pub use engine::{Query, QueryOptions, SqlEngine, Table, DEFAULT_MAX_SQL_BYTES};
pub use error::SqlError;
pub use statement::StatementKind;
