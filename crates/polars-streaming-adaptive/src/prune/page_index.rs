//! Page-index pruning: the pages of a row group whose column-index statistics rule out every
//! row the predicate keeps are not read; the rows of the other pages are, as merged ranges.

use std::ops::Range;

use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::index_reader::{decode_column_index, decode_offset_index};
use polars::prelude::*;

use crate::file::reader::MmapParquetReader;
use crate::file::statistics::{flat_chunk, int_value, ColumnStats, RowGroupStats};

/// The row ranges of row group `rg` whose pages of column `c` may hold a row the predicate
/// keeps (`skip` says, from one page's statistics, that none can), merged, and the number of
/// pages skipped; from the chunk's column and offset indexes. `None` when the chunk has no
/// usable page index: every row is read.
pub(crate) fn page_ranges(
    reader: &MmapParquetReader,
    rg: usize,
    c: usize,
    skip: impl Fn(&RowGroupStats) -> bool,
) -> Option<(Vec<Range<usize>>, usize)> {
    let (name, dtype) = reader.schema().get_at_index(c)?;
    let pq_rg = reader.parquet_metadata()?.row_groups().get(rg)?;
    let chunk = flat_chunk(pq_rg, name)?;
    let column_index = reader.optional_bytes(chunk.column_index_range()?)?;
    let offset_index = reader.optional_bytes(chunk.offset_index_range()?)?;
    let rows = reader.row_group_num_rows(rg);
    let pages = page_stats(chunk, name, dtype, rg, rows, &column_index, &offset_index)?;
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut skipped = 0;
    for (range, stats) in pages {
        if skip(&stats) {
            skipped += 1;
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => ranges.push(range),
        }
    }
    Some((ranges, skipped))
}

/// The pages of one column chunk, each with its rows (relative to the row group) and its
/// statistics as a one-column [`RowGroupStats`], from the chunk's column index and offset
/// index (their bytes `column_index`, `offset_index`). Only signed integers, dates and
/// datetimes (bounds typed as for row groups); `None` for other types, or an index that does
/// not decode or does not agree with the row group (the caller then reads every page).
fn page_stats(
    chunk: &ColumnChunkMetaData,
    name: &PlSmallStr,
    dtype: &DataType,
    rg: usize,
    rg_rows: usize,
    column_index: &[u8],
    offset_index: &[u8],
) -> Option<Vec<(Range<usize>, RowGroupStats)>> {
    if !(dtype.is_signed_integer() || matches!(dtype, DataType::Date | DataType::Datetime(_, _))) {
        return None;
    }
    let locations = decode_offset_index(offset_index).ok()?;
    let locations = locations.page_locations();
    let index = decode_column_index(column_index, chunk.column_type()).ok()?;
    let bound = |i: usize, max: bool| -> Option<i64> {
        match &index {
            ColumnIndexMetaData::INT32(ix) => {
                let v = if max {
                    ix.max_value(i)
                } else {
                    ix.min_value(i)
                };
                v.map(|v| *v as i64)
            }
            ColumnIndexMetaData::INT64(ix) => if max {
                ix.max_value(i)
            } else {
                ix.min_value(i)
            }
            .copied(),
            _ => None,
        }
    };
    if !matches!(
        index,
        ColumnIndexMetaData::INT32(_) | ColumnIndexMetaData::INT64(_)
    ) || index.num_pages() as usize != locations.len()
        || locations.first()?.first_row_index != 0
    {
        return None;
    }
    // The pages' null counts must add up to the chunk's, which cannot exceed its rows:
    // Polars 0.55.2's writer, with small pages, writes counts twice too large in both
    // (difftest). Such an index is not used.
    let chunk_nulls = chunk.statistics().and_then(|s| s.null_count_opt());
    if chunk_nulls.is_some_and(|n| n > rg_rows as u64) {
        return None;
    }
    let page_nulls: Option<u64> = (0..locations.len())
        .map(|i| index.null_count(i).and_then(|n| u64::try_from(n).ok()))
        .sum();
    if let (Some(chunk), Some(pages)) = (chunk_nulls, page_nulls) {
        if chunk != pages {
            return None;
        }
    }
    let mut pages = Vec::with_capacity(locations.len());
    for (i, page) in locations.iter().enumerate() {
        let start = usize::try_from(page.first_row_index).ok()?;
        let end = match locations.get(i + 1) {
            Some(next) => usize::try_from(next.first_row_index).ok()?,
            None => rg_rows,
        };
        if start >= end || end > rg_rows {
            return None;
        }
        let rows = end - start;
        let null_count = index
            .null_count(i)
            .and_then(|n| u64::try_from(n).ok())
            // A count above the page's rows cannot be true: unknown.
            .filter(|&n| n <= rows as u64);
        let null_page = index.is_null_page(i);
        // A page flagged all-null is believed only with a null count saying so: parquet-mr
        // flags the pages of a chunk written without statistics as null pages
        // (parquet-testing's `datapage_v1-*-checksum.parquet`, whose pages hold no null).
        // Such a page is unknown: no bounds, no null count.
        let unknown = null_page && null_count != Some(rows as u64);
        let value = |max| {
            (!null_page)
                .then(|| bound(i, max))
                .flatten()
                .and_then(|v| int_value(v, dtype, chunk))
                .map(|v| Scalar::new(dtype.clone(), v))
        };
        let (min, max) = (value(false), value(true));
        // A page with a value cannot be all null, whatever its count says.
        let contradicted = (min.is_some() || max.is_some()) && null_count == Some(rows as u64);
        let stats = ColumnStats {
            dtype: dtype.clone(),
            min,
            max,
            null_count: null_count.filter(|_| !unknown && !contradicted),
            nan_count: None,
            distinct_count: None,
            min_is_exact: false,
            max_is_exact: false,
            null_count_is_exact: false,
            nulls_per_data_page: None,
        };
        let mut columns = PlIndexMap::default();
        columns.insert(name.clone(), stats);
        pages.push((
            start..end,
            RowGroupStats {
                index: rg,
                num_rows: rows,
                columns,
            },
        ));
    }
    Some(pages)
}
