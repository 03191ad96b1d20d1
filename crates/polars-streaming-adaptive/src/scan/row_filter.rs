//! Reading one unit: its columns decoded, the scan's virtual columns added, the predicate applied
//! exactly, and the output projected. With a predicate Polars can compile, filter-first: the
//! predicate's columns are decoded for every row, the others only for the rows it keeps (or,
//! on whole row groups, each column filtered inside Polars' decoder).

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;

use crate::error::{AdaptiveError, AdaptiveResult};
use crate::scan::file_scan::{Batch, FileScan, ScanFilter, Unit};
use crate::scan::options::ScanOptions;

impl FileScan {
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

#[cfg(test)]
mod tests {
    use super::keep_rows;
    use polars::prelude::*;
    use polars_arrow::bitmap::Bitmap;

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
