//! From specs to Parquet files (Polars' writer or the `parquet` crate's) and to a query.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{self as aa, ArrayRef};
use arrow::datatypes::{DataType as ADataType, Field, Schema as ASchema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use polars::prelude::*;

use super::spec::{Agg, Cmp, Codec, ColumnSpec, DatasetSpec, Kind, Pred, QuerySpec, Tail, Writer};

const WORDS: [&str; 10] = [
    "",
    "a",
    "ab",
    "abc",
    "b",
    "ä",
    "äb",
    "日本",
    "z",
    "a-string-longer-than-sixty-four-bytes-so-that-writers-truncate-its-statistics",
];
const PREFIXES: [&str; 6] = ["", "a", "ab", "ä", "日", "z"];
const BOUND: i64 = 1_000_000_000_000_000;

fn word(raw: i64) -> &'static str {
    WORDS[raw.rem_euclid(WORDS.len() as i64) as usize]
}

fn float(raw: i64) -> f64 {
    match raw.rem_euclid(16) {
        0 => f64::NAN,
        1 => -0.0,
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        _ => raw as f64 / 4.0,
    }
}

pub fn column_name(i: usize, kind: Kind) -> String {
    format!("c{i}_{kind:?}").to_lowercase()
}

/// The Polars dtype a kind is written as (what the literal of a predicate is typed as).
fn dtype(kind: Kind) -> DataType {
    match kind {
        Kind::I8 => DataType::Int8,
        Kind::I16 => DataType::Int16,
        Kind::I32 => DataType::Int32,
        Kind::I64 => DataType::Int64,
        Kind::U8 => DataType::UInt8,
        Kind::U16 => DataType::UInt16,
        Kind::U32 => DataType::UInt32,
        Kind::U64 => DataType::UInt64,
        Kind::F32 => DataType::Float32,
        Kind::F64 => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Str => DataType::String,
        Kind::Bin => DataType::Binary,
        Kind::Date => DataType::Date,
        Kind::DatetimeMs => DataType::Datetime(TimeUnit::Milliseconds, None),
        Kind::DatetimeUs => DataType::Datetime(TimeUnit::Microseconds, None),
        Kind::DatetimeNsUtc => DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        Kind::DurationUs => DataType::Duration(TimeUnit::Microseconds),
        Kind::Decimal => DataType::Decimal(18, 2),
    }
}

/// One raw value as a Polars scalar of the kind's dtype.
pub fn scalar(kind: Kind, raw: i64) -> Scalar {
    let av = match kind {
        Kind::I8 => AnyValue::Int8(raw as i8),
        Kind::I16 => AnyValue::Int16(raw as i16),
        Kind::I32 => AnyValue::Int32(raw as i32),
        Kind::I64 => AnyValue::Int64(raw),
        Kind::U8 => AnyValue::UInt8(raw as u8),
        Kind::U16 => AnyValue::UInt16(raw as u16),
        Kind::U32 => AnyValue::UInt32(raw as u32),
        Kind::U64 => AnyValue::UInt64(raw as u64),
        Kind::F32 => AnyValue::Float32(float(raw) as f32),
        Kind::F64 => AnyValue::Float64(float(raw)),
        Kind::Bool => AnyValue::Boolean(raw.rem_euclid(2) == 0),
        Kind::Str => AnyValue::StringOwned(word(raw).into()),
        Kind::Bin => AnyValue::BinaryOwned(word(raw).as_bytes().to_vec()),
        Kind::Date => AnyValue::Date((raw.rem_euclid(100_000) - 50_000) as i32),
        Kind::DatetimeMs => AnyValue::Datetime(raw % BOUND, TimeUnit::Milliseconds, None),
        Kind::DatetimeUs => AnyValue::Datetime(raw % BOUND, TimeUnit::Microseconds, None),
        Kind::DatetimeNsUtc => {
            AnyValue::DatetimeOwned(raw, TimeUnit::Nanoseconds, Some(Arc::new(TimeZone::UTC)))
        }
        Kind::DurationUs => AnyValue::Duration(raw % BOUND, TimeUnit::Microseconds),
        Kind::Decimal => AnyValue::Decimal((raw % BOUND) as i128, 18, 2),
    };
    Scalar::new(dtype(kind), av)
}

fn series(name: &str, c: &ColumnSpec) -> Result<Series> {
    let avs: Vec<AnyValue<'static>> = c
        .values
        .iter()
        .map(|v| v.map_or(AnyValue::Null, |raw| scalar(c.kind, raw).into_value()))
        .collect();
    Ok(Series::from_any_values_and_dtype(
        name.into(),
        &avs,
        &dtype(c.kind),
        true,
    )?)
}

fn arrow(c: &ColumnSpec) -> (ADataType, ArrayRef) {
    let v = &c.values;
    macro_rules! prim {
        ($arr:ty, $t:ty, $f:expr) => {
            Arc::new(<$arr>::from(
                v.iter().map(|x| x.map($f)).collect::<Vec<Option<$t>>>(),
            )) as ArrayRef
        };
    }
    let array: ArrayRef = match c.kind {
        Kind::I8 => prim!(aa::Int8Array, i8, |r| r as i8),
        Kind::I16 => prim!(aa::Int16Array, i16, |r| r as i16),
        Kind::I32 => prim!(aa::Int32Array, i32, |r| r as i32),
        Kind::I64 => prim!(aa::Int64Array, i64, |r| r),
        Kind::U8 => prim!(aa::UInt8Array, u8, |r| r as u8),
        Kind::U16 => prim!(aa::UInt16Array, u16, |r| r as u16),
        Kind::U32 => prim!(aa::UInt32Array, u32, |r| r as u32),
        Kind::U64 => prim!(aa::UInt64Array, u64, |r| r as u64),
        Kind::F32 => prim!(aa::Float32Array, f32, |r| float(r) as f32),
        Kind::F64 => prim!(aa::Float64Array, f64, float),
        Kind::Bool => Arc::new(aa::BooleanArray::from(
            v.iter()
                .map(|x| x.map(|r| r.rem_euclid(2) == 0))
                .collect::<Vec<_>>(),
        )),
        Kind::Str => Arc::new(aa::StringArray::from(
            v.iter().map(|x| x.map(word)).collect::<Vec<_>>(),
        )),
        Kind::Bin => Arc::new(aa::BinaryArray::from(
            v.iter()
                .map(|x| x.map(|r| word(r).as_bytes()))
                .collect::<Vec<_>>(),
        )),
        Kind::Date => prim!(aa::Date32Array, i32, |r| (r.rem_euclid(100_000) - 50_000)
            as i32),
        Kind::DatetimeMs => prim!(aa::TimestampMillisecondArray, i64, |r| r % BOUND),
        Kind::DatetimeUs => prim!(aa::TimestampMicrosecondArray, i64, |r| r % BOUND),
        Kind::DatetimeNsUtc => {
            Arc::new(aa::TimestampNanosecondArray::from(v.clone()).with_timezone("UTC"))
        }
        Kind::DurationUs => prim!(aa::DurationMicrosecondArray, i64, |r| r % BOUND),
        Kind::Decimal => Arc::new(
            aa::Decimal128Array::from(
                v.iter()
                    .map(|x| x.map(|r| (r % BOUND) as i128))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(18, 2)
            .unwrap(),
        ),
    };
    (array.data_type().clone(), array)
}

/// Writes the dataset into `dir` as `part-<i>.parquet` files; returns the glob naming them.
pub fn write_dataset(spec: &DatasetSpec, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let rows = spec.rows();
    let per_file = rows.div_ceil(spec.files.max(1)).max(1);
    for f in 0..spec.files.max(1) {
        let lo = (f * per_file).min(rows);
        let hi = ((f + 1) * per_file).min(rows);
        let part: Vec<ColumnSpec> = spec
            .columns
            .iter()
            .map(|c| ColumnSpec {
                kind: c.kind,
                values: c.values[lo..hi].to_vec(),
            })
            .collect();
        let path = dir.join(format!("part-{f}.parquet"));
        match spec.writer {
            Writer::Polars => write_polars(spec, &part, &path)?,
            Writer::ArrowRs => write_arrow_rs(spec, &part, &path)?,
        }
        // polars-parquet-format, which rewrites the footer, does not know the float column
        // order arrow-rs writes; arrow-rs flags its bounds exact anyway, so Polars' files
        // (unflagged) are the ones whose lies the writer's name alone must reveal.
        if spec.planted_lies && spec.writer == Writer::Polars {
            plant_lies(&path, &part)?;
        }
    }
    Ok(dir.join("part-*.parquet"))
}

fn write_polars(spec: &DatasetSpec, cols: &[ColumnSpec], path: &Path) -> Result<()> {
    let columns = cols
        .iter()
        .enumerate()
        .map(|(i, c)| series(&column_name(i, c.kind), c).map(Column::from))
        .collect::<Result<Vec<_>>>()?;
    let height = cols.first().map_or(0, |c| c.values.len());
    let mut df = DataFrame::new(height, columns)?;
    let stats = if spec.statistics {
        StatisticsOptions::full()
    } else {
        StatisticsOptions::empty()
    };
    let compression = match spec.codec {
        Codec::Uncompressed => ParquetCompression::Uncompressed,
        Codec::Snappy => ParquetCompression::Snappy,
        Codec::Zstd => ParquetCompression::Zstd(None),
    };
    ParquetWriter::new(std::fs::File::create(path)?)
        .with_row_group_size(Some(spec.row_group_size))
        .with_data_page_size(spec.small_pages.then_some(256))
        .with_statistics(stats)
        .with_compression(compression)
        .finish(&mut df)?;
    Ok(())
}

fn write_arrow_rs(spec: &DatasetSpec, cols: &[ColumnSpec], path: &Path) -> Result<()> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (dt, array) = arrow(c);
            (Field::new(column_name(i, c.kind), dt, true), array)
        })
        .unzip();
    let schema = Arc::new(ASchema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays)?
    };
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(spec.row_group_size))
        .set_statistics_enabled(if spec.statistics {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::None
        })
        .set_dictionary_enabled(spec.dictionary)
        .set_bloom_filter_enabled(true)
        .set_statistics_truncate_length(spec.truncated_statistics.then_some(2))
        .set_compression(match spec.codec {
            Codec::Uncompressed => Compression::UNCOMPRESSED,
            Codec::Snappy => Compression::SNAPPY,
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
        });
    if spec.small_pages {
        // Pages of at most 8 rows, dictionary-encoded or not: several pages per row group for
        // the page index to choose from.
        props = props
            .set_data_page_size_limit(256)
            .set_data_page_row_count_limit(8)
            .set_write_batch_size(8);
    }
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path)?, schema, Some(props.build()))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

/// The names of the dataset's columns, in order.
pub fn column_names(data: &DatasetSpec) -> Vec<String> {
    data.columns
        .iter()
        .enumerate()
        .map(|(i, c)| column_name(i, c.kind))
        .collect()
}

/// The columns `indices` pick from `current` (modulo its length), each once, in order.
fn pick_unique(current: &[String], indices: &[usize]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in indices {
        let n = &current[i % current.len()];
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// The columns the query's tail sees: the dataset's, plus `derived`, then the projection.
fn columns_before_tail(q: &QuerySpec, data: &DatasetSpec) -> Vec<String> {
    let mut current = column_names(data);
    if q.derive.is_some() {
        current.push("derived".into());
    }
    match &q.project {
        Some(p) => pick_unique(&current, p),
        None => current,
    }
}

/// The query as a Polars plan on `lf`, whose columns are the dataset's (named by
/// [`column_name`]).
pub fn build_query(q: &QuerySpec, data: &DatasetSpec, lf: LazyFrame) -> LazyFrame {
    let kinds: Vec<Kind> = data.columns.iter().map(|c| c.kind).collect();
    let names = column_names(data);
    let mut lf = lf;
    for p in &q.filters {
        lf = lf.filter(predicate(p, &names, &kinds));
    }
    if let Some(c) = q.derive {
        let c = &names[c % names.len()];
        lf = lf.with_column((col(c.as_str()).cast(DataType::Float64) * lit(2.0)).alias("derived"));
    }
    let current = columns_before_tail(q, data);
    let cols = |names: &[String]| names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>();
    if q.project.is_some() {
        lf = lf.select(cols(&current));
    }
    let pick = |i: usize| col(current[i % current.len()].as_str());
    match &q.tail {
        Tail::None => lf,
        Tail::Head(n) => lf.limit(*n as IdxSize),
        Tail::Slice(o, n) => lf.slice(*o as i64, *n as IdxSize),
        Tail::SortHead { by, descending, n } => lf
            .sort_by_exprs(
                [pick(*by)],
                SortMultipleOptions::default()
                    .with_order_descending(*descending)
                    .with_maintain_order(true),
            )
            .limit(*n as IdxSize),
        Tail::TopK { by, largest, n } => {
            let first = &current[*by % current.len()];
            let by: Vec<Expr> = std::iter::once(first)
                .chain(current.iter().filter(|c| *c != first))
                .map(|c| col(c.as_str()))
                .collect();
            let (n, options) = (*n as IdxSize, SortMultipleOptions::default());
            match largest {
                true => lf.top_k(n, by, options),
                false => lf.bottom_k(n, by, options),
            }
        }
        Tail::Summary => {
            let per_column = current.iter().flat_map(|c| {
                [Agg::Min, Agg::Max, Agg::Count, Agg::NullCount]
                    .map(|a| aggregation(a, col(c.as_str())).alias(format!("{c}_{a:?}")))
            });
            lf.select(per_column.chain([len()]).collect::<Vec<_>>())
        }
        Tail::GroupBy { keys, aggs } => {
            let aggs: Vec<Expr> = aggs
                .iter()
                .enumerate()
                .map(|(i, (a, c))| aggregation(*a, pick(*c)).alias(format!("a{i}")))
                .collect();
            let keys = pick_unique(&current, keys);
            if keys.is_empty() {
                lf.select(aggs)
            } else {
                lf.group_by(cols(&keys)).agg(aggs)
            }
        }
    }
}

/// The key columns a query's output must be sorted by before comparing (its row order is
/// not defined), if any.
pub fn unordered_keys(q: &QuerySpec, data: &DatasetSpec) -> Option<Vec<String>> {
    match &q.tail {
        Tail::GroupBy { keys, .. } if !keys.is_empty() => {
            Some(pick_unique(&columns_before_tail(q, data), keys))
        }
        _ => None,
    }
}

fn aggregation(a: Agg, e: Expr) -> Expr {
    match a {
        Agg::Sum => e.sum(),
        Agg::Min => e.min(),
        Agg::Max => e.max(),
        Agg::Mean => e.mean(),
        Agg::Count => e.count(),
        Agg::Len => e.len(),
        Agg::First => e.first(),
        Agg::Last => e.last(),
        Agg::NUnique => e.n_unique(),
        Agg::NullCount => e.null_count(),
    }
}

/// The column `i` names, or when a form needs a kind of column that `i` is not, the next
/// column of a fitting kind: fewer cases spent on queries both sides reject.
fn fitting(i: usize, kinds: &[Kind], fits: impl Fn(Kind) -> bool) -> Option<usize> {
    (0..kinds.len())
        .map(|k| (i + k) % kinds.len())
        .find(|&j| fits(kinds[j]))
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::F32 | Kind::F64)
}

fn is_numeric(k: Kind) -> bool {
    !matches!(k, Kind::Str | Kind::Bin)
}

pub fn predicate(p: &Pred, names: &[String], kinds: &[Kind]) -> Expr {
    let c = |i: usize| (col(names[i % names.len()].as_str()), kinds[i % kinds.len()]);
    let null_check = |i: usize| c(i).0.is_null();
    match p {
        Pred::Cmp {
            col: i,
            op,
            value,
            literal_left,
        } => {
            let (column, kind) = c(*i);
            let value = lit(scalar(kind, *value));
            let (l, r) = if *literal_left {
                (value, column)
            } else {
                (column, value)
            };
            match op {
                Cmp::Eq => l.eq(r),
                Cmp::NotEq => l.neq(r),
                Cmp::Lt => l.lt(r),
                Cmp::LtEq => l.lt_eq(r),
                Cmp::Gt => l.gt(r),
                Cmp::GtEq => l.gt_eq(r),
            }
        }
        Pred::Between { col: i, lo, hi } => {
            let (column, kind) = c(*i);
            column.is_between(
                lit(scalar(kind, *lo)),
                lit(scalar(kind, *hi)),
                ClosedInterval::Both,
            )
        }
        Pred::IsIn { col: i, values } => {
            let (column, kind) = c(*i);
            let avs: Vec<AnyValue<'static>> = values
                .iter()
                .map(|v| scalar(kind, *v).into_value())
                .collect();
            let list = Series::from_any_values_and_dtype("".into(), &avs, &dtype(kind), true)
                .unwrap_or_else(|_| Series::new_empty("".into(), &dtype(kind)));
            column.is_in(lit(list).implode(false), false)
        }
        Pred::IsNull { col: i, negated } => {
            let (column, _) = c(*i);
            if *negated {
                column.is_not_null()
            } else {
                column.is_null()
            }
        }
        Pred::IsNan { col: i, negated } => match fitting(*i, kinds, is_float) {
            Some(j) if *negated => c(j).0.is_not_nan(),
            Some(j) => c(j).0.is_nan(),
            None => null_check(*i),
        },
        Pred::StartsWith { col: i, prefix } => match fitting(*i, kinds, |k| k == Kind::Str) {
            Some(j) => {
                let prefix = PREFIXES[prefix.rem_euclid(PREFIXES.len() as i64) as usize];
                c(j).0.str().starts_with(lit(prefix))
            }
            None => null_check(*i),
        },
        Pred::Arithmetic { col: i, value } => match fitting(*i, kinds, is_numeric) {
            Some(j) => (c(j).0.cast(DataType::Float64) * lit(2.0)).gt(lit(*value as f64)),
            None => null_check(*i),
        },
        Pred::StrLen { col: i, value } => match fitting(*i, kinds, |k| k == Kind::Str) {
            Some(j) => c(j)
                .0
                .str()
                .len_bytes()
                .gt(lit(value.rem_euclid(80) as u32)),
            None => null_check(*i),
        },
        Pred::And(a, b) => predicate(a, names, kinds).and(predicate(b, names, kinds)),
        Pred::Or(a, b) => predicate(a, names, kinds).or(predicate(b, names, kinds)),
        Pred::Not(a) => predicate(a, names, kinds).not(),
    }
}

/// The name a footer with planted lies gives its writer: one no table of trusted writers holds.
pub const UNKNOWN_WRITER: &str = "a writer nobody knows";

/// Rewrites the footer of `path` (whose columns hold `cols`) as a writer we know nothing of
/// could have written it: `created_by` names [`UNKNOWN_WRITER`], and every integer, float and
/// boolean chunk's `min_value`/`max_value` become the extremes of the column's type (of years
/// 1 to 9999 for dates and timestamps), without exactness flags. They are bounds still (a min at or below and a max at or above every
/// value), so pruning stays right; they are not values, so no answer may change. Null counts
/// are set to the chunk's true count: the lie planted is in the bounds alone (Polars' writer
/// repeats a dictionary chunk's count per page, a lie of its own that only its name reveals).
/// Decimals are left alone: their extremes depend on the precision.
pub fn plant_lies(path: &Path, cols: &[ColumnSpec]) -> Result<()> {
    use polars_parquet_format::thrift::protocol::{
        TCompactInputProtocol, TCompactOutputProtocol, TOutputProtocol,
    };
    use polars_parquet_format::{ConvertedType, FileMetaData, LogicalType, TimeUnit, Type};

    let bytes = std::fs::read(path)?;
    let n = bytes.len();
    anyhow::ensure!(
        n >= 12 && &bytes[n - 4..] == b"PAR1",
        "{} is not Parquet",
        path.display()
    );
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into()?) as usize;
    let start = n - 8 - len;
    let mut footer = &bytes[start..n - 8];
    let mut md =
        FileMetaData::read_from_in_protocol(&mut TCompactInputProtocol::new(&mut footer, len * 8))
            .map_err(|e| anyhow::anyhow!("reading the footer of {}: {e:?}", path.display()))?;
    md.created_by = Some(UNKNOWN_WRITER.into());
    // A flat schema: its leaves are the columns, in the chunks' order.
    let leaves: Vec<_> = md.schema.iter().skip(1).cloned().collect();
    let mut first_row = 0usize;
    for rg in &mut md.row_groups {
        let rows = first_row..first_row + rg.num_rows as usize;
        first_row = rows.end;
        for ((chunk, leaf), values) in rg.columns.iter_mut().zip(&leaves).zip(cols) {
            let Some(meta) = chunk.meta_data.as_mut() else {
                continue;
            };
            let Some(stats) = meta.statistics.as_mut() else {
                continue;
            };
            let unsigned = matches!(
                leaf.converted_type,
                Some(
                    ConvertedType::UINT_8
                        | ConvertedType::UINT_16
                        | ConvertedType::UINT_32
                        | ConvertedType::UINT_64
                )
            ) || matches!(&leaf.logical_type, Some(LogicalType::INTEGER(t)) if !t.is_signed);
            let narrow = |bits: u32| {
                let (lo, hi) = match unsigned {
                    true => (0i64, (1i64 << bits) - 1),
                    false => (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1),
                };
                // Stored in 32 bits, read unsigned where the column is (u32::MAX is -1).
                (
                    (lo as i32).to_le_bytes().to_vec(),
                    (hi as i32).to_le_bytes().to_vec(),
                )
            };
            let bits = match (leaf.converted_type, &leaf.logical_type) {
                (Some(ConvertedType::INT_8 | ConvertedType::UINT_8), _) => 8,
                (Some(ConvertedType::INT_16 | ConvertedType::UINT_16), _) => 16,
                (_, Some(LogicalType::INTEGER(t))) => t.bit_width as u32,
                _ => 64,
            };
            // Dates and timestamps stay within years 1 to 9999, where Polars can still print
            // them (a frame holding i32::MAX days panics when formatted), or at the chunk's
            // own bound where that lies further out.
            let temporal = match &leaf.logical_type {
                Some(LogicalType::DATE(_)) => Some((-719_162i64, 2_932_896i64)),
                Some(LogicalType::TIMESTAMP(t)) => match t.unit {
                    TimeUnit::MILLIS(_) => Some((-62_135_596_800_000, 253_402_300_799_999)),
                    TimeUnit::MICROS(_) => Some((-62_135_596_800_000_000, 253_402_300_799_999_999)),
                    TimeUnit::NANOS(_) => None,
                },
                _ if leaf.converted_type == Some(ConvertedType::DATE) => {
                    Some((-719_162, 2_932_896))
                }
                _ => None,
            };
            let extremes = match meta.type_ {
                _ if leaf.converted_type == Some(ConvertedType::DECIMAL)
                    || matches!(leaf.logical_type, Some(LogicalType::DECIMAL(_))) =>
                {
                    continue
                }
                Type::BOOLEAN => (vec![0u8], vec![1u8]),
                Type::INT32 if temporal.is_some() => {
                    let read = |b: &Option<Vec<u8>>| {
                        b.as_deref()
                            .and_then(|b| Some(i32::from_le_bytes(b.try_into().ok()?)))
                    };
                    let (lo, hi) = temporal.unwrap();
                    let lo = read(&stats.min_value).map_or(lo, |v| lo.min(v as i64)) as i32;
                    let hi = read(&stats.max_value).map_or(hi, |v| hi.max(v as i64)) as i32;
                    (lo.to_le_bytes().to_vec(), hi.to_le_bytes().to_vec())
                }
                Type::INT64 if temporal.is_some() => {
                    let read = |b: &Option<Vec<u8>>| {
                        b.as_deref()
                            .and_then(|b| Some(i64::from_le_bytes(b.try_into().ok()?)))
                    };
                    let (lo, hi) = temporal.unwrap();
                    let lo = read(&stats.min_value).map_or(lo, |v| lo.min(v));
                    let hi = read(&stats.max_value).map_or(hi, |v| hi.max(v));
                    (lo.to_le_bytes().to_vec(), hi.to_le_bytes().to_vec())
                }
                Type::INT32 => narrow(bits.min(32)),
                Type::INT64 if unsigned => {
                    (0u64.to_le_bytes().to_vec(), u64::MAX.to_le_bytes().to_vec())
                }
                Type::INT64 => (
                    i64::MIN.to_le_bytes().to_vec(),
                    i64::MAX.to_le_bytes().to_vec(),
                ),
                Type::FLOAT => (
                    f32::NEG_INFINITY.to_le_bytes().to_vec(),
                    f32::INFINITY.to_le_bytes().to_vec(),
                ),
                Type::DOUBLE => (
                    f64::NEG_INFINITY.to_le_bytes().to_vec(),
                    f64::INFINITY.to_le_bytes().to_vec(),
                ),
                _ => continue,
            };
            let nulls = values.values[rows.clone()]
                .iter()
                .filter(|v| v.is_none())
                .count();
            let all_null = nulls == rows.len();
            // An all-null chunk has no bounds to lie about.
            (stats.min_value, stats.max_value) = match all_null {
                true => (None, None),
                false => (Some(extremes.0), Some(extremes.1)),
            };
            (stats.min, stats.max) = (None, None);
            (stats.is_min_value_exact, stats.is_max_value_exact) = (None, None);
            stats.null_count = Some(nulls as i64);
        }
    }
    let mut out = Vec::with_capacity(len);
    {
        let mut protocol = TCompactOutputProtocol::new(&mut out);
        md.write_to_out_protocol(&mut protocol)
            .map_err(|e| anyhow::anyhow!("writing the footer of {}: {e:?}", path.display()))?;
        protocol.flush()?;
    }
    let mut file = bytes[..start].to_vec();
    file.extend_from_slice(&out);
    file.extend_from_slice(&(out.len() as u32).to_le_bytes());
    file.extend_from_slice(b"PAR1");
    std::fs::write(path, file)?;
    Ok(())
}
