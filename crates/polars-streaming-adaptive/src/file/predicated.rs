//! Filter-first decoding of whole row groups inside Polars' decoder: each column filtered while
//! it is decoded by its own part of the predicate (`Filter::Predicate`, as stock's Parquet
//! source uses it).

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use polars_io::predicates::{ColumnPredicateExpr, ColumnPredicates, SpecializedColumnPredicate};
use polars_parquet::read::{Filter, PredicateFilter, PrimitiveLogicalType};

use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::file::reader::MmapParquetReader;

impl MmapParquetReader {
    /// Decodes `columns` of the whole row group `rg`, each filtered while it is decoded by its
    /// own part of a predicate that is the conjunction of `predicates` (Polars'
    /// `Filter::Predicate`, as stock's Parquet source uses it: a dictionary-encoded page is
    /// tested once per dictionary entry, and the strings of rows it drops are never built).
    /// Returns the columns restricted to the rows every part keeps, and that mask over the row
    /// group. `None` where Polars' decoder does not take column predicates (a Float16 column in
    /// the row group, stock's guard) or a column is absent from the row group: the caller
    /// then decodes and evaluates as usual.
    pub(crate) fn decode_predicated(
        &self,
        rg: usize,
        columns: &[usize],
        predicates: &ColumnPredicates,
    ) -> AdaptiveResult<Option<(Vec<Column>, Bitmap)>> {
        self.ensure_unchanged()?;
        let md = &self.footer.metadata.row_groups[rg];
        let float16 = md.parquet_columns().iter().any(|c| {
            matches!(
                c.descriptor().descriptor.primitive_type.logical_type,
                Some(PrimitiveLogicalType::Float16)
            )
        });
        if float16 {
            return Ok(None);
        }
        let mut decoded = Vec::with_capacity(columns.len());
        for &c in columns {
            let (name, field) = self.footer.arrow_schema.get_at_index(c).unwrap();
            let dtype = DataType::from_arrow_field(field);
            let Some((part, specialized)) = predicates.predicates.get(name) else {
                return Ok(None);
            };
            let Some(chunks) = self.chunks(rg, c, true, md.num_rows())? else {
                return Ok(None);
            };
            // An equality keeps one value: Polars then skips building the column and we
            // repeat the literal, if it has the column's exact dtype.
            let constant = match specialized {
                Some(SpecializedColumnPredicate::Equal(v))
                    if !v.is_null() && v.dtype() == &dtype =>
                {
                    Some(v.clone())
                }
                _ => None,
            };
            let predicate = ColumnPredicateExpr::new(
                name.clone(),
                dtype.clone(),
                part.clone(),
                specialized.clone(),
            );
            let filter = Filter::Predicate(PredicateFilter {
                predicate: Arc::new(predicate),
                include_values: constant.is_none(),
            });
            let decode_err = |reason: String| self.decode_error(rg, name, reason);
            let (column, mask) = catch_panic(
                || {
                    let (arrays, mask) = polars_io::parquet::read::_internal::to_deserializer(
                        chunks,
                        field.clone(),
                        Some(filter),
                    )
                    .map_err(|e| decode_err(e.to_string()))?;
                    let column = match &constant {
                        Some(v) => Column::new_scalar(name.clone(), v.clone(), mask.set_bits()),
                        None => Series::try_from((field, arrays))
                            .map_err(|e| decode_err(e.to_string()))?
                            .into_column(),
                    };
                    Ok((column, mask))
                },
                |msg| decode_err(format!("decoder panicked: {msg}")),
            )?;
            if mask.len() != md.num_rows() || column.len() != mask.set_bits() {
                return Err(decode_err(format!(
                    "the predicate kept {} values and {} of {} rows; the row group holds {} rows",
                    column.len(),
                    mask.set_bits(),
                    mask.len(),
                    md.num_rows()
                )));
            }
            decoded.push((column, mask));
        }
        let all = decoded
            .iter()
            .map(|(_, mask)| mask.clone())
            .reduce(|a, b| &a & &b)
            .unwrap_or_else(|| Bitmap::new_with_value(true, md.num_rows()));
        let all_rows = BooleanChunked::from_bitmap(PlSmallStr::EMPTY, all.clone());
        let columns = decoded
            .into_iter()
            .map(|(column, mask)| {
                if mask.set_bits() == all.set_bits() {
                    return Ok(column);
                }
                // Of the rows this column kept, those every other column kept too.
                let kept = BooleanChunked::from_bitmap(PlSmallStr::EMPTY, mask);
                column.filter(&all_rows.filter(&kept)?)
            })
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(|e| AdaptiveError::Internal(e.to_string()))?;
        Ok(Some((columns, all)))
    }
}
