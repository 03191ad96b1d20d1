//! `ScanArgsAdaptive`: the options of `LazyFrame::scan_adaptive`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::splits::Split;
use polars::prelude::*;
use polars_streaming_adaptive::{
    ChunkPolicy, ChunkStrategy, MmapMode, ScanMetrics, ScanMetricsSnapshot,
};

/// Options of [`crate::ScanAdaptiveExt::scan_adaptive`]. The defaults read like stock
/// `scan_parquet` with statistics pruning on.
///
/// ```
/// use polars_adaptive_plan::ScanArgsAdaptive;
/// let args = ScanArgsAdaptive::default()
///     .with_memory_budget(256 << 20)
///     .with_max_concurrent_files(4);
/// assert_eq!(args.memory_budget, Some(256 << 20));
/// ```
#[derive(Debug, Clone)]
pub struct ScanArgsAdaptive {
    /// Bytes of decoded data the scan may hold in flight; `None` leaves the machine's (and the
    /// cgroup's) available memory as the only limit.
    pub memory_budget: Option<usize>,
    /// How batch sizes are chosen ([`ChunkPolicy::Auto`]: from the bytes per row measured, to
    /// fit the budget).
    pub chunk_policy: ChunkPolicy,
    /// Files open (mapped, footer parsed) at once; `None` is the number of threads.
    pub max_concurrent_files: Option<usize>,
    /// Skip row groups (and files) whose statistics rule out the pushed-down predicate; in
    /// `collect_adaptive`, also answer aggregates from statistics and skip row groups a top-k
    /// does not need. `false` switches off every kind of skipping (bloom filters and page
    /// index too): every row is read.
    pub use_statistics: bool,
    /// Skip row groups whose bloom filters rule out every value an equality or `is_in` of the
    /// predicate needs (with `use_statistics`).
    pub use_bloom_filters: bool,
    /// Read only the pages of a row group whose page-index statistics may hold rows of a
    /// one-column predicate (with `use_statistics`).
    pub use_page_index: bool,
    /// Read at most this many rows (before any filter, as stock's `n_rows`).
    pub n_rows: Option<usize>,
    /// Add a first column numbering the rows of all files, counted before filtering.
    pub row_index: Option<RowIndex>,
    /// Add a last column with each row's file path, under this name.
    pub include_file_paths: Option<PlSmallStr>,
    /// Return every column as one chunk. Past 64 MiB, `collect()` already returns fixed-width
    /// and string or binary columns as one chunk each; this also rechunks the rest (and
    /// smaller reads).
    pub rechunk: bool,
    /// Whether files are mapped or read ([`MmapMode::Auto`]: mapped unless on a network or
    /// FUSE filesystem).
    pub mmap_mode: MmapMode,
    /// Counters every scan with these arguments adds to (clones share them).
    pub metrics: Arc<ScanMetrics>,
    /// Stops every scan with these arguments at its next batch once cancelled.
    pub cancellation: Option<Cancellation>,
    /// Read only this split's row groups ([`crate::plan_splits`]); statistics answers and
    /// top-k skipping see only them too.
    pub split: Option<Arc<Split>>,
}

/// A handle that stops scans: once [`cancel`](Self::cancel) is called, each scan holding a
/// clone fails at its next batch with "the query was cancelled" and its read-ahead stops.
/// Servers use it to end a query whose client cancelled it or went away, also while the query
/// aggregates and hands out no batch.
#[derive(Debug, Clone, Default)]
pub struct Cancellation(Arc<AtomicBool>);

impl Cancellation {
    /// A handle not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Cancels every scan holding a clone of this handle.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for ScanArgsAdaptive {
    fn default() -> Self {
        Self {
            memory_budget: None,
            chunk_policy: ChunkPolicy::Auto,
            max_concurrent_files: None,
            use_statistics: true,
            use_bloom_filters: true,
            use_page_index: true,
            n_rows: None,
            row_index: None,
            include_file_paths: None,
            rechunk: false,
            mmap_mode: MmapMode::Auto,
            metrics: Arc::default(),
            cancellation: None,
            split: None,
        }
    }
}

impl ScanArgsAdaptive {
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }
    /// A strategy of your own: [`ChunkPolicy::Custom`].
    pub fn with_chunk_strategy(mut self, strategy: Arc<dyn ChunkStrategy>) -> Self {
        self.chunk_policy = ChunkPolicy::Custom(strategy);
        self
    }
    pub fn with_chunk_policy(mut self, policy: ChunkPolicy) -> Self {
        self.chunk_policy = policy;
        self
    }
    pub fn with_max_concurrent_files(mut self, files: usize) -> Self {
        self.max_concurrent_files = Some(files);
        self
    }
    pub fn with_statistics(mut self, use_statistics: bool) -> Self {
        self.use_statistics = use_statistics;
        self
    }
    pub fn with_bloom_filters(mut self, use_bloom_filters: bool) -> Self {
        self.use_bloom_filters = use_bloom_filters;
        self
    }
    pub fn with_page_index(mut self, use_page_index: bool) -> Self {
        self.use_page_index = use_page_index;
        self
    }
    pub fn with_n_rows(mut self, n_rows: Option<usize>) -> Self {
        self.n_rows = n_rows;
        self
    }
    pub fn with_row_index(mut self, name: impl Into<PlSmallStr>, offset: IdxSize) -> Self {
        self.row_index = Some(RowIndex {
            name: name.into(),
            offset,
        });
        self
    }
    pub fn with_include_file_paths(mut self, name: impl Into<PlSmallStr>) -> Self {
        self.include_file_paths = Some(name.into());
        self
    }
    pub fn with_rechunk(mut self, rechunk: bool) -> Self {
        self.rechunk = rechunk;
        self
    }
    pub fn with_mmap_mode(mut self, mode: MmapMode) -> Self {
        self.mmap_mode = mode;
        self
    }
    /// Counts into `metrics`, a handle the caller keeps.
    pub fn with_metrics(mut self, metrics: Arc<ScanMetrics>) -> Self {
        self.metrics = metrics;
        self
    }
    /// Stops the scans at their next batch once `cancellation` is cancelled.
    /// Reads only `split`'s row groups (of the files the scan is given: see
    /// [`crate::ScanAdaptiveExt::scan_split`]).
    pub fn with_split(mut self, split: Split) -> Self {
        self.split = Some(Arc::new(split));
        self
    }

    pub fn with_cancellation(mut self, cancellation: Cancellation) -> Self {
        self.cancellation = Some(cancellation);
        self
    }
    /// What the scans with these arguments have done so far.
    pub fn metrics(&self) -> ScanMetricsSnapshot {
        self.metrics.snapshot()
    }
}
