//! Decoding a row group's rows with Polars' decoder: whole, a range of rows (a unit inside the
//! row group), or the rows a mask selects (filter-first's other columns); each column on the
//! thread or threads `ColumnThreads` says, from the file's bytes or from pages kept
//! decompressed for the row group's units (`PageReuse`).

use std::ops::Range;

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use polars_buffer::Buffer;
use polars_parquet::read::{ColumnChunkMetadata, Filter};

use crate::decode::categorical::CategoricalColumns;
use crate::decode::deserialize::{deserialize, mask_over};
use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::file::reader::MmapParquetReader;

/// One leaf's column chunk and its bytes (see `MmapParquetReader::chunks`).
type ChunkBytes<'a> = (&'a ColumnChunkMetadata, Buffer<u8>);

impl MmapParquetReader {
    /// Decodes row group `i` with every column.
    pub fn read_row_group(&self, i: usize) -> PolarsResult<DataFrame> {
        let all: Vec<usize> = (0..self.footer.schema.len()).collect();
        Ok(self.decode(
            i,
            0..self.checked_rg(i)?,
            &all,
            ColumnThreads::Split,
            PageReuse::Existing,
        )?)
    }

    /// Decodes the named columns of row group `i`, in the order given.
    pub fn read_row_group_projected(&self, i: usize, columns: &[&str]) -> PolarsResult<DataFrame> {
        let indices = columns
            .iter()
            .map(|c| self.column_index(c))
            .collect::<AdaptiveResult<Vec<_>>>()?;
        Ok(self.decode(
            i,
            0..self.checked_rg(i)?,
            &indices,
            ColumnThreads::Split,
            PageReuse::Existing,
        )?)
    }

    /// Decodes rows `rows` (relative to the row group) of `columns` (schema indices) of row
    /// group `rg`, with Polars' decoder. Pages wholly outside `rows` are not decompressed.
    pub(crate) fn decode(
        &self,
        rg: usize,
        rows: Range<usize>,
        columns: &[usize],
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        self.decode_selected(rg, rows, None, columns, threads, pages)
    }

    /// Decodes the rows of `rows` (relative to the row group) whose bit in `mask` is set (one
    /// bit per row of `rows`), of `columns`. Flat columns are decoded through Polars' masked
    /// decoder, which skips pages without a selected row before decompressing them; nested
    /// ones are decoded by range and then filtered, as stock Polars does.
    pub(crate) fn decode_masked(
        &self,
        rg: usize,
        rows: Range<usize>,
        mask: &Bitmap,
        columns: &[usize],
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        debug_assert_eq!(mask.len(), rows.len());
        self.decode_selected(rg, rows, Some(mask), columns, threads, pages)
    }

    fn decode_selected(
        &self,
        rg: usize,
        rows: Range<usize>,
        mask: Option<&Bitmap>,
        columns: &[usize],
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        self.ensure_unchanged()?;
        let md = &self.footer.metadata.row_groups[rg];
        let height = mask.map_or(rows.len(), |m| m.set_bits());
        // The masked decoder takes one bit per row of the chunk.
        let group_mask = mask.map(|m| mask_over(m, &rows, &(0..md.num_rows())));
        if height == 0 {
            let schema: Schema = columns
                .iter()
                .map(|&c| self.footer.schema.get_at_index(c).unwrap())
                .map(|(name, dtype)| (name.clone(), dtype.clone()))
                .collect();
            return Ok(DataFrame::empty_with_schema(&schema));
        }
        let decode_column = |&c: &usize| -> AdaptiveResult<Column> {
            let (name, field) = self.footer.arrow_schema.get_at_index(c).unwrap();
            let decode_err = |reason: String| self.decode_error(rg, name, reason);
            // A unit inside a row group reads only part of the chunk.
            let whole =
                rows.len() == md.num_rows() && (group_mask.is_none() || field.dtype.is_nested());
            let shared = match whole {
                false => self.decompressed_chunk(rg, c, &rows, pages)?,
                true => None,
            };
            let Some(mut chunks) = self.chunks(rg, c, whole, rows.end)? else {
                return Ok(Column::full_null(
                    name.clone(),
                    height,
                    &DataType::from_arrow_field(field),
                ));
            };
            if let (Some(shared), [(_, bytes)]) = (&shared, &mut chunks[..]) {
                *bytes = shared.bytes.clone();
            }
            let checked = self.checked_pages(rg, c, rows.end)?;
            if !whole {
                if let (Some(start), [(_, bytes)]) = (checked.data_start(&rows), &mut chunks[..]) {
                    let start = shared.as_ref().map_or(start, |d| d.data_start);
                    *bytes = bytes.clone().sliced(start..bytes.len());
                }
            }
            // Dictionary codes where every page holding `rows` is dictionary-encoded (the
            // encodings Polars' categorical decoder takes); a unit reaching plain pages (a
            // writer's fallback from a dictionary grown too large) stays strings, which cost
            // less to group than to map to codes.
            let codes_of = self
                .categorical_of(c)
                .filter(|_| checked.dictionary_encoded(&rows));
            let series = catch_panic(
                || {
                    // A whole row group is decoded without a filter, as stock Polars does: the
                    // ranged path of nested columns differs (and fails on some valid files).
                    let masked = group_mask.as_ref().filter(|_| !field.dtype.is_nested());
                    // Kept pages are read from their first row to the end of the unit's last
                    // page.
                    let filter = match (masked, &shared) {
                        (Some(_), Some(d)) => Some(Filter::Mask(mask_over(
                            mask.unwrap(),
                            &rows,
                            &d.window(rows.end),
                        ))),
                        (Some(m), None) => Some(Filter::Mask(m.clone())),
                        (None, Some(d)) => {
                            let first = d.rows.start;
                            Some(Filter::new_ranged(rows.start - first, rows.end - first))
                        }
                        (None, None) => (rows.len() != md.num_rows())
                            .then(|| Filter::new_ranged(rows.start, rows.end)),
                    };
                    let window = shared.as_ref().map(|d| d.window(rows.end).len());
                    let series = match codes_of {
                        Some(cats) => {
                            let field = CategoricalColumns::codes_field(field);
                            deserialize(chunks, window, field, filter)
                                .and_then(|(arrays, _)| cats.column_of_codes(name.clone(), arrays))
                        }
                        None => deserialize(chunks, window, field.clone(), filter)
                            .and_then(|(arrays, _)| Series::try_from((field, arrays))),
                    }
                    .map_err(|e| decode_err(e.to_string()))?;
                    match (mask, masked) {
                        (Some(m), None) => series
                            .filter(&BooleanChunked::from_bitmap(PlSmallStr::EMPTY, m.clone()))
                            .map_err(|e| decode_err(e.to_string())),
                        _ => Ok(series),
                    }
                },
                |msg| decode_err(format!("decoder panicked: {msg}")),
            )?;
            if series.len() != height {
                return Err(decode_err(format!(
                    "decoded {} values where the row group holds {height} rows",
                    series.len()
                )));
            }
            Ok(series.into_column())
        };
        // One column has nothing to share.
        let threads = match columns.len() {
            0 | 1 => ColumnThreads::One,
            _ => threads,
        };
        let columns = match threads {
            ColumnThreads::One => columns.iter().map(decode_column).collect(),
            ColumnThreads::Split => {
                use rayon::prelude::*;
                polars_core::runtime::RAYON
                    .install(|| columns.par_iter().map(decode_column).collect())
            }
            ColumnThreads::LargestFirst => self.decode_heaviest_first(rg, columns, decode_column),
        }?;
        DataFrame::new(height, columns).map_err(|e| AdaptiveError::Internal(e.to_string()))
    }

    /// `decode` of every column of `columns` on Polars' pool, in `columns`' order. Each idle
    /// thread takes the next column, the largest chunks (uncompressed, dictionary included)
    /// first, so that the heaviest column is not left for last: rayon's halving split of six
    /// columns put P2's two dictionary-heavy ones (3 ms each) on one thread behind others. For
    /// a unit alone on the pool only (`ColumnThreads::LargestFirst`): among other units,
    /// rayon's split measured faster (the decode-only read, 0.70 s against 0.76 s).
    fn decode_heaviest_first(
        &self,
        rg: usize,
        columns: &[usize],
        decode: impl Fn(&usize) -> AdaptiveResult<Column> + Sync,
    ) -> AdaptiveResult<Vec<Column>> {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.uncompressed_bytes(rg, columns[i])));
        let next = AtomicUsize::new(0);
        let done: Vec<std::sync::OnceLock<AdaptiveResult<Column>>> =
            columns.iter().map(|_| Default::default()).collect();
        let threads = polars_core::runtime::RAYON.current_num_threads();
        polars_core::runtime::RAYON.install(|| {
            (0..threads.min(columns.len()))
                .into_par_iter()
                .with_max_len(1)
                .for_each(|_| {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let _ = done[i].set(decode(&columns[i]));
                    }
                })
        });
        done.into_iter()
            .map(|d| d.into_inner().expect("every column was taken by a worker"))
            .collect()
    }

    /// The bytes of column `c`'s chunks in row group `rg` (one per leaf), after checking their
    /// page headers; `None` when the row group lacks the column. `whole`: the caller decodes
    /// the whole chunk, so its pages are faulted in at once.
    pub(super) fn chunks(
        &self,
        rg: usize,
        c: usize,
        whole: bool,
        until: usize,
    ) -> AdaptiveResult<Option<Vec<ChunkBytes<'_>>>> {
        let pages = self.checked_pages(rg, c, until)?;
        let name = self.footer.schema.get_at_index(c).unwrap().0;
        let Some(chunks) = self.footer.metadata.row_groups[rg].columns_under_root_iter(name) else {
            return Ok(None);
        };
        chunks
            .map(|m| {
                let r = m.byte_range();
                // A slice of the mapping: Polars' decoders copy every value out of the pages
                // (pinned for every dtype family by
                // `a_frame_outlives_the_truncation_of_its_mapped_file`).
                let mut range = r.start as usize..r.end as usize;
                if let Some(len) = pages.checked_len {
                    range.end = range.start + len;
                }
                if whole {
                    self.source.populate(range.clone());
                }
                let bytes = self.source.bytes(&self.file, range, false).map_err(|e| {
                    self.decode_error(rg, name, format!("reading the column chunk: {e}"))
                })?;
                Ok((m, bytes))
            })
            .collect::<AdaptiveResult<_>>()
            .map(Some)
    }
}

/// Whether the units of a row group decompress its pages each for itself or share them
/// decompressed once (`MmapParquetReader::decompressed_chunk`). A unit of a whole row group
/// has nothing to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageReuse {
    /// Pages kept decompressed are used where they hold the unit's rows; Polars' decoder
    /// decompresses the others for the unit alone.
    Existing,
    /// As `Existing`, but a chunk kept for units of this many rows (`ChunkPages::kept_for`)
    /// without such pages has them decompressed from the unit's first row on, and kept for
    /// the units that follow until the row group's last is read: the unit's cost counts them
    /// (`PageCosts::kept`).
    Keep(usize),
}

/// How the columns of one unit share Polars' pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnThreads {
    /// One after another on the thread decoding the unit.
    One,
    /// rayon's halving split: threads busy with other units steal what they can.
    Split,
    /// Each thread takes the next column, the largest first: a unit alone on the pool.
    LargestFirst,
}
