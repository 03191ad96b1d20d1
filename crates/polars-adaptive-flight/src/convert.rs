//! Polars frames to arrow-rs record batches, by the Arrow C data interface (no copy but the
//! string and binary columns Polars holds as views), and the schema a client is promised.
//!
//! **Architecture invariant:** the schema a `FlightInfo` advertises is exactly the schema of
//! the batches its stream carries: both come from [`FlightSchema`], built once per statement.

use std::sync::Arc;

use arrow_array::{make_array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use polars::prelude::{CompatLevel, DataFrame, DataType, Schema as PlSchema};
use polars_arrow::ffi;

use crate::error::FlightSqlError;

/// The Arrow form of a result's columns and the casts that bring Polars' columns to it.
///
/// Strings and binaries leave as `LargeUtf8` / `LargeBinary` (Polars' view types are not read
/// by every JDBC or ADBC driver); categoricals and enums as strings; 128-bit integers, which
/// no Flight SQL client reads, are refused with the column's name.
#[derive(Debug, Clone)]
pub(crate) struct FlightSchema {
    arrow: SchemaRef,
    casts: Vec<Option<DataType>>,
}

impl FlightSchema {
    pub(crate) fn try_new(schema: &PlSchema) -> Result<Self, FlightSqlError> {
        let mut fields = Vec::with_capacity(schema.len());
        let mut casts = Vec::with_capacity(schema.len());
        for (name, dtype) in schema.iter() {
            let cast = match dtype {
                DataType::Int128 | DataType::UInt128 => {
                    return Err(FlightSqlError::UnsupportedType {
                        column: name.to_string(),
                        dtype: dtype.to_string(),
                        hint: "CAST it to BIGINT, DOUBLE or DECIMAL(38, 0)",
                    })
                }
                DataType::Categorical(..) | DataType::Enum(..) => Some(DataType::String),
                _ => None,
            };
            let out = cast.as_ref().unwrap_or(dtype);
            let pl_field = out.to_arrow_field(name.clone(), CompatLevel::oldest());
            let field = import_field(&pl_field)?;
            fields.push(field.with_metadata(std::collections::HashMap::new()));
            casts.push(cast);
        }
        Ok(Self {
            arrow: Arc::new(Schema::new(fields)),
            casts,
        })
    }

    /// The schema clients are promised.
    pub(crate) fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    /// `df` (one batch of the result) as record batches of [`Self::arrow`], one per chunk.
    pub(crate) fn batches(&self, df: DataFrame) -> Result<Vec<RecordBatch>, FlightSqlError> {
        let mut df = df;
        if df.width() != self.casts.len() {
            return Err(FlightSqlError::Internal(format!(
                "a batch of {} columns in a result of {}",
                df.width(),
                self.casts.len()
            )));
        }
        for (i, cast) in self.casts.iter().enumerate() {
            if let Some(dtype) = cast {
                let column = df.columns()[i].cast(dtype)?;
                df.replace_column(i, column)?;
            }
        }
        df.align_chunks_par();
        let mut out = Vec::new();
        for chunk in df.iter_chunks(CompatLevel::oldest(), false) {
            let arrays = chunk
                .into_arrays()
                .into_iter()
                .zip(self.arrow.fields())
                .map(|(array, field)| import_array(array, field))
                .collect::<Result<Vec<_>, _>>()?;
            let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(df.height()));
            let batch = if arrays.is_empty() {
                RecordBatch::try_new_with_options(self.arrow.clone(), arrays, &options)
            } else {
                RecordBatch::try_new(self.arrow.clone(), arrays)
            };
            out.push(batch.map_err(|e| FlightSqlError::Internal(e.to_string()))?);
        }
        Ok(out)
    }
}

/// A Polars Arrow field as an arrow-rs field, by the C data interface.
fn import_field(field: &polars_arrow::datatypes::Field) -> Result<Field, FlightSqlError> {
    let exported = ffi::export_field_to_c(field);
    // SAFETY: polars-arrow's `ArrowSchema` and arrow-rs's `FFI_ArrowSchema` are both the
    // `#[repr(C)]` struct of the Arrow C data interface; ownership (the release callback)
    // moves to `imported`, which releases it once.
    let imported = unsafe {
        std::mem::transmute::<ffi::ArrowSchema, arrow_schema::ffi::FFI_ArrowSchema>(exported)
    };
    Field::try_from(&imported).map_err(|e| FlightSqlError::Internal(e.to_string()))
}

/// A Polars Arrow array as an arrow-rs array of `field`'s type, by the C data interface.
fn import_array(
    array: Box<dyn polars_arrow::array::Array>,
    field: &Field,
) -> Result<ArrayRef, FlightSqlError> {
    let pl_field = polars_arrow::datatypes::Field::new("".into(), array.dtype().clone(), true);
    let schema = ffi::export_field_to_c(&pl_field);
    let exported = ffi::export_array_to_c(array);
    // SAFETY: as in `import_field`, for `ArrowArray` / `FFI_ArrowArray` and the schema; the
    // buffers stay alive through the release callback the imported array now owns.
    let (array, schema) = unsafe {
        (
            std::mem::transmute::<ffi::ArrowArray, arrow_array::ffi::FFI_ArrowArray>(exported),
            std::mem::transmute::<ffi::ArrowSchema, arrow_schema::ffi::FFI_ArrowSchema>(schema),
        )
    };
    // SAFETY: the array and schema were just exported together by polars-arrow.
    let data = unsafe { arrow_array::ffi::from_ffi(array, &schema) }
        .map_err(|e| FlightSqlError::Internal(e.to_string()))?;
    if data.data_type() != field.data_type() {
        return Err(FlightSqlError::Internal(format!(
            "column '{}' arrived as {} but {} was advertised",
            field.name(),
            data.data_type(),
            field.data_type()
        )));
    }
    Ok(make_array(data))
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType as A;
    use polars::prelude::*;

    use super::*;

    #[test]
    fn batches_carry_the_advertised_schema_with_large_strings() {
        let df = df!(
            "s" => [Some("a"), None, Some("ccc")],
            "i" => [1i64, 2, 3],
            "b" => [Some(true), Some(false), None],
        )
        .unwrap()
        .lazy()
        .with_columns([
            col("i").cast(DataType::Date).alias("d"),
            col("s")
                .cast(DataType::from_categories(Categories::global()))
                .alias("c"),
            col("s").cast(DataType::Binary).alias("bin"),
        ])
        .collect()
        .unwrap();
        let schema = FlightSchema::try_new(df.schema()).unwrap();
        let types: Vec<_> = schema
            .arrow()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                A::LargeUtf8,
                A::Int64,
                A::Boolean,
                A::Date32,
                A::LargeUtf8,
                A::LargeBinary
            ]
        );
        let batches = schema.batches(df.clone()).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].schema(), *schema.arrow());
        assert_eq!(batches[0].num_rows(), 3);
        assert_eq!(batches[0].column(0).null_count(), 1);
    }

    #[test]
    fn wide_integers_are_refused_with_the_column_named() {
        let df = df!("x" => [1i64])
            .unwrap()
            .lazy()
            .select([col("x").cast(DataType::Int128)])
            .collect()
            .unwrap();
        let err = FlightSchema::try_new(df.schema()).unwrap_err().to_string();
        assert!(err.contains("'x'") && err.contains("CAST"), "{err}");
    }

    #[test]
    fn a_frame_without_columns_keeps_its_height() {
        let df = DataFrame::empty_with_height(5);
        let schema = FlightSchema::try_new(df.schema()).unwrap();
        let batches = schema.batches(df).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    }
}
