//! The adaptive Parquet I/O layer of polars-adaptive: memory-mapped Parquet files decoded by
//! Polars' own decoder in batches whose size adapts to a memory budget, row groups pruned from
//! footer statistics, many files read in parallel in a deterministic order.
//!
//! Entry points: [`AdaptiveStreamingReader`] (one file), [`ParallelStreamReader`] (many),
//! [`MmapParquetReader`] (footer, statistics and row groups of one file). This crate knows
//! nothing of query plans; `polars-adaptive` builds the lazy integration on top of it.
//!
//! ```no_run
//! use polars::prelude::*;
//! use polars_streaming_adaptive::AdaptiveStreamingReader;
//!
//! fn main() -> PolarsResult<()> {
//!     let reader = AdaptiveStreamingReader::new("large_file.parquet")?;
//!     // Process in batches
//!     let batches = reader.collect_batches_adaptive(None)?;
//!     for (i, batch) in batches.iter().enumerate() {
//!         println!("Batch {}: {} rows", i, batch.height());
//!     }
//!     Ok(())
//! }
//! ```

mod adaptive_reader;
mod assemble;
mod bloom;
mod chunk_strategy;
mod compiled;
mod decompressed;
mod error;
mod expr_predicate;
mod file_scan;
mod memory_manager;
mod metrics;
mod mmap_reader;
mod parallel_stream;
mod paths;
mod predicate;
mod statistics;
pub mod testing;

pub use adaptive_reader::{AdaptiveBatches, AdaptiveStreamingReader};
pub use assemble::one_chunk_frame;
pub use chunk_strategy::{AdaptiveChunkStrategy, ChunkStrategy, FixedChunkStrategy};
pub use compiled::CompiledExpr;
pub use error::AdaptiveError;
pub use expr_predicate::ExprPredicate;
pub use file_scan::{BatchMap, RowGroupFilter};
pub use memory_manager::{MemoryGuard, MemoryManager};
pub use metrics::{ScanMetrics, ScanMetricsSnapshot};
pub use mmap_reader::{MmapMode, MmapParquetReader};
pub use parallel_stream::{ParallelBatches, ParallelStreamReader, ReadUnit, ReadUnits};
pub use paths::expand_paths;
pub use predicate::{
    AndPredicate, CmpOp, ColumnFilterPredicate, ComparisonPredicate, IntoLiteral, NotPredicate,
    NullPredicate, OrPredicate, PredicatePushdown, RangePredicate,
};
pub use statistics::{ColumnStats, RowGroupStats};

#[cfg(test)]
mod pruning_tests;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
