//! `ParallelStreamReader`: many files read as one ordered stream of batches.
//!
//! A producer thread walks the files in order, opening at most `max_concurrent` at once, prunes
//! their row groups and cuts them into units, which it queues. A helper job per unit on Polars'
//! rayon pool decodes whichever unit is still queued, and so does the consumer while the batch it
//! needs next is not ready: a scan makes progress even when every pool thread is busy elsewhere
//! (or blocked in another scan's consumer). There are `in_flight` permits, each worth
//! `budget / in_flight` bytes. A unit takes as many as its cost needs (one, unless its pages are
//! huge; at most all of them, when it is decoded alone) before it is queued, and gives them back
//! once the consumer has moved past its batch. The consumer reorders results by sequence number:
//! output is file order, then row order, whatever order the threads finish in.
//!
//! - `walk`: the files in order, footers read ahead, pruning, units;
//! - `producer`: the producer thread, which takes places and permits and queues units;
//! - `task`: a queued unit and the messages that reach the consumer;
//! - `consumer`: the consumer's end (`Events`), the window of units, the permits;
//! - `threads`: where producers run (Polars' blocking pool while it has room).

mod consumer;
mod producer;
mod task;
pub(crate) mod threads;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use self::consumer::{permits_and_budget, Events};
use self::task::{decode, Event};
use self::walk::{Step, Walk};
use crate::decode::categorical::CategoricalColumns;
use crate::error::{catch_panic, AdaptiveError};
use crate::file::footer_cache::FooterCache;
use crate::file::paths::expand_paths;
use crate::file::source::MmapMode;
use crate::memory::chunk_strategy::{ChunkPolicy, ChunkStrategy};
use crate::memory::manager::MemoryManager;
use crate::metrics::{ScanMetrics, ScanMetricsSnapshot};
use crate::prune::predicate::PredicatePushdown;
use crate::scan::file_scan::{FileScan, Unit};
use crate::scan::options::{BatchMap, RowGroupFilter, ScanOptions};
use crate::scan::sequential::concat_or_empty;

/// Reads many Parquet files in parallel, in file order.
///
/// ```no_run
/// use polars::prelude::*;
/// use polars_streaming_adaptive::ParallelStreamReader;
///
/// fn main() -> PolarsResult<()> {
///     // Read all files in directory
///     let reader = ParallelStreamReader::from_glob("data/*.parquet")?
///         .with_max_concurrent(4);
///     // Collect all files into single DataFrame
///     let df = reader.collect_concatenated()?;
///     println!("Loaded {} rows from multiple files", df.height());
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct ParallelStreamReader {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) max_concurrent: usize,
    pub(crate) options: ScanOptions,
    pub(crate) row_limit: Option<usize>,
}

impl ParallelStreamReader {
    /// Reads `paths` in this order.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            max_concurrent: polars_core::runtime::RAYON.current_num_threads().max(1),
            options: ScanOptions::default(),
            row_limit: None,
        }
    }

    /// Reads the files a glob (or directory) names, sorted by path.
    pub fn from_glob(pattern: &str) -> PolarsResult<Self> {
        Ok(Self::new(expand_paths(Path::new(pattern))?))
    }

    /// Keeps at most `max` files open (mapped, footer parsed) at once.
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max.max(1);
        self
    }

    /// Keeps only rows passing `predicate`, skipping row groups it rules out; and-ed with any
    /// predicate already set.
    pub fn with_predicate(mut self, predicate: impl PredicatePushdown + 'static) -> Self {
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

    /// Reads only the first `rows` rows of the files (all of them for `None`), counted before
    /// the predicate as stock's `n_rows` counts them: no unit past them is decoded.
    pub fn with_row_limit(mut self, rows: Option<usize>) -> Self {
        self.row_limit = rows;
        self
    }

    /// Caps decoded bytes in flight, over all threads, at `bytes`.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.options.memory = self.options.memory.with_budget(bytes);
        self
    }

    /// Sizes batches with `strategy`.
    pub fn with_chunk_strategy(mut self, strategy: Arc<dyn ChunkStrategy>) -> Self {
        self.options.strategy = strategy;
        self
    }

    /// Sizes batches as `policy` says (default: [`ChunkPolicy::Auto`]).
    pub fn with_chunk_policy(mut self, policy: ChunkPolicy) -> Self {
        self.options.strategy = policy.strategy();
        self
    }

    /// Adds a first column `row_index.name` numbering the rows of all files from
    /// `row_index.offset`, counted before any filter (stock Polars' `row_index`).
    pub fn with_row_index(mut self, row_index: Option<RowIndex>) -> Self {
        self.options.row_index = row_index;
        self
    }

    /// Adds a last column `name` holding each row's file path (stock `include_file_paths`).
    pub fn with_include_file_paths(mut self, name: Option<PlSmallStr>) -> Self {
        self.options.file_path_column = name;
        self
    }

    /// Maps the files, or reads them, as `mode` says (default [`MmapMode::Auto`]).
    pub fn with_mmap_mode(mut self, mode: MmapMode) -> Self {
        self.options.mmap_mode = mode;
        self
    }

    /// Takes the files' footers from `footers` where it holds them as the files are now, and
    /// keeps the others there for later reads.
    pub fn with_footer_cache(mut self, footers: FooterCache) -> Self {
        self.options.footers = Some(footers);
        self
    }

    /// Hands out the string columns of `categorical` as its categoricals in units whose pages
    /// are all dictionary-encoded, decoding only the codes (for a consumer that compares
    /// values, such as a group key), and as strings in other units. Columns the predicate
    /// reads stay strings.
    pub fn with_categorical(mut self, categorical: CategoricalColumns) -> Self {
        self.options.categorical = Some(categorical);
        self
    }

    /// Counts batches in flight with `memory` (shared with the caller, who may track more).
    pub fn with_memory_manager(mut self, memory: MemoryManager) -> Self {
        self.options.memory = memory;
        self
    }

    /// Runs `map` on every batch on the thread that decoded it (a worker of Polars' pool, or
    /// the consumer), so that per-batch work runs in parallel with decoding; the batches
    /// [`Self::batches`] yields are its outputs, in the same order. An error of `map` ends the
    /// stream like a decode error.
    pub fn with_batch_map(mut self, map: BatchMap) -> Self {
        self.options.map = Some(map);
        self
    }

    /// Reads only the row groups `filter` accepts; the others are left out without a trace
    /// in the metrics (a caller that answers them from statistics counts them itself).
    pub fn with_row_group_filter(mut self, filter: RowGroupFilter) -> Self {
        self.options.row_groups = Some(filter);
        self
    }

    /// Counts into `metrics`, e.g. a handle the caller keeps to read after the scan.
    pub fn with_metrics(mut self, metrics: Arc<ScanMetrics>) -> Self {
        self.options.metrics = metrics;
        self
    }

    /// The schema of this reader's output for files of schema `file`: the row index, the
    /// file's columns (or the projection), the file path.
    pub fn output_schema(&self, file: &Schema) -> Schema {
        let full = self.options.full_schema(file);
        match &self.options.projection {
            Some(cols) => cols
                .iter()
                .filter_map(|c| full.get(c).map(|d| (c.clone(), d.clone())))
                .collect(),
            None => full,
        }
    }

    /// The files, in output order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// What the reader has done so far.
    pub fn metrics(&self) -> ScanMetricsSnapshot {
        self.options.metrics.snapshot()
    }

    /// Batches of all files, in file order then row order. Every file must have the first
    /// file's schema. A batch counts against the budget until the next call to `next`.
    pub fn batches(self) -> ParallelBatches {
        ParallelBatches {
            events: Events::start(self, true),
        }
    }

    /// The units of this read, in output order, for a caller that decodes them on threads
    /// of its own (the streaming engine, through `polars-adaptive-plan`'s unit source). They
    /// are cut to the size `batches` gives them; the caller bounds how many are in flight.
    pub fn units(self) -> ReadUnits {
        let (_, budget) = permits_and_budget(&self.options);
        ReadUnits {
            walk: Walk::new(self, true, budget),
            failed: false,
        }
    }

    /// One frame per file, in path order. Files may differ in schema.
    pub fn collect_parallel(self) -> PolarsResult<Vec<DataFrame>> {
        let mut frames: Vec<(Vec<DataFrame>, DataFrame)> = Vec::new();
        let mut events = Events::start(self, false);
        while let Some(event) = events.next_event() {
            match event? {
                Event::File { empty } => frames.push((Vec::new(), empty)),
                Event::Batch { df, .. } => frames.last_mut().unwrap().0.push(df),
            }
        }
        frames
            .into_iter()
            .map(|(dfs, empty)| concat_or_empty(dfs, || empty))
            .collect()
    }

    /// All files in one frame, in path order.
    pub fn collect_concatenated(self) -> PolarsResult<DataFrame> {
        let mut dfs = Vec::new();
        let mut empty = None;
        let mut events = Events::start(self, true);
        while let Some(event) = events.next_event() {
            match event? {
                Event::File { empty: e } => {
                    empty.get_or_insert(e);
                }
                Event::Batch { df, .. } => dfs.push(df),
            }
        }
        concat_or_empty(dfs, || empty.unwrap_or_default())
    }
}

/// Iterator over the batches of a [`ParallelStreamReader`].
#[derive(Debug)]
pub struct ParallelBatches {
    events: Events,
}

impl Iterator for ParallelBatches {
    type Item = PolarsResult<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.events.next_event()? {
                Ok(Event::File { .. }) => continue,
                Ok(Event::Batch { df, guard }) => {
                    self.events.held = Some(guard);
                    return Some(Ok(df));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The units of one read, in output order (see [`ParallelStreamReader::units`]).
pub struct ReadUnits {
    walk: Walk<()>,
    failed: bool,
}

impl std::fmt::Debug for ReadUnits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadUnits")
    }
}

impl Iterator for ReadUnits {
    type Item = PolarsResult<ReadUnit>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            // As on the producer thread, a panic (a chunk strategy's, a predicate's pruning)
            // is an error after the units before it, never the end of the read.
            let step = catch_panic(
                || self.walk.next(|_| Some(())),
                |msg| AdaptiveError::Internal(format!("planning the scan's units panicked: {msg}")),
            );
            match step {
                Ok(None) => return None,
                Ok(Some(Step::File(_))) => continue,
                Ok(Some(Step::Unit(scan, unit))) => {
                    let options = self.walk.options.clone();
                    return Some(Ok(ReadUnit {
                        scan,
                        unit,
                        options,
                    }));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}

/// One unit of a read: rows of one row group, decoded by [`ReadUnit::decode`] on any thread.
pub struct ReadUnit {
    scan: Arc<(FileScan, ())>,
    unit: Unit,
    options: ScanOptions,
}

impl std::fmt::Debug for ReadUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadUnit")
            .field("unit", &self.unit)
            .finish()
    }
}

impl ReadUnit {
    /// The unit's rows that pass the predicate, with the read's columns.
    pub fn decode(self) -> PolarsResult<DataFrame> {
        decode(&self.scan.0, self.unit, &self.options).map(|b| b.df)
    }
}
