//! polars-adaptive: adaptive, memory-mapped Parquet scans for Polars.
//!
//! Layers, each usable on its own:
//! - I/O ([`io`], the `polars-streaming-adaptive` crate): memory-mapped files, footer
//!   statistics, pruning predicates, batches sized by a memory budget, many files in parallel.
//! - Plan ([`plan`], the `polars-adaptive-plan` crate): `LazyFrame::scan_adaptive`, the reader
//!   as a source of Polars' lazy engine, with projection, slice and predicate pushdown.
//! - Execution ([`exec`], the `polars-adaptive-exec` crate): `collect_adaptive`,
//!   `sink_batches_adaptive`: plans over the source run batch by batch in bounded memory.
//!
//! `use polars_adaptive::prelude::*;` brings the public API in.

pub use polars_adaptive_exec as exec;

pub use polars_adaptive_plan as plan;
pub use polars_streaming_adaptive as io;
pub use polars_streaming_adaptive::testing;

/// The public API in one import.
pub mod prelude {
    pub use polars_adaptive_exec::{
        first_n_per_group, AdaptiveExecExt, AdaptivePipeline, BatchOperator, PartsPlan,
        SinkParquetAdaptiveOptions,
    };
    pub use polars_adaptive_plan::{
        plan_splits, Cancellation, ScanAdaptiveExt, ScanArgsAdaptive, Split, SplitOptions,
        SplitPart,
    };
    pub use polars_streaming_adaptive::{
        AdaptiveChunkStrategy, AdaptiveStreamingReader, AndPredicate, ChunkPolicy, ChunkStrategy,
        CmpOp, ColumnFilterPredicate, ColumnStats, ComparisonPredicate, ExprPredicate,
        FixedChunkStrategy, MemoryManager, MmapMode, MmapParquetReader, NotPredicate,
        NullPredicate, OrPredicate, ParallelStreamReader, PredicatePushdown, RangePredicate,
        RowGroupStats, ScanMetrics, ScanMetricsSnapshot,
    };
}
