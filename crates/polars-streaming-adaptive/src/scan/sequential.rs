//! `AdaptiveStreamingReader`: one file read in batches sized by a memory budget.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use crate::file::reader::MmapParquetReader;
use crate::memory::chunk_strategy::{ChunkPolicy, ChunkStrategy};
use crate::memory::manager::{MemoryGuard, MemoryManager};
use crate::metrics::{ScanMetrics, ScanMetricsSnapshot};
use crate::prune::predicate::PredicatePushdown;
use crate::scan::file_scan::FileScan;
use crate::scan::options::ScanOptions;

/// Reads one Parquet file in batches whose decoded size stays within a memory budget.
///
/// ```no_run
/// use polars::prelude::*;
/// use polars_streaming_adaptive::{AdaptiveStreamingReader, ColumnFilterPredicate};
///
/// fn main() -> PolarsResult<()> {
///     let mut reader = AdaptiveStreamingReader::new("trades.parquet")?;
///     // Filter for symbol == "AAPL"
///     let predicate = ColumnFilterPredicate::new("symbol", vec!["AAPL".to_string()]);
///     reader.with_predicate(predicate);
///     let df = reader.collect()?;
///     println!("Loaded {} AAPL rows", df.height());
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct AdaptiveStreamingReader {
    pub(crate) reader: Arc<MmapParquetReader>,
    pub(crate) options: ScanOptions,
}

impl AdaptiveStreamingReader {
    /// Opens `path` (a `&str`, `String`, `&Path` or `PathBuf`).
    pub fn new(path: impl AsRef<Path>) -> PolarsResult<Self> {
        Ok(Self::from_reader(MmapParquetReader::new(path)?))
    }

    /// Reads through an already opened file.
    pub fn from_reader(reader: MmapParquetReader) -> Self {
        let options = ScanOptions::default();
        options.metrics.add_file(reader.num_row_groups());
        Self {
            reader: Arc::new(reader),
            options,
        }
    }

    /// Sizes batches with `strategy` (default: [`ChunkPolicy::Auto`]).
    pub fn with_chunk_strategy(mut self, strategy: Arc<dyn ChunkStrategy>) -> Self {
        self.options.strategy = strategy;
        self
    }

    /// Sizes batches as `policy` says (default: [`ChunkPolicy::Auto`]).
    pub fn with_chunk_policy(mut self, policy: ChunkPolicy) -> Self {
        self.options.strategy = policy.strategy();
        self
    }

    /// Keeps only rows passing `predicate`, and skips row groups it rules out. Called again,
    /// the predicates are and-ed. Takes `&mut self`, as the original design's examples use it.
    pub fn with_predicate(&mut self, predicate: impl PredicatePushdown + 'static) -> &mut Self {
        self.options.add_predicate(Arc::new(predicate));
        self
    }

    /// Returns only `columns`, in this order.
    pub fn with_projection<S: Into<PlSmallStr>>(
        mut self,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.options.projection = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Caps decoded bytes in flight at `bytes` (the cgroup and machine limits also apply).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.options.memory = self.options.memory.with_budget(bytes);
        self
    }

    /// Tracks memory with `memory`, sharing its counters and budget.
    pub fn with_memory_manager(mut self, memory: MemoryManager) -> Self {
        self.options.memory = memory;
        self
    }

    /// Counts into `metrics`, e.g. a handle the caller keeps to read after the scan.
    pub fn with_metrics(mut self, metrics: Arc<ScanMetrics>) -> Self {
        metrics.add_file(self.reader.num_row_groups());
        self.options.metrics = metrics;
        self
    }

    /// The memory manager counting this reader's batches in flight.
    pub fn memory_manager(&self) -> &MemoryManager {
        &self.options.memory
    }

    /// The file being read.
    pub fn reader(&self) -> &MmapParquetReader {
        &self.reader
    }

    /// What the reader has done so far.
    pub fn metrics(&self) -> ScanMetricsSnapshot {
        self.options.metrics.snapshot()
    }

    /// Decoded bytes of the projected columns of the row groups the predicate keeps.
    pub fn estimate_memory_required(&self) -> usize {
        let Ok(scan) = FileScan::new(self.reader.clone(), &self.options, 0) else {
            return 0;
        };
        let columns: Vec<usize> = scan
            .output_schema()
            .iter_names()
            .filter_map(|n| self.reader.schema().index_of(n))
            .collect();
        let pruned = |rg: usize| {
            self.options
                .predicate
                .as_ref()
                .is_some_and(|p| p.should_skip_row_group(self.reader.row_group_statistics(rg)))
        };
        (0..self.reader.num_row_groups())
            .filter(|&rg| !pruned(rg))
            .map(|rg| self.reader.estimate_decoded_bytes(rg, &columns))
            .sum()
    }

    /// Batches in file order. A batch counts against the budget until the next call to
    /// `next`; batches left empty by the predicate are not returned.
    pub fn batches(&self) -> AdaptiveBatches {
        let (scan, error) = match FileScan::new(self.reader.clone(), &self.options, 0) {
            Ok(scan) => (Some(scan), None),
            Err(e) => (None, Some(e.into())),
        };
        AdaptiveBatches {
            scan,
            error,
            options: self.options.clone(),
            row_group: 0,
            offset: 0,
            held: None,
        }
    }

    /// Reads every batch into one frame.
    pub fn collect(self) -> PolarsResult<DataFrame> {
        let scan = FileScan::new(self.reader.clone(), &self.options, 0)?;
        let dfs = self.batches().collect::<PolarsResult<Vec<_>>>()?;
        concat_or_empty(dfs, || scan.empty())
    }

    /// Reads every batch, each holding at most `max_memory_mb` MiB of decoded data when given.
    pub fn collect_batches_adaptive(
        self,
        max_memory_mb: Option<usize>,
    ) -> PolarsResult<Vec<DataFrame>> {
        let this = match max_memory_mb {
            Some(mb) => self.with_memory_budget(mb.saturating_mul(1 << 20)),
            None => self,
        };
        this.batches().collect()
    }
}

pub(crate) fn concat_or_empty(
    dfs: Vec<DataFrame>,
    empty: impl FnOnce() -> DataFrame,
) -> PolarsResult<DataFrame> {
    if dfs.is_empty() {
        return Ok(empty());
    }
    polars_core::utils::accumulate_dataframes_vertical(dfs)
}

/// Iterator over the batches of an [`AdaptiveStreamingReader`].
#[derive(Debug)]
pub struct AdaptiveBatches {
    /// `None` once the iterator has ended (after the last batch or an error).
    scan: Option<FileScan>,
    /// An error to return before anything else.
    error: Option<PolarsError>,
    options: ScanOptions,
    row_group: usize,
    offset: usize,
    held: Option<MemoryGuard>,
}

impl Iterator for AdaptiveBatches {
    type Item = PolarsResult<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.held = None;
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let scan = self.scan.as_ref()?;
        let n = scan.reader.num_row_groups();
        while self.row_group < n {
            let rg = self.row_group;
            let rg_rows = scan.reader.row_group_num_rows(rg);
            if rg_rows == 0 || (self.offset == 0 && !scan.keep_row_group(rg, &self.options)) {
                self.row_group += 1;
                continue;
            }
            let budget = self.options.memory.available_bytes();
            let batch = scan
                .next_unit(rg, self.offset, rg_rows, budget, &self.options)
                .and_then(|unit| scan.read(unit, &self.options).map(|b| (unit, b)));
            let (unit, batch) = match batch {
                Ok(ok) => ok,
                Err(e) => {
                    self.row_group = n;
                    return Some(Err(e.into()));
                }
            };
            self.offset += unit.rows;
            if self.offset == rg_rows {
                self.row_group += 1;
                self.offset = 0;
            }
            if batch.df.height() == 0 && self.options.predicate.is_some() {
                continue;
            }
            self.held = Some(batch.guard);
            return Some(Ok(batch.df));
        }
        None
    }
}
