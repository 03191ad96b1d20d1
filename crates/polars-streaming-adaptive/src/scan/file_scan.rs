//! One file's part of a scan: which columns to decode, which row groups and pages the
//! predicate rules out (statistics, bloom filters, page index), and how the rows left are cut
//! into units that fit the budget. Reading a unit is `row_filter`'s. Shared by
//! `AdaptiveStreamingReader` (one file, sequential) and `ParallelStreamReader` (many, parallel).

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::datatypes::ArrowDataType;
use polars_io::predicates::ColumnPredicates;

use crate::decode::compiled::CompiledExpr;
use crate::error::{AdaptiveError, AdaptiveResult};
use crate::file::read::{ColumnThreads, PageReuse};
use crate::file::reader::MmapParquetReader;
use crate::memory::manager::MemoryGuard;
use crate::prune::bloom::BloomProbe;
use crate::prune::page_index::page_ranges;
use crate::scan::options::{RowGroupFilter, ScanOptions};

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
    pub(super) first_row: usize,
    /// Schema indices decoded: the projection plus what the predicate reads.
    pub(super) decode: Vec<usize>,
    /// Columns returned, in order; `None` when that is exactly `decode`.
    pub(super) output: Option<Vec<PlSmallStr>>,
    pub(super) output_schema: SchemaRef,
    /// The predicate, compiled for this file; `None`: decode everything, then `apply` it.
    pub(super) filter: Option<ScanFilter>,
    /// The predicate's equalities that the file's bloom filters can rule out.
    pub(super) bloom: Option<BloomProbe>,
    /// The predicate's file columns whose page index may narrow the rows read.
    pub(super) page_columns: Vec<usize>,
}

/// Filter-first decoding: the predicate's columns are decoded for every row of a unit, the
/// predicate is evaluated on them, and the other columns are decoded only for the rows it
/// keeps (pages without such a row are neither decompressed nor decoded).
pub(super) struct ScanFilter {
    /// File columns (schema indices) the predicate reads.
    pub(super) live: Vec<usize>,
    /// The other decoded columns.
    pub(super) dead: Vec<usize>,
    /// The predicate, compiled for the live columns with the virtual ones.
    pub(super) mask: CompiledExpr,
    /// The predicate's one-column parts, when it is their conjunction and the decoder may
    /// evaluate them while decoding whole row groups (see `MmapParquetReader::decode_predicated`).
    pub(super) by_column: Option<Arc<ColumnPredicates>>,
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
    /// rule out some pages (see `prune::page_index`); `None`: read every row.
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
                page_ranges(&self.reader, rg, column, |page| {
                    predicate.should_skip_row_group(page)
                })
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
    use super::intersect;

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
}
