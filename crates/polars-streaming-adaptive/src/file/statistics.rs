//! Row-group statistics read from the Parquet footer, typed as Polars values of the column's
//! Polars dtype, so that pruning compares them with Polars' own comparison semantics.
//!
//! Every conversion is conservative: a bound that cannot be trusted is dropped (`None`), and a
//! missing bound means "unknown", which keeps the row group.

use parquet::basic::{
    ConvertedType, LogicalType, SortOrder, TimeUnit as PqTimeUnit, Type as PhysicalType,
};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData as PqRowGroupMetaData};
use parquet::file::statistics::{Statistics, ValueStatistics};
use polars::prelude::*;

use crate::file::exact_flags::ExactFlags;

/// Statistics of one column chunk of one row group.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    pub(crate) dtype: DataType,
    pub(crate) min: Option<Scalar>,
    pub(crate) max: Option<Scalar>,
    pub(crate) null_count: Option<u64>,
    pub(crate) nan_count: Option<u64>,
    pub(crate) distinct_count: Option<u64>,
    pub(crate) min_is_exact: bool,
    pub(crate) max_is_exact: bool,
    pub(crate) null_count_is_exact: bool,
    /// The footer's count of a chunk whose writer counted its nulls once per data page
    /// ([`repeats_null_counts`]), while `null_count` is unknown: `divide_repeated_null_counts`
    /// divides it by the pages the chunk's offset index lists, making `null_count` exact.
    pub(crate) nulls_per_data_page: Option<u64>,
}

impl ColumnStats {
    /// The column's Polars dtype.
    pub fn dtype(&self) -> &DataType {
        &self.dtype
    }
    /// A lower bound of the non-null, non-NaN values, if the writer stored a trustworthy one.
    pub fn min(&self) -> Option<&Scalar> {
        self.min.as_ref()
    }
    /// An upper bound of the non-null, non-NaN values, if the writer stored a trustworthy one.
    pub fn max(&self) -> Option<&Scalar> {
        self.max.as_ref()
    }
    /// Number of nulls; `None` when the writer did not record it (which is not zero). An upper
    /// bound where [`Self::null_count_is_exact`] says so.
    pub fn null_count(&self) -> Option<u64> {
        self.null_count
    }
    /// Whether `null_count` is the chunk's number of nulls rather than an upper bound (page
    /// index counts are bounds).
    pub fn null_count_is_exact(&self) -> bool {
        self.null_count.is_some() && self.null_count_is_exact
    }
    /// Number of NaNs, recorded only by recent writers.
    pub fn nan_count(&self) -> Option<u64> {
        self.nan_count
    }
    /// Number of distinct values, rarely recorded.
    pub fn distinct_count(&self) -> Option<u64> {
        self.distinct_count
    }
    /// Whether `min` is a value of the column rather than a bound: flagged exact by the writer,
    /// or an unflagged integer, boolean or temporal bound from a writer known to write values
    /// (truncated strings never are).
    pub fn min_is_exact(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        if crate::test_hooks::inexact_as_exact() {
            return self.min.is_some();
        }
        self.min_is_exact
    }
    /// Whether `max` is a value of the column rather than a bound (see [`Self::min_is_exact`]).
    pub fn max_is_exact(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        if crate::test_hooks::inexact_as_exact() {
            return self.max.is_some();
        }
        self.max_is_exact
    }
    /// Whether the chunk may hold NaN. Writers leave NaN out of min/max, so a float column
    /// may hold NaN whatever its bounds say, unless a NaN count of zero was recorded.
    pub fn may_contain_nan(&self) -> bool {
        self.dtype.is_float() && self.nan_count != Some(0)
    }
}

/// Statistics of every flat column of one row group.
#[derive(Debug, Clone)]
pub struct RowGroupStats {
    pub(crate) index: usize,
    pub(crate) num_rows: usize,
    pub(crate) columns: PlIndexMap<PlSmallStr, ColumnStats>,
}

impl RowGroupStats {
    /// Position of the row group in its file.
    pub fn index(&self) -> usize {
        self.index
    }
    /// Rows in the row group.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }
    /// Statistics of a column; `None` when the writer wrote none, or the column is nested or
    /// absent. `None` means "unknown": a predicate must keep the row group.
    pub fn column(&self, name: &str) -> Option<&ColumnStats> {
        self.columns.get(name)
    }
    /// Every column that has statistics, in schema order.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &ColumnStats)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Statistics that know nothing: what a file without usable statistics gets.
    pub(crate) fn unknown(index: usize, num_rows: usize) -> Self {
        Self {
            index,
            num_rows,
            columns: PlIndexMap::default(),
        }
    }
}

/// Writers known to store the actual smallest and largest value of a column chunk as its
/// bounds for the fixed-width physical types BOOLEAN, INT32, INT64, FLOAT and DOUBLE, whether
/// or not they set the exactness flags, by the prefix of the footer's `created_by`. Each was
/// checked against its source or its behaviour (docs/decisions.md, "Bounds taken as exact").
/// Their float bounds leave NaN out (or are NaN, and dropped), as Polars' `min` and `max` do;
/// a zero float bound is widened to both signs (`float_bounds`) and is never a value. Not here:
/// byte arrays (writers truncate them: only a flag says exact), INT96, fixed-length arrays.
const EXACT_BOUND_WRITERS: [&str; 4] = [
    "Polars",
    "parquet-rs version ",
    "parquet-cpp-arrow version ",
    "DuckDB version ",
];

/// Whether the writer named by `created_by` is one of [`EXACT_BOUND_WRITERS`].
pub(crate) fn writes_exact_bounds(created_by: Option<&str>) -> bool {
    created_by.is_some_and(|by| EXACT_BOUND_WRITERS.iter().any(|w| by.starts_with(w)))
}

/// Whether the writer named by `created_by` counts a dictionary chunk's nulls once per data
/// page: Polars' writer before 2.x (Rust 0.55.2 and Python 1.44.2 name themselves "Polars",
/// without a version) gives every data page of a dictionary-encoded chunk the statistics of
/// the whole chunk (polars-parquet 0.55.2 `arrow/write/dictionary.rs`, `serialize_keys`), and
/// the footer sums the pages' counts: 77 pages of a chunk with 100,000 nulls record 7,700,000.
/// Plain chunks count each page's own slice, and Python Polars 2.1.0 ("Polars (python) version
/// ...") counts right.
pub(crate) fn repeats_null_counts(created_by: Option<&str>) -> bool {
    created_by == Some("Polars")
}

/// What decides whether a row group's bounds are values of their columns: whether the writer
/// stores exact fixed-width bounds without flagging them ([`writes_exact_bounds`]), and the
/// exactness flags of the chunks as the footer states them (in the footer's order), which
/// arrow-rs does not keep for BOOLEAN, INT32, INT64, FLOAT and DOUBLE chunks; and whether the
/// writer repeats a dictionary chunk's null count on each data page ([`repeats_null_counts`]).
///
/// The flags are read (`file::exact_flags`) only for writers not known to write values: a known
/// one never flags a fixed-width bound inexact (only truncated byte arrays are), and the walk
/// costs as much as arrow-rs' own parse of the footer. `None` counts as unstated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Exactness<'a> {
    pub(crate) flags: Option<&'a [ExactFlags]>,
    pub(crate) exact_writer: bool,
    pub(crate) repeated_null_counts: bool,
}

impl Exactness<'_> {
    /// Whether the min and the max of chunk `j` (`chunk`, with statistics `stats`) may be values
    /// of the column: flagged exact, or unflagged from an exact writer for a fixed-width type.
    fn of(&self, j: usize, chunk: &ColumnChunkMetaData, stats: &Statistics) -> (bool, bool) {
        match chunk.column_type() {
            // arrow-rs' footer decoding builds these as exact whatever the footer says: the
            // walk's flags decide.
            PhysicalType::BOOLEAN
            | PhysicalType::INT32
            | PhysicalType::INT64
            | PhysicalType::FLOAT
            | PhysicalType::DOUBLE => {
                let (min, max) = self
                    .flags
                    .and_then(|f| f.get(j).copied())
                    .unwrap_or_default();
                (
                    min.unwrap_or(self.exact_writer),
                    max.unwrap_or(self.exact_writer),
                )
            }
            // arrow-rs keeps the flags of byte arrays (an absent one reads as false).
            _ => (stats.min_is_exact(), stats.max_is_exact()),
        }
    }
}

/// The chunk of flat top-level column `name` in row group `rg` (one leaf named like the column).
pub(crate) fn flat_chunk<'a>(
    rg: &'a PqRowGroupMetaData,
    name: &str,
) -> Option<&'a ColumnChunkMetaData> {
    rg.columns()
        .iter()
        .find(|chunk| chunk.column_descr().path().parts() == [name.to_string()])
}

/// Reads the statistics of every flat top-level column of `rg`, typed by `schema`.
pub(crate) fn row_group_stats(
    index: usize,
    rg: &PqRowGroupMetaData,
    schema: &Schema,
    exactness: Exactness<'_>,
) -> RowGroupStats {
    // Flags that do not line up with the chunks are not used.
    let exactness = Exactness {
        flags: exactness.flags.filter(|f| f.len() == rg.columns().len()),
        ..exactness
    };
    let mut columns = PlIndexMap::default();
    for (j, chunk) in rg.columns().iter().enumerate() {
        let path = chunk.column_descr().path().parts();
        let [name] = path else { continue };
        let Some(dtype) = schema.get(name.as_str()) else {
            continue;
        };
        if dtype.is_nested() {
            continue;
        }
        let Some(mut stats) = column_stats(chunk, dtype, |s| exactness.of(j, chunk, s)) else {
            continue;
        };
        // A zero is zero however often it was counted.
        if exactness.repeated_null_counts
            && chunk.dictionary_page_offset().is_some()
            && stats.null_count.is_some_and(|n| n > 0)
        {
            stats.nulls_per_data_page = stats.null_count.take();
        }
        // More nulls than rows in a flat column is impossible: such statistics are wrong and
        // prune nothing.
        let rows = rg.num_rows().max(0) as u64;
        if stats.null_count.is_some_and(|n| n > rows) {
            continue;
        }
        // Nor can a column with a value be all null: the count is not believed.
        if (stats.min.is_some() || stats.max.is_some()) && stats.null_count == Some(rows) {
            stats.null_count = None;
        }
        columns.insert(PlSmallStr::from_str(name), stats);
    }
    RowGroupStats {
        index,
        num_rows: rg.num_rows().max(0) as usize,
        columns,
    }
}

/// `exact`: whether the footer's min and max are values of the column (`Exactness::of`).
fn column_stats(
    chunk: &ColumnChunkMetaData,
    dtype: &DataType,
    exact: impl FnOnce(&Statistics) -> (bool, bool),
) -> Option<ColumnStats> {
    let stats = chunk.statistics()?;
    let exact = exact(stats);
    let descr = chunk.column_descr();
    // Old writers filled the deprecated `min`/`max` fields with a signed byte-wise order; they
    // are wrong for anything that does not sort signed (strings, unsigned integers, decimals in
    // byte arrays). Parquet format: "Statistics" and `ColumnOrder` in parquet.thrift.
    let trusted = !stats.is_min_max_deprecated() || descr.sort_order() == SortOrder::SIGNED;
    let (min, max) = if trusted {
        bounds(stats, dtype, chunk).unwrap_or((None, None))
    } else {
        (None, None)
    };
    // The flags describe `min_value`/`max_value`: deprecated bounds are never values, and nor
    // is a zero float bound, which `float_bounds` widened to both signs.
    let is_value = |bound: &Option<AnyValue<'static>>| {
        let widened_zero = dtype.is_float()
            && bound
                .as_ref()
                .and_then(|v| v.extract::<f64>())
                .is_some_and(|v| v == 0.0);
        bound.is_some() && !widened_zero && !stats.is_min_max_deprecated()
    };
    let (min_is_value, max_is_value) = (is_value(&min), is_value(&max));
    Some(ColumnStats {
        dtype: dtype.clone(),
        min: min.map(|v| Scalar::new(dtype.clone(), v)),
        max: max.map(|v| Scalar::new(dtype.clone(), v)),
        null_count: stats.null_count_opt(),
        nan_count: stats.nan_count_opt(),
        distinct_count: stats.distinct_count_opt(),
        min_is_exact: exact.0 && min_is_value,
        max_is_exact: exact.1 && max_is_value,
        null_count_is_exact: true,
        nulls_per_data_page: None,
    })
}

type Bounds = (Option<AnyValue<'static>>, Option<AnyValue<'static>>);

fn map_bounds<T>(
    s: &ValueStatistics<T>,
    f: impl Fn(&T) -> Option<AnyValue<'static>>,
) -> Option<Bounds> {
    Some((s.min_opt().and_then(&f), s.max_opt().and_then(&f)))
}

fn bounds(stats: &Statistics, dtype: &DataType, chunk: &ColumnChunkMetaData) -> Option<Bounds> {
    let descr = chunk.column_descr();
    match stats {
        Statistics::Boolean(s) if dtype == &DataType::Boolean => {
            map_bounds(s, |v| Some(AnyValue::Boolean(*v)))
        }
        Statistics::Int32(s) => {
            if dtype.is_unsigned_integer() {
                return unsigned_bounds(
                    s.min_opt().map(|v| *v as u32 as u64),
                    s.max_opt().map(|v| *v as u32 as u64),
                    dtype,
                );
            }
            map_bounds(s, |v| int_value(*v as i64, dtype, chunk))
        }
        Statistics::Int64(s) => {
            if dtype.is_unsigned_integer() {
                return unsigned_bounds(
                    s.min_opt().map(|v| *v as u64),
                    s.max_opt().map(|v| *v as u64),
                    dtype,
                );
            }
            map_bounds(s, |v| int_value(*v, dtype, chunk))
        }
        Statistics::Float(s) if dtype == &DataType::Float32 => {
            let (min, max) = float_bounds(
                s.min_opt().map(|v| *v as f64),
                s.max_opt().map(|v| *v as f64),
            );
            Some((
                min.map(|v| AnyValue::Float32(v as f32)),
                max.map(|v| AnyValue::Float32(v as f32)),
            ))
        }
        Statistics::Double(s) if dtype == &DataType::Float64 => {
            let (min, max) = float_bounds(s.min_opt().copied(), s.max_opt().copied());
            Some((min.map(AnyValue::Float64), max.map(AnyValue::Float64)))
        }
        Statistics::ByteArray(s) => match dtype {
            DataType::String => map_bounds(s, |v| {
                std::str::from_utf8(v.data())
                    .ok()
                    .map(|s| AnyValue::StringOwned(s.into()))
            }),
            DataType::Binary => map_bounds(s, |v| Some(AnyValue::BinaryOwned(v.data().to_vec()))),
            DataType::Decimal(p, sc) if decimal_scale_matches(descr, *sc) => map_bounds(s, |v| {
                be_i128(v.data()).map(|x| AnyValue::Decimal(x, *p, *sc))
            }),
            _ => None,
        },
        Statistics::FixedLenByteArray(s) => match dtype {
            DataType::Decimal(p, sc) if decimal_scale_matches(descr, *sc) => map_bounds(s, |v| {
                be_i128(v.data()).map(|x| AnyValue::Decimal(x, *p, *sc))
            }),
            _ => None,
        },
        // INT96 timestamps have no defined sort order in the format.
        _ => None,
    }
}

/// Unsigned integers are stored in signed physical types. Files written before the unsigned sort
/// order existed compared them signed; over values on both sides of the sign bit that yields
/// min > max once read unsigned, which is how such statistics are recognised and dropped.
fn unsigned_bounds(min: Option<u64>, max: Option<u64>, dtype: &DataType) -> Option<Bounds> {
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            return Some((None, None));
        }
    }
    let value = |v: u64| -> Option<AnyValue<'static>> {
        Some(match dtype {
            DataType::UInt8 => AnyValue::UInt8(u8::try_from(v).ok()?),
            DataType::UInt16 => AnyValue::UInt16(u16::try_from(v).ok()?),
            DataType::UInt32 => AnyValue::UInt32(u32::try_from(v).ok()?),
            DataType::UInt64 => AnyValue::UInt64(v),
            _ => return None,
        })
    };
    Some((min.and_then(value), max.and_then(value)))
}

/// NaN bounds say nothing; zero bounds are widened to both signs because writers disagree on
/// whether -0.0 and +0.0 are ordered (the format asks readers to do exactly this).
fn float_bounds(min: Option<f64>, max: Option<f64>) -> (Option<f64>, Option<f64>) {
    let min = min
        .filter(|v| !v.is_nan())
        .map(|v| if v == 0.0 { -0.0 } else { v });
    let max = max
        .filter(|v| !v.is_nan())
        .map(|v| if v == 0.0 { 0.0 } else { v });
    match (min, max) {
        (Some(lo), Some(hi)) if lo > hi => (None, None),
        other => other,
    }
}

pub(crate) fn int_value(
    v: i64,
    dtype: &DataType,
    chunk: &ColumnChunkMetaData,
) -> Option<AnyValue<'static>> {
    let descr = chunk.column_descr();
    Some(match dtype {
        DataType::Int8 => AnyValue::Int8(i8::try_from(v).ok()?),
        DataType::Int16 => AnyValue::Int16(i16::try_from(v).ok()?),
        DataType::Int32 => AnyValue::Int32(i32::try_from(v).ok()?),
        DataType::Int64 => AnyValue::Int64(v),
        DataType::Date if is_date(chunk) => AnyValue::Date(i32::try_from(v).ok()?),
        DataType::Datetime(tu, tz) if timestamp_unit(chunk) == Some(*tu) => {
            AnyValue::DatetimeOwned(v, *tu, tz.clone().map(Arc::new))
        }
        DataType::Decimal(p, s) if decimal_scale_matches(descr, *s) => {
            AnyValue::Decimal(v as i128, *p, *s)
        }
        _ => return None,
    })
}

fn is_date(chunk: &ColumnChunkMetaData) -> bool {
    let descr = chunk.column_descr();
    matches!(descr.logical_type_ref(), Some(LogicalType::Date))
        || descr.converted_type() == ConvertedType::DATE
}

/// The unit the column's INT64 values are stored in, when the file says so.
fn timestamp_unit(chunk: &ColumnChunkMetaData) -> Option<TimeUnit> {
    let descr = chunk.column_descr();
    match descr.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => Some(match t.unit {
            PqTimeUnit::MILLIS => TimeUnit::Milliseconds,
            PqTimeUnit::MICROS => TimeUnit::Microseconds,
            PqTimeUnit::NANOS => TimeUnit::Nanoseconds,
        }),
        _ => match descr.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS => Some(TimeUnit::Milliseconds),
            ConvertedType::TIMESTAMP_MICROS => Some(TimeUnit::Microseconds),
            _ => None,
        },
    }
}

fn decimal_scale_matches(descr: &parquet::schema::types::ColumnDescriptor, scale: usize) -> bool {
    usize::try_from(descr.type_scale()).is_ok_and(|s| s == scale)
}

/// A big-endian two's complement integer of at most 16 bytes (Parquet DECIMAL in byte arrays).
fn be_i128(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn be_i128_sign_extends_short_negative_values() {
        assert_eq!(be_i128(&[0xff, 0x38]), Some(-200));
        assert_eq!(be_i128(&[0x00, 0xc8]), Some(200));
        assert_eq!(be_i128(&[]), None);
    }

    #[test]
    fn float_bounds_drop_nan_and_widen_zero() {
        assert_eq!(float_bounds(Some(f64::NAN), Some(1.0)), (None, Some(1.0)));
        let (lo, hi) = float_bounds(Some(0.0), Some(-0.0));
        assert!(lo.unwrap().is_sign_negative() && hi.unwrap().is_sign_positive());
    }

    #[test]
    fn unsigned_bounds_written_with_signed_order_are_dropped() {
        // Values 1 and 2^31 + 1 compared signed give min = 2^31 + 1, max = 1.
        let b = unsigned_bounds(Some(2_147_483_649), Some(1), &DataType::UInt32).unwrap();
        assert!(b.0.is_none() && b.1.is_none());
    }
}
