//! One file's part of a scan: which columns to decode, which row groups to skip, how many rows
//! the next batch takes, and decoding, measuring and filtering one batch. Shared by
//! `AdaptiveStreamingReader` (one file, sequential) and `ParallelStreamReader` (many, parallel).

use std::sync::Arc;

use polars::prelude::*;

use crate::chunk_strategy::{AdaptiveChunkStrategy, ChunkStrategy};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::ArrowDataType;
use polars_io::predicates::ColumnPredicates;

use crate::bloom::BloomProbe;
use crate::compiled::CompiledExpr;
use crate::error::{AdaptiveError, AdaptiveResult};
use crate::memory_manager::{MemoryGuard, MemoryManager};
use crate::metrics::ScanMetrics;
use crate::mmap_reader::{ColumnThreads, MmapMode, MmapParquetReader, PageReuse};
use crate::predicate::{AndPredicate, PredicatePushdown};

/// What a scan reads, shared by every file of it.
#[derive(Debug, Clone)]
pub(crate) struct ScanOptions {
    pub projection: Option<Vec<PlSmallStr>>,
    pub predicate: Option<Arc<dyn PredicatePushdown>>,
    pub strategy: Arc<dyn ChunkStrategy>,
    pub memory: MemoryManager,
    pub metrics: Arc<ScanMetrics>,
    /// A column numbering the rows of the whole scan (before filtering), put first.
    pub row_index: Option<RowIndex>,
    /// A column holding each row's file path, put last.
    pub file_path_column: Option<PlSmallStr>,
    /// Whether files are mapped or read.
    pub mmap_mode: MmapMode,
    /// Run on each batch by the thread that decoded it (see `ParallelStreamReader`).
    pub map: Option<BatchMap>,
    /// Row groups to read; the others are left out (not pruned: the caller answers them).
    pub row_groups: Option<RowGroupFilter>,
    /// The predicate compiled for each schema of its input met so far: files of one scan
    /// share it (compiling costs a plan, about 0.3 ms).
    pub compiled: CompiledCache,
}

/// See `ScanOptions::compiled`.
#[derive(Clone, Default)]
pub(crate) struct CompiledCache(Arc<std::sync::Mutex<Vec<CompiledFor>>>);

/// A schema and the filter compiled for it; `None` where it does not compile.
type CompiledFor = (Schema, Option<CompiledExpr>);

impl std::fmt::Debug for CompiledCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledCache")
    }
}

impl CompiledCache {
    /// `expr` compiled as a filter of frames of `schema` (see `CompiledExpr::try_new_filter`).
    fn filter(&self, expr: Expr, schema: &Schema) -> Option<CompiledExpr> {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, compiled)) = cache.iter().find(|(s, _)| s == schema) {
            return compiled.clone();
        }
        let compiled = CompiledExpr::try_new_filter(expr, schema).ok().flatten();
        cache.push((schema.clone(), compiled.clone()));
        compiled
    }
}

/// Which row groups of which file a scan reads: `(file, row group) -> read it?`.
// The closure's type written out, as users see it in the docs, rather than behind an alias.
#[allow(clippy::type_complexity)]
#[derive(Clone)]
pub struct RowGroupFilter(pub Arc<dyn Fn(&std::path::Path, usize) -> bool + Send + Sync>);

impl std::fmt::Debug for RowGroupFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowGroupFilter")
    }
}

/// Work run on every batch right after it is decoded, by the thread that decoded it; the
/// consumer receives its output, still in file then row order.
#[derive(Clone)]
pub struct BatchMap(pub Arc<dyn Fn(DataFrame) -> PolarsResult<DataFrame> + Send + Sync>);

impl std::fmt::Debug for BatchMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchMap")
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            projection: None,
            predicate: None,
            strategy: Arc::new(AdaptiveChunkStrategy::default()),
            memory: MemoryManager::new(),
            metrics: Arc::default(),
            row_index: None,
            file_path_column: None,
            mmap_mode: MmapMode::Auto,
            map: None,
            row_groups: None,
            compiled: CompiledCache::default(),
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

    /// Columns the scan adds to the file's own, with their dtypes and whether they go first.
    fn virtual_columns(&self) -> impl Iterator<Item = (&PlSmallStr, DataType, bool)> {
        let index = self.row_index.iter().map(|r| (&r.name, IDX_DTYPE, true));
        let path = self
            .file_path_column
            .iter()
            .map(|n| (n, DataType::String, false));
        index.chain(path)
    }

    fn is_virtual(&self, name: &str) -> bool {
        self.virtual_columns().any(|(n, _, _)| n == name)
    }

    /// The scan's schema for files of schema `file`: the row index, the file's columns, the
    /// file path.
    pub fn full_schema(&self, file: &Schema) -> Schema {
        let first = self.virtual_columns().filter(|v| v.2);
        let last = self.virtual_columns().filter(|v| !v.2);
        let virtuals = |it: &mut dyn Iterator<Item = (&PlSmallStr, DataType, bool)>| {
            it.map(|(n, d, _)| (n.clone(), d)).collect::<Vec<_>>()
        };
        let mut out = Schema::with_capacity(file.len() + 2);
        out.extend(virtuals(&mut { first }));
        out.extend(file.iter().map(|(n, d)| (n.clone(), d.clone())));
        out.extend(virtuals(&mut { last }));
        out
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

/// A read unit: rows `offset..offset + rows` of row group `row_group`, and the bytes decoding it
/// is expected to hold: its rows' decoded size from the footer, plus twice the largest pages of
/// its columns (a page decompressed, and the values decoded from it), or twice their pages
/// decompressed whole where the row group's units share them (`pages`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    pub row_group: usize,
    pub offset: usize,
    pub rows: usize,
    pub cost: usize,
    /// How the unit's columns share Polars' pool: split by rayon by default (one unit at a
    /// time, `AdaptiveStreamingReader`); `ParallelStreamReader` decides per unit
    /// (`Task::run`), since a pool already busy with whole units gains nothing from splitting
    /// one.
    pub column_threads: ColumnThreads,
    /// Whether the page index narrowed the unit's row group to at most half its rows: the
    /// predicate's column is then ordered on it, the pages kept mostly hold rows the predicate
    /// keeps, and the unit's columns are decoded together rather than filter-first.
    pub narrowed: bool,
    /// Whether the unit decompresses its pages for itself or shares them with the row group's
    /// other units.
    pub pages: PageReuse,
}

#[derive(Debug)]
pub(crate) struct FileScan {
    pub reader: Arc<MmapParquetReader>,
    /// Rows of the scan's earlier files: where this file's row index starts.
    first_row: usize,
    /// Schema indices decoded: the projection plus what the predicate reads.
    decode: Vec<usize>,
    /// Columns returned, in order; `None` when that is exactly `decode`.
    output: Option<Vec<PlSmallStr>>,
    output_schema: SchemaRef,
    /// The predicate, compiled for this file; `None`: decode everything, then `apply` it.
    filter: Option<ScanFilter>,
    /// The predicate's equalities that the file's bloom filters can rule out.
    bloom: Option<BloomProbe>,
    /// The predicate's file columns whose page index may narrow the rows read.
    page_columns: Vec<usize>,
}

/// Filter-first decoding: the predicate's columns are decoded for every row of a unit, the
/// predicate is evaluated on them, and the other columns are decoded only for the rows it
/// keeps (pages without such a row are neither decompressed nor decoded).
struct ScanFilter {
    /// File columns (schema indices) the predicate reads.
    live: Vec<usize>,
    /// The other decoded columns.
    dead: Vec<usize>,
    /// The predicate, compiled for the live columns with the virtual ones.
    mask: CompiledExpr,
    /// The predicate's one-column parts, when it is their conjunction and the decoder may
    /// evaluate them while decoding whole row groups (see `MmapParquetReader::decode_predicated`).
    by_column: Option<Arc<ColumnPredicates>>,
}

impl std::fmt::Debug for ScanFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanFilter")
            .field("live", &self.live)
            .field("dead", &self.dead)
            .field("by_column", &self.by_column.is_some())
            .finish_non_exhaustive()
    }
}

impl ScanFilter {
    fn new(
        reader: &MmapParquetReader,
        opts: &ScanOptions,
        decode: &[usize],
    ) -> AdaptiveResult<Option<Self>> {
        let Some(p) = &opts.predicate else {
            return Ok(None);
        };
        let (Some(expr), Some(columns)) = (p.expr(), p.columns()) else {
            return Ok(None);
        };
        let mut live = Vec::new();
        for c in columns.iter().filter(|c| !opts.is_virtual(c)) {
            let i = reader.column_index(c)?;
            if !live.contains(&i) {
                live.push(i);
            }
        }
        let dead = decode
            .iter()
            .copied()
            .filter(|c| !live.contains(c))
            .collect();
        // The frame the predicate sees: `with_virtual_columns` over the live columns.
        let mut schema = Schema::with_capacity(live.len() + 2);
        if let Some(ri) = &opts.row_index {
            schema.insert(ri.name.clone(), IDX_DTYPE);
        }
        for &c in &live {
            let (name, dtype) = reader.schema().get_at_index(c).unwrap();
            schema.insert(name.clone(), dtype.clone());
        }
        if let Some(name) = &opts.file_path_column {
            schema.insert(name.clone(), DataType::String);
        }
        // A predicate Polars cannot compile here fails the same way in `apply`, with its
        // error reported per batch as before.
        let Some(mask) = opts.compiled.filter(expr, &schema) else {
            return Ok(None);
        };
        // Stock's guards: no row index or path among the predicate's inputs, no nested or
        // fixed-size binary column, and a part for every live column.
        let by_column = mask.by_column().cloned().filter(|parts| {
            opts.row_index.is_none()
                && opts.file_path_column.is_none()
                && live.iter().all(|&c| {
                    let (name, field) = reader.arrow_schema().get_at_index(c).unwrap();
                    !field.dtype().is_nested()
                        && !matches!(field.dtype(), ArrowDataType::FixedSizeBinary(_))
                        && parts.predicates.contains_key(name)
                })
        });
        Ok(Some(Self {
            live,
            dead,
            mask,
            by_column,
        }))
    }
}

impl FileScan {
    pub fn new(
        reader: Arc<MmapParquetReader>,
        opts: &ScanOptions,
        first_row: usize,
    ) -> AdaptiveResult<Self> {
        let full = opts.full_schema(reader.schema());
        let wanted: Vec<PlSmallStr> = match &opts.projection {
            Some(cols) => cols.clone(),
            None => full.iter_names().cloned().collect(),
        };
        let file_index = |c: &PlSmallStr| -> Option<AdaptiveResult<usize>> {
            (!opts.is_virtual(c)).then(|| reader.column_index(c))
        };
        let projected: Vec<usize> = wanted
            .iter()
            .filter_map(file_index)
            .collect::<AdaptiveResult<_>>()?;
        let mut decode = projected.clone();
        if let Some(p) = &opts.predicate {
            let extra: Vec<usize> = match p.columns() {
                Some(cols) => cols
                    .iter()
                    .filter_map(file_index)
                    .collect::<AdaptiveResult<_>>()?,
                None => (0..reader.schema().len()).collect(),
            };
            for c in extra {
                if !decode.contains(&c) {
                    decode.push(c);
                }
            }
        }
        let output =
            (decode != projected || wanted.len() != projected.len()).then(|| wanted.clone());
        let output_schema = Arc::new(
            wanted
                .iter()
                .map(|n| (n.clone(), full.get(n).unwrap().clone()))
                .collect(),
        );
        // The footer's estimate stands in for a measurement until the first batch is decoded:
        // without it, the units cut before any decode would all have the strategy's minimum
        // size, and each batch costs a fixed overhead downstream.
        if let Some(rg) = (0..reader.num_row_groups()).find(|&rg| reader.row_group_num_rows(rg) > 0)
        {
            opts.strategy.observe(
                reader.row_group_num_rows(rg),
                reader.estimate_decoded_bytes(rg, &decode),
            );
        }
        let filter = ScanFilter::new(&reader, opts, &decode)?;
        // Bloom filters and page indexes serve a predicate with an expression.
        let indexed = opts
            .predicate
            .as_ref()
            .filter(|p| p.use_file_indexes())
            .and_then(|p| Some((p, p.expr()?)));
        let bloom = indexed
            .as_ref()
            .filter(|(p, _)| p.use_bloom_filters())
            .and_then(|(_, e)| BloomProbe::new(e, &reader));
        let page_columns = indexed
            .filter(|(p, _)| p.use_page_index())
            .and_then(|(p, _)| p.columns())
            .unwrap_or_default()
            .iter()
            .filter(|c| !opts.is_virtual(c))
            .filter_map(|c| reader.schema().index_of(c))
            .collect();
        Ok(Self {
            reader,
            first_row,
            decode,
            output,
            output_schema,
            filter,
            bloom,
            page_columns,
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
        #[cfg(feature = "test-hooks")]
        let skip =
            skip || (opts.predicate.is_some() && rg % 2 == 1 && crate::test_hooks::wrong_pruning());
        if skip {
            opts.metrics.add_pruned_row_group();
            return false;
        }
        let ruled_out = self
            .bloom
            .as_ref()
            .is_some_and(|b| b.rules_out(&self.reader, rg));
        #[cfg(feature = "test-hooks")]
        let ruled_out = ruled_out || (self.bloom.is_some() && crate::test_hooks::wrong_bloom());
        if ruled_out {
            opts.metrics.add_row_group_skipped_by_bloom_filter();
        }
        !ruled_out
    }

    /// The rows of row group `rg` to read when the page indexes of the predicate's columns
    /// rule out some pages (see `MmapParquetReader::page_ranges`); `None`: read every row.
    ///
    /// Each column's pages are tested with that column's statistics alone (the other columns
    /// unknown, so a page is ruled out only when the predicate is false whatever they hold);
    /// a row is read when no column's test ruled out its page: the ranges intersect.
    pub fn page_ranges(
        &self,
        rg: usize,
        opts: &ScanOptions,
    ) -> Option<Vec<std::ops::Range<usize>>> {
        let predicate = opts.predicate.as_ref()?;
        let (mut ranges, mut skipped): (Option<Vec<std::ops::Range<usize>>>, usize) = (None, 0);
        for &column in &self.page_columns {
            let Some((column_ranges, column_skipped)) =
                self.reader
                    .page_ranges(rg, column, |page| predicate.should_skip_row_group(page))
            else {
                continue;
            };
            skipped += column_skipped;
            ranges = Some(match ranges {
                None => column_ranges,
                Some(before) => intersect(&before, &column_ranges),
            });
        }
        let ranges = ranges?;
        #[cfg(feature = "test-hooks")]
        let ranges =
            crate::test_hooks::shift_page_ranges(ranges, self.reader.row_group_num_rows(rg));
        opts.metrics.add_pages_skipped_by_page_index(skipped);
        Some(ranges)
    }

    /// Whether the caller asked for row group `rg` (see `RowGroupFilter`).
    pub fn wanted(&self, rg: usize, opts: &ScanOptions) -> bool {
        opts.row_groups
            .as_ref()
            .is_none_or(|RowGroupFilter(read)| read(self.reader.path(), rg))
    }

    /// Decoded bytes of one row of row group `rg`, from the footer.
    fn row_bytes(&self, rg: usize) -> usize {
        let rows = self.reader.row_group_num_rows(rg).max(1);
        self.reader
            .estimate_decoded_bytes(rg, &self.decode)
            .div_ceil(rows)
            .max(1)
    }

    /// The next unit of row group `rg` starting at `offset` and ending by row `until` (the
    /// end of the rows the page index left, or of the row group), sized to fit `budget` bytes.
    pub fn next_unit(
        &self,
        rg: usize,
        offset: usize,
        until: usize,
        budget: usize,
        opts: &ScanOptions,
    ) -> AdaptiveResult<Unit> {
        let remaining = until - offset;
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
        // What decoding any unit holds besides its rows' values: its columns' largest pages,
        // decompressed, and the values decoded from them (a single huge value hides in the
        // footer's per-row average, not in its page's header). The reader checks each chunk's
        // headers once (as far as row `until`), so asking per unit is cheap.
        let pages = self.reader.page_costs(rg, &self.decode, until)?;
        let proposed = opts
            .strategy
            .calculate_chunk_size(budget, remaining)
            .clamp(1, remaining)
            .min(cap);
        // Small pages leave room in the budget for rows; pages as large as the budget cannot,
        // and such a unit costs more than one batch's share (`ParallelStreamReader` then
        // decodes it with fewer, or no, other batches in flight).
        let fit = |held: usize| {
            let overhead = held.saturating_mul(2);
            let room = match budget > overhead.saturating_mul(2) {
                true => budget - overhead,
                false => budget,
            };
            (proposed.min((room / row_bytes).max(1)), overhead)
        };
        let (mut rows, mut overhead) = fit(pages.held());
        let mut reuse = PageReuse::Existing;
        // Units inside a row group keep its pages decompressed once for each other
        // (`PageReuse`) where several units read each page and the budget has room for them:
        // a unit that is not the last of its run keeps them for the next; every such unit is
        // charged for them.
        let whole = offset == 0 && rows == self.reader.row_group_num_rows(rg);
        let kept = pages
            .kept(rows)
            .filter(|kept| kept.saturating_mul(2) <= budget / 2);
        if let (Some(kept), false) = (kept, whole) {
            let decided = rows;
            (rows, overhead) = fit(kept);
            if rows < remaining {
                reuse = PageReuse::Keep(decided);
            }
        }
        Ok(Unit {
            row_group: rg,
            offset,
            rows,
            cost: rows.saturating_mul(row_bytes).saturating_add(overhead),
            column_threads: ColumnThreads::Split,
            narrowed: false,
            pages: reuse,
        })
    }

    /// Decodes `unit`, measures it, filters it and projects it.
    pub fn read(&self, unit: Unit, opts: &ScanOptions) -> AdaptiveResult<Batch> {
        let Unit {
            row_group: rg,
            rows,
            cost,
            ..
        } = unit;
        let reservation = opts.memory.track_usage(cost);
        let (df, bytes) = match &self.filter {
            Some(filter) => self.decode_filtered(unit, filter, opts)?,
            None => self.decode_then_filter(unit, opts)?,
        };
        drop(reservation);
        let guard = opts.memory.track_usage(bytes);
        opts.strategy.observe(rows, bytes);
        opts.metrics
            .record_memory_peak(opts.memory.peak_usage_bytes());
        if unit.offset + rows == self.reader.row_group_num_rows(rg) {
            self.reader.release(rg, &self.decode);
        }
        opts.metrics.add_batch(rows, bytes, df.height());
        Ok(Batch { df, guard })
    }

    /// Every decoded column for every row of `unit`, then the predicate's `apply`. Returns the
    /// output and the bytes decoded.
    fn decode_then_filter(
        &self,
        unit: Unit,
        opts: &ScanOptions,
    ) -> AdaptiveResult<(DataFrame, usize)> {
        let rows = unit.offset..unit.offset + unit.rows;
        let df = self.reader.decode(
            unit.row_group,
            rows,
            &self.decode,
            unit.column_threads,
            unit.pages,
        )?;
        let bytes = decoded_bytes(&df);
        let df = self
            .with_virtual_columns(df, unit, opts)
            .map_err(internal)?;
        let df = match &opts.predicate {
            Some(p) => p.apply(df).map_err(|e| self.predicate_error(unit, e))?,
            None => df,
        };
        let df = match &self.output {
            Some(cols) => df.select(cols.iter().cloned()).map_err(internal)?,
            None => df,
        };
        Ok((df, bytes))
    }

    /// The predicate's columns for every row of `unit`, the others for the rows it keeps
    /// (all columns for every row when the page index narrowed the unit: filter-first would
    /// keep nearly every row after making the other columns wait for the predicate's).
    /// Returns the output and the bytes decoded.
    fn decode_filtered(
        &self,
        unit: Unit,
        filter: &ScanFilter,
        opts: &ScanOptions,
    ) -> AdaptiveResult<(DataFrame, usize)> {
        let rows = unit.offset..unit.offset + unit.rows;
        let whole = unit.rows == self.reader.row_group_num_rows(unit.row_group);
        let predicated = match (&filter.by_column, whole) {
            (Some(parts), true) => {
                self.reader
                    .decode_predicated(unit.row_group, &filter.live, parts)?
            }
            _ => None,
        };
        // `live` holds every row of the unit, or (`filtered`) only the kept ones.
        let (live, mask, mut bytes, filtered) = match predicated {
            Some((live, mask)) => {
                opts.metrics.add_row_group_filtered_by_decoder();
                let live = DataFrame::new(mask.set_bits(), live).map_err(internal)?;
                let bytes = decoded_bytes(&live);
                (live, mask, bytes, true)
            }
            None => {
                let first = match unit.narrowed {
                    true => &self.decode,
                    false => &filter.live,
                };
                let live = self.reader.decode(
                    unit.row_group,
                    rows.clone(),
                    first,
                    unit.column_threads,
                    unit.pages,
                )?;
                let bytes = decoded_bytes(&live);
                let live = self
                    .with_virtual_columns(live, unit, opts)
                    .map_err(internal)?;
                let mask = filter
                    .mask
                    .mask(&live)
                    .map_err(|e| self.predicate_error(unit, e))?;
                let filtered = mask.set_bits() == unit.rows;
                (live, mask, bytes, filtered)
            }
        };
        let kept = mask.set_bits();
        // Predicate columns outside the output are dropped before filtering.
        let live = live
            .into_columns()
            .into_iter()
            .filter(|c| self.output_schema.contains(c.name()));
        let mut columns: Vec<Column> = match filtered {
            true => live.collect(),
            false => keep_rows(live, &mask).map_err(internal)?,
        };
        // A narrowed unit is never a whole row group, so its columns were all decoded above.
        if !filter.dead.is_empty() && !unit.narrowed {
            let dead = match kept == unit.rows {
                true => self.reader.decode(
                    unit.row_group,
                    rows,
                    &filter.dead,
                    unit.column_threads,
                    unit.pages,
                )?,
                false => self.reader.decode_masked(
                    unit.row_group,
                    rows,
                    &mask,
                    &filter.dead,
                    unit.column_threads,
                    unit.pages,
                )?,
            };
            bytes += decoded_bytes(&dead);
            columns.extend(dead.into_columns());
        }
        let df = DataFrame::new(kept, columns).map_err(internal)?;
        let df = df
            .select(self.output_schema.iter_names().cloned())
            .map_err(internal)?;
        Ok((df, bytes))
    }

    fn predicate_error(&self, unit: Unit, e: PolarsError) -> AdaptiveError {
        AdaptiveError::Decode {
            path: self.reader.path().to_path_buf(),
            row_group: unit.row_group,
            column: "<predicate>".into(),
            reason: e.to_string(),
        }
    }

    /// Adds the row index (positions before filtering, counted over the whole scan) and the
    /// file path, so that the predicate may read them.
    fn with_virtual_columns(
        &self,
        mut df: DataFrame,
        unit: Unit,
        opts: &ScanOptions,
    ) -> PolarsResult<DataFrame> {
        if let Some(ri) = &opts.row_index {
            let start = ri.offset as usize
                + self.first_row
                + self.reader.row_group_first_row(unit.row_group)
                + unit.offset;
            let end = start + unit.rows;
            polars_ensure!(
                IdxSize::try_from(end).is_ok(),
                ComputeError: "row index {end} of '{}' does not fit {IDX_DTYPE}",
                self.reader.path().display()
            );
            let idx = IdxCa::from_vec(
                ri.name.clone(),
                (start as IdxSize..end as IdxSize).collect(),
            );
            df.insert_column(0, idx.into_column())?;
        }
        if let Some(name) = &opts.file_path_column {
            // A lossy name would be a value no file has: refuse instead.
            let path = self.reader.path().to_str().ok_or_else(|| {
                polars_err!(ComputeError: "'{}': the file path column needs a UTF-8 file name",
                    self.reader.path().display())
            })?;
            let value = Scalar::from(PlSmallStr::from_str(path));
            df.with_column(Column::new_scalar(name.clone(), value, unit.rows))?;
        }
        Ok(df)
    }
}

/// The rows of `columns` whose bit in `mask` is set. Rows kept in one run of at least half the
/// rows (a range predicate on a sorted column) are a slice of every column. Polars' filter
/// trims a mask's unset ends too, but going through it cost P2 0.9 ms more (paired runs,
/// medians 11.6 against 10.7 ms, the slice faster in 17 of 21); shorter runs are left to it,
/// so that a slice of ours never keeps much more of a unit alive than it shows.
fn keep_rows(columns: impl Iterator<Item = Column>, mask: &Bitmap) -> PolarsResult<Vec<Column>> {
    let (start, kept) = (mask.leading_zeros(), mask.set_bits());
    if kept * 2 >= mask.len() && start + kept + mask.trailing_zeros() == mask.len() {
        return Ok(columns.map(|c| c.slice(start as i64, kept)).collect());
    }
    let mask = BooleanChunked::from_bitmap(PlSmallStr::EMPTY, mask.clone());
    columns.map(|c| c.filter(&mask)).collect()
}

/// The bytes a freshly decoded frame holds. `DataFrame::estimated_size` walks every view of a
/// string column to sum the lengths (5-7 % of P1's samples, on every batch) and leaves out the
/// views themselves; a string column's size here is its views (16 bytes a row) and its data
/// buffers, read without a walk. A buffer shared with other batches (a dictionary's) is counted
/// in each, which errs on the safe side of the budget.
pub(crate) fn decoded_bytes(df: &DataFrame) -> usize {
    use polars_arrow::array::{Array, BinaryViewArrayGeneric, ViewType};
    use polars_arrow::compute::aggregate::estimated_bytes_size;

    fn view_bytes<T: ViewType + ?Sized>(a: &BinaryViewArrayGeneric<T>) -> usize {
        let validity = a.validity().map_or(0, |v| v.len().div_ceil(8));
        a.views().len() * 16 + a.total_buffer_len() + validity
    }
    fn array_bytes(a: &dyn Array) -> usize {
        let any = a.as_any();
        if let Some(s) = any.downcast_ref::<BinaryViewArrayGeneric<str>>() {
            view_bytes(s)
        } else if let Some(b) = any.downcast_ref::<BinaryViewArrayGeneric<[u8]>>() {
            view_bytes(b)
        } else {
            estimated_bytes_size(a)
        }
    }
    df.columns()
        .iter()
        .map(|c| match c.as_series() {
            Some(s) => s.chunks().iter().map(|a| array_bytes(a.as_ref())).sum(),
            // A scalar column (the file path) is one value, not yet repeated.
            None => 0,
        })
        .sum()
}

fn internal(e: PolarsError) -> AdaptiveError {
    AdaptiveError::Internal(e.to_string())
}

/// The rows in both `a` and `b`, sorted disjoint row ranges each.
fn intersect(
    a: &[std::ops::Range<usize>],
    b: &[std::ops::Range<usize>],
) -> Vec<std::ops::Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
        if start < end {
            out.push(start..end);
        }
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{intersect, keep_rows};
    use polars::prelude::*;
    use polars_arrow::bitmap::Bitmap;

    type Ranges = Vec<std::ops::Range<usize>>;

    // Slices of ranges, some of one range: what the lint takes for a mistaken `0..n`.
    #[allow(clippy::single_range_in_vec_init)]
    #[test]
    fn row_ranges_intersect_across_columns() {
        assert_eq!(intersect(&[0..10, 20..30], &[5..25]), vec![5..10, 20..25]);
        assert_eq!(intersect(&[0..10], &[10..20]), Ranges::new());
        assert_eq!(intersect(&[0..10, 12..14], &[0..100]), vec![0..10, 12..14]);
        assert_eq!(intersect(&[], &[0..5]), Ranges::new());
    }

    #[test]
    fn kept_rows_equal_a_filter_whether_they_form_one_run_or_not() {
        let values: Vec<Option<i64>> = (0..10).map(|i| (i % 4 != 1).then_some(i)).collect();
        let column = Column::new("v".into(), values);
        for bits in [
            vec![
                false, false, true, true, true, false, false, false, false, false,
            ],
            vec![
                false, true, true, true, true, true, true, false, false, false,
            ],
            vec![true; 10],
            vec![false; 10],
            vec![
                false, true, false, true, false, false, false, false, false, true,
            ],
            vec![
                true, false, false, false, false, false, false, false, false, true,
            ],
        ] {
            let mask = Bitmap::from_iter(bits.iter().copied());
            let kept = keep_rows(std::iter::once(column.clone()), &mask).unwrap();
            let filtered = column
                .filter(&BooleanChunked::from_slice("".into(), &bits))
                .unwrap();
            assert_eq!(kept[0].len(), mask.set_bits(), "{bits:?}");
            assert!(kept[0].equals_missing(&filtered), "{bits:?}");
        }
    }

    /// One run of at least half the rows is a slice of the decoded buffers.
    #[test]
    fn a_run_of_at_least_half_the_rows_shares_the_decoded_buffers() {
        let column = Column::new("v".into(), (0..1000i64).collect::<Vec<_>>());
        let start_of = |c: &Column| {
            let ca = c.as_materialized_series().i64().unwrap().clone();
            let start = ca.downcast_iter().next().unwrap().values().as_ptr();
            start
        };
        let base = start_of(&column);
        for run in [400..900, 0..500, 1..1000] {
            let mask = Bitmap::from_iter((0..1000).map(|i| run.contains(&i)));
            let kept = keep_rows(std::iter::once(column.clone()), &mask).unwrap();
            assert_eq!(kept[0].len(), run.len());
            assert_eq!(start_of(&kept[0]), base.wrapping_add(run.start), "{run:?}");
        }
    }
}
