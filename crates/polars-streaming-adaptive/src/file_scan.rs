//! One file's part of a scan: which columns to decode, which row groups to skip, how many rows
//! the next batch takes, and decoding, measuring and filtering one batch. Shared by
//! `AdaptiveStreamingReader` (one file, sequential) and `ParallelStreamReader` (many, parallel).

use std::sync::Arc;

use polars::prelude::*;

use crate::chunk_strategy::{AdaptiveChunkStrategy, ChunkStrategy};
use crate::error::{AdaptiveError, AdaptiveResult};
use crate::memory_manager::{MemoryGuard, MemoryManager};
use crate::metrics::ScanMetrics;
use crate::mmap_reader::MmapParquetReader;
use crate::predicate::{AndPredicate, PredicatePushdown};

/// What a scan reads, shared by every file of it.
#[derive(Debug, Clone)]
pub(crate) struct ScanOptions {
    pub projection: Option<Vec<PlSmallStr>>,
    pub predicate: Option<Arc<dyn PredicatePushdown>>,
    pub strategy: Arc<dyn ChunkStrategy>,
    pub memory: MemoryManager,
    pub metrics: Arc<ScanMetrics>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            projection: None,
            predicate: None,
            strategy: Arc::new(AdaptiveChunkStrategy::default()),
            memory: MemoryManager::new(),
            metrics: Arc::default(),
        }
    }
}

impl ScanOptions {
    /// Adds `predicate`, and-ed with any predicate already set.
    pub fn add_predicate(&mut self, predicate: Arc<dyn PredicatePushdown>) {
        self.predicate = Some(match self.predicate.take() {
            None => predicate,
            Some(prev) => Arc::new(AndPredicate::new(vec![prev, predicate])),
        });
    }
}

/// A batch decoded from one row range of one row group.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Rows that passed the predicate, with the projected columns.
    pub df: DataFrame,
    /// The decoded bytes, counted until the batch is released.
    pub guard: MemoryGuard,
}

/// A read unit: rows `offset..offset + rows` of row group `row_group`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    pub row_group: usize,
    pub offset: usize,
    pub rows: usize,
}

#[derive(Debug)]
pub(crate) struct FileScan {
    pub reader: Arc<MmapParquetReader>,
    /// Schema indices decoded: the projection plus what the predicate reads.
    decode: Vec<usize>,
    /// Columns returned, in the projection's order; `None` when that is exactly `decode`.
    output: Option<Vec<PlSmallStr>>,
    output_schema: SchemaRef,
}

impl FileScan {
    pub fn new(reader: Arc<MmapParquetReader>, opts: &ScanOptions) -> AdaptiveResult<Self> {
        let schema = reader.schema().clone();
        let projected: Vec<usize> = match &opts.projection {
            Some(cols) => cols
                .iter()
                .map(|c| reader.column_index(c))
                .collect::<AdaptiveResult<_>>()?,
            None => (0..schema.len()).collect(),
        };
        let mut decode = projected.clone();
        if let Some(p) = &opts.predicate {
            let extra: Vec<usize> = match p.columns() {
                Some(cols) => cols
                    .iter()
                    .map(|c| reader.column_index(c))
                    .collect::<AdaptiveResult<_>>()?,
                None => (0..schema.len()).collect(),
            };
            for c in extra {
                if !decode.contains(&c) {
                    decode.push(c);
                }
            }
        }
        let output = (decode != projected).then(|| {
            projected
                .iter()
                .map(|&i| schema.get_at_index(i).unwrap().0.clone())
                .collect()
        });
        let output_schema = Arc::new(
            projected
                .iter()
                .map(|&i| {
                    let (n, d) = schema.get_at_index(i).unwrap();
                    (n.clone(), d.clone())
                })
                .collect(),
        );
        Ok(Self {
            reader,
            decode,
            output,
            output_schema,
        })
    }

    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// An empty frame of the output schema.
    pub fn empty(&self) -> DataFrame {
        DataFrame::empty_with_arc_schema(self.output_schema.clone())
    }

    /// Whether row group `rg` may hold rows the predicate keeps; counts pruned ones.
    pub fn keep_row_group(&self, rg: usize, opts: &ScanOptions) -> bool {
        let skip = opts
            .predicate
            .as_ref()
            .is_some_and(|p| p.should_skip_row_group(self.reader.row_group_statistics(rg)));
        if skip {
            opts.metrics.add_pruned_row_group();
        }
        !skip
    }

    /// Decoded bytes of one row of row group `rg`, from the footer.
    fn row_bytes(&self, rg: usize) -> usize {
        let rows = self.reader.row_group_num_rows(rg).max(1);
        self.reader
            .estimate_decoded_bytes(rg, &self.decode)
            .div_ceil(rows)
            .max(1)
    }

    /// The next unit of row group `rg` starting at `offset`, sized to fit `budget` bytes.
    pub fn next_unit(
        &self,
        rg: usize,
        offset: usize,
        budget: usize,
        opts: &ScanOptions,
    ) -> AdaptiveResult<Unit> {
        let remaining = self.reader.row_group_num_rows(rg) - offset;
        let row_bytes = self.row_bytes(rg);
        // The strategy proposes; the footer's estimate caps the proposal at the budget.
        let cap = budget / row_bytes;
        if cap == 0 {
            return Err(AdaptiveError::BudgetTooSmall {
                path: self.reader.path().to_path_buf(),
                row_group: rg,
                budget,
                row_bytes,
            });
        }
        let rows = opts
            .strategy
            .calculate_chunk_size(budget, remaining)
            .clamp(1, remaining)
            .min(cap);
        Ok(Unit {
            row_group: rg,
            offset,
            rows,
        })
    }

    /// Decodes `unit`, measures it, filters it and projects it.
    pub fn read(&self, unit: Unit, opts: &ScanOptions) -> AdaptiveResult<Batch> {
        let Unit {
            row_group: rg,
            offset,
            rows,
        } = unit;
        let reservation = opts.memory.track_usage(rows * self.row_bytes(rg));
        let df = self
            .reader
            .decode(rg, offset..offset + rows, &self.decode)?;
        let bytes = df.estimated_size();
        drop(reservation);
        let guard = opts.memory.track_usage(bytes);
        opts.strategy.observe(rows, bytes);
        if offset + rows == self.reader.row_group_num_rows(rg) {
            self.reader.release(rg, &self.decode);
        }
        let df = match &opts.predicate {
            Some(p) => p.apply(df).map_err(|e| AdaptiveError::Decode {
                path: self.reader.path().to_path_buf(),
                row_group: rg,
                column: "<predicate>".into(),
                reason: e.to_string(),
            })?,
            None => df,
        };
        let df = match &self.output {
            Some(cols) => df
                .select(cols.iter().cloned())
                .map_err(|e| AdaptiveError::Internal(e.to_string()))?,
            None => df,
        };
        opts.metrics.add_batch(rows, bytes, df.height());
        Ok(Batch { df, guard })
    }
}
