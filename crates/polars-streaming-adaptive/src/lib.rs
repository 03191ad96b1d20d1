//! The adaptive Parquet I/O layer of polars-adaptive: memory-mapped Parquet files decoded by
//! Polars' own decoder in batches whose size adapts to a memory budget, row groups pruned from
//! footer statistics, many files read in parallel in a deterministic order.
//!
//! Entry points: [`AdaptiveStreamingReader`] (one file), [`ParallelStreamReader`] (many),
//! [`MmapParquetReader`] (footer, statistics and row groups of one file). This crate knows
//! nothing of query plans; `polars-adaptive` builds the lazy integration on top of it.
//!
//! The modules follow a scan's pipeline, each depending only on those after it: `scan` (units
//! and the readers) → `prune` (statistics, bloom filters, page index) → `file` (byte source,
//! footer, the reader's decode paths) → `decode` (page checks, decompression, Polars'
//! decoder); `memory` (budget, batch sizing) serves them all.
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

mod decode;
mod error;
mod file;
mod memory;
mod metrics;
mod prune;
mod scan;
pub mod testing;

pub use decode::assemble::one_chunk_frame;
pub use decode::categorical::CategoricalColumns;
pub use decode::compiled::CompiledExpr;
pub use error::{panic_message, AdaptiveError};
pub use file::footer_cache::FooterCache;
pub use file::paths::expand_paths;
pub use file::reader::MmapParquetReader;
pub use file::source::MmapMode;
pub use file::statistics::{ColumnStats, RowGroupStats};
pub use memory::chunk_strategy::{
    AdaptiveChunkStrategy, ChunkPolicy, ChunkStrategy, FixedChunkStrategy,
};
pub use memory::manager::{MemoryGuard, MemoryManager};
pub use metrics::{ScanMetrics, ScanMetricsSnapshot};
pub use prune::column::{
    ColumnFilterPredicate, ComparisonPredicate, NullPredicate, RangePredicate,
};
pub use prune::combine::{AndPredicate, NotPredicate, OrPredicate};
pub use prune::expr_predicate::ExprPredicate;
pub use prune::predicate::{CmpOp, IntoLiteral, PredicatePushdown};
pub use scan::options::{BatchMap, RowGroupFilter};
pub use scan::parallel::threads::spawn_producer;
pub use scan::parallel::{ParallelBatches, ParallelStreamReader, ReadUnit, ReadUnits};
pub use scan::sequential::{AdaptiveBatches, AdaptiveStreamingReader};

#[cfg(feature = "test-hooks")]
pub mod test_hooks;
