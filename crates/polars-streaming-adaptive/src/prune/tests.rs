//! Statistics semantics, each case pinned: footer statistics built with arrow-rs, read into
//! `RowGroupStats`, and the pruning decision compared with what Polars' filter keeps.

use std::sync::Arc;

use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::SchemaDescriptor;
use polars::prelude::*;

use crate::file::statistics::{row_group_stats, Exactness, RowGroupStats};
use crate::prune::column::*;
use crate::prune::combine::*;
use crate::prune::predicate::*;

/// Statistics of a one-column row group of `rows` rows: `column` declared by the Parquet
/// message type `field`, read as Polars `dtype`.
fn stats(field: &str, dtype: DataType, rows: i64, s: Statistics) -> RowGroupStats {
    row_group(field, dtype, rows, Some(s))
}

fn no_stats(field: &str, dtype: DataType, rows: i64) -> RowGroupStats {
    row_group(field, dtype, rows, None)
}

fn row_group(field: &str, dtype: DataType, rows: i64, s: Option<Statistics>) -> RowGroupStats {
    let schema = parse_message_type(&format!("message m {{ {field}; }}")).unwrap();
    let descr = Arc::new(SchemaDescriptor::new(Arc::new(schema)));
    let name = descr.column(0).name().to_string();
    // The exactness flags a writer would state for these statistics, as the footer walk
    // (`file::exact_flags`) reads them from a real file.
    let flags = [s.as_ref().map_or((None, None), |s| {
        (Some(s.min_is_exact()), Some(s.max_is_exact()))
    })];
    let mut chunk = ColumnChunkMetaData::builder(descr.column(0));
    if let Some(s) = s {
        chunk = chunk.set_statistics(s);
    }
    let rg = RowGroupMetaData::builder(descr)
        .set_num_rows(rows)
        .set_column_metadata(vec![chunk.build().unwrap()])
        .build()
        .unwrap();
    let schema: Schema = [(PlSmallStr::from(name), dtype)].into_iter().collect();
    let exactness = Exactness {
        flags: Some(&flags),
        ..Exactness::default()
    };
    row_group_stats(0, &rg, &schema, exactness)
}

fn skips(p: impl PredicatePushdown, s: &RowGroupStats) -> bool {
    p.should_skip_row_group(s)
}

fn f64_stats(min: f64, max: f64, nulls: Option<u64>) -> Statistics {
    Statistics::double(Some(min), Some(max), None, nulls, false)
}

/// Whether Polars' filter keeps a row holding `value` for `predicate`.
fn polars_keeps(value: Series, predicate: &dyn PredicatePushdown) -> bool {
    let df = DataFrame::new(value.len(), vec![value.into_column()]).unwrap();
    predicate.apply(df).unwrap().height() > 0
}

#[test]
fn missing_statistics_keep_the_row_group() {
    let s = no_stats("required int64 a", DataType::Int64, 10);
    assert!(s.column("a").is_none());
    assert!(!skips(ComparisonPredicate::new("a", CmpOp::Eq, 5i64), &s));
    assert!(!skips(NullPredicate::is_null("a"), &s));
    assert!(!skips(
        NotPredicate::new(Arc::new(ComparisonPredicate::new("a", CmpOp::Eq, 5i64))),
        &s
    ));
}

#[test]
fn min_max_prune_integer_comparisons_with_literal_of_other_width() {
    let s = stats(
        "required int32 a",
        DataType::Int32,
        10,
        Statistics::int32(Some(10), Some(20), None, Some(0), false),
    );
    assert!(skips(ComparisonPredicate::new("a", CmpOp::Gt, 20i64), &s));
    assert!(!skips(
        ComparisonPredicate::new("a", CmpOp::GtEq, 20i64),
        &s
    ));
    assert!(skips(ComparisonPredicate::new("a", CmpOp::Lt, 10u8), &s));
    assert!(!skips(ComparisonPredicate::new("a", CmpOp::Eq, 15i16), &s));
    assert!(skips(RangePredicate::new("a", 21i64, 30i64), &s));
    assert!(skips(
        ColumnFilterPredicate::new("a", vec![1i32, 9, 21]),
        &s
    ));
    assert!(!skips(ColumnFilterPredicate::new("a", vec![1i32, 10]), &s));
}

#[test]
fn nan_in_float_statistics_is_not_a_bound() {
    let s = stats(
        "required double x",
        DataType::Float64,
        10,
        f64_stats(1.0, f64::NAN, Some(0)),
    );
    assert!(s.column("x").unwrap().max().is_none());
    assert!(!skips(ComparisonPredicate::new("x", CmpOp::Gt, 5.0), &s));
}

#[test]
fn pruning_keeps_row_group_whose_nan_values_writers_left_out_of_statistics() {
    // Writers leave NaN out of min/max: [1, 3] may still hold NaN rows.
    let s = stats(
        "required double x",
        DataType::Float64,
        10,
        f64_stats(1.0, 3.0, Some(0)),
    );
    let nan = Series::new("x".into(), [f64::NAN]);
    for (op, v) in [
        (CmpOp::Gt, 5.0),
        (CmpOp::Lt, 0.0),
        (CmpOp::Eq, f64::NAN),
        (CmpOp::NotEq, 2.0),
    ] {
        let p = ComparisonPredicate::new("x", op, v);
        if polars_keeps(nan.clone(), &p) {
            assert!(
                !skips(p, &s),
                "{op:?} {v}: NaN rows pass, the row group must be kept"
            );
        }
    }
    // A NaN count of zero makes the bounds complete.
    let exact = stats(
        "required double x",
        DataType::Float64,
        10,
        Statistics::Double(
            ValueStatistics::new(Some(1.0), Some(3.0), None, Some(0), false)
                .with_nan_count(Some(0)),
        ),
    );
    assert!(skips(ComparisonPredicate::new("x", CmpOp::Gt, 5.0), &exact));
}

#[test]
fn negative_zero_is_covered_by_zero_bounds() {
    // A writer that records +0.0 as the min of [-0.0, 1.0].
    let s = stats(
        "required double x",
        DataType::Float64,
        2,
        f64_stats(0.0, 1.0, Some(0)),
    );
    let p = ComparisonPredicate::new("x", CmpOp::Lt, 0.0);
    let keeps_neg_zero = polars_keeps(Series::new("x".into(), [-0.0f64]), &p);
    assert_eq!(skips(p, &s), !keeps_neg_zero);
    assert!(!skips(ComparisonPredicate::new("x", CmpOp::Eq, -0.0), &s));
}

#[test]
fn truncated_string_bounds_are_bounds_not_values() {
    // Values in ["abc…", "abd"), max truncated and rounded up to "abd".
    let st = ValueStatistics::new(
        Some(ByteArray::from("abc")),
        Some(ByteArray::from("abd")),
        None,
        Some(0),
        false,
    )
    .with_min_is_exact(false)
    .with_max_is_exact(false);
    let s = stats(
        "required binary s (STRING)",
        DataType::String,
        10,
        Statistics::ByteArray(st),
    );
    assert!(!s.column("s").unwrap().max_is_exact());
    assert!(!skips(ComparisonPredicate::new("s", CmpOp::Eq, "abcz"), &s));
    assert!(skips(ComparisonPredicate::new("s", CmpOp::Gt, "abd"), &s));
    assert!(skips(ComparisonPredicate::new("s", CmpOp::Lt, "abc"), &s));
    // min == max as inexact bounds do not mean every value equals them.
    let same = ValueStatistics::new(
        Some(ByteArray::from("ab")),
        Some(ByteArray::from("ab")),
        None,
        Some(0),
        false,
    )
    .with_min_is_exact(false)
    .with_max_is_exact(false);
    let s = stats(
        "required binary s (STRING)",
        DataType::String,
        10,
        Statistics::ByteArray(same),
    );
    assert!(!skips(
        ComparisonPredicate::new("s", CmpOp::NotEq, "ab"),
        &s
    ));
}

#[test]
fn non_ascii_strings_compare_bytewise_like_polars() {
    let st = ValueStatistics::new(
        Some(ByteArray::from("zebra")),
        Some(ByteArray::from("ĉapelo")),
        None,
        Some(0),
        false,
    );
    let s = stats(
        "required binary s (STRING)",
        DataType::String,
        10,
        Statistics::ByteArray(st),
    );
    assert!(!skips(ComparisonPredicate::new("s", CmpOp::Eq, "été"), &s));
    assert!(skips(ComparisonPredicate::new("s", CmpOp::Eq, "apple"), &s));
}

#[test]
fn deprecated_string_statistics_are_ignored() {
    // Old writers filled `min`/`max` with a signed byte order: wrong for non-ASCII strings.
    let st = ValueStatistics::new(
        Some(ByteArray::from("b")),
        Some(ByteArray::from("c")),
        None,
        Some(0),
        true,
    );
    let s = stats(
        "required binary s (UTF8)",
        DataType::String,
        10,
        Statistics::ByteArray(st),
    );
    assert!(s.column("s").unwrap().min().is_none());
    assert!(!skips(ComparisonPredicate::new("s", CmpOp::Eq, "é"), &s));
}

#[test]
fn unsigned_statistics_are_read_unsigned() {
    // Values [1, u32::MAX] with the unsigned order: min 1, max stored as the i32 -1.
    let s = stats(
        "required int32 a (INTEGER(32,false))",
        DataType::UInt32,
        2,
        Statistics::int32(Some(1), Some(-1), None, Some(0), false),
    );
    assert_eq!(
        s.column("a").unwrap().max().unwrap().value(),
        &AnyValue::UInt32(u32::MAX)
    );
    assert!(!skips(ComparisonPredicate::new("a", CmpOp::Gt, 100u32), &s));
    assert!(skips(ComparisonPredicate::new("a", CmpOp::Lt, 1u32), &s));
    // The same values compared signed (deprecated writers): min -1, max 1 -> dropped.
    let s = stats(
        "required int32 a (INTEGER(32,false))",
        DataType::UInt32,
        2,
        Statistics::int32(Some(-1), Some(1), None, Some(0), false),
    );
    assert!(s.column("a").unwrap().min().is_none());
    assert!(!skips(ComparisonPredicate::new("a", CmpOp::Gt, 100u32), &s));
}

#[test]
fn signed_statistics_keep_negative_values() {
    let s = stats(
        "required int64 a",
        DataType::Int64,
        2,
        Statistics::int64(Some(-5), Some(-1), None, Some(0), false),
    );
    assert!(skips(ComparisonPredicate::new("a", CmpOp::GtEq, 0i64), &s));
    assert!(!skips(ComparisonPredicate::new("a", CmpOp::Lt, -4i64), &s));
}

#[test]
fn date_statistics_compare_with_date_literals() {
    let s = stats(
        "required int32 d (DATE)",
        DataType::Date,
        2,
        Statistics::int32(Some(19_000), Some(19_010), None, Some(0), false),
    );
    let date = |days: i32| Scalar::new(DataType::Date, AnyValue::Date(days));
    assert!(skips(
        ComparisonPredicate::new("d", CmpOp::Gt, date(19_010)),
        &s
    ));
    assert!(!skips(
        ComparisonPredicate::new("d", CmpOp::Eq, date(19_005)),
        &s
    ));
}

#[test]
fn timestamp_statistics_honour_units_and_time_zones() {
    let tz = Some(TimeZone::UTC);
    let dtype = DataType::Datetime(TimeUnit::Milliseconds, tz.clone());
    let s = stats(
        "required int64 t (TIMESTAMP(MILLIS,true))",
        dtype,
        2,
        Statistics::int64(Some(1_000), Some(2_000), None, Some(0), false),
    );
    let us = |v: i64| {
        Scalar::new(
            DataType::Datetime(TimeUnit::Microseconds, tz.clone()),
            AnyValue::DatetimeOwned(v, TimeUnit::Microseconds, tz.clone().map(Arc::new)),
        )
    };
    assert!(skips(
        ComparisonPredicate::new("t", CmpOp::Gt, us(2_500_000)),
        &s
    ));
    assert!(!skips(
        ComparisonPredicate::new("t", CmpOp::Gt, us(1_500_000)),
        &s
    ));
    // A unit the file does not state is not trusted.
    let s = stats(
        "required int64 t",
        DataType::Datetime(TimeUnit::Nanoseconds, None),
        2,
        Statistics::int64(Some(1), Some(2), None, Some(0), false),
    );
    assert!(s.column("t").unwrap().min().is_none());
}

#[test]
fn decimal_statistics_are_scaled_integers() {
    let s = stats(
        "required int64 p (DECIMAL(10,2))",
        DataType::Decimal(10, 2),
        2,
        Statistics::int64(Some(100), Some(250), None, Some(0), false),
    );
    let dec = |v: i128| Scalar::new(DataType::Decimal(10, 2), AnyValue::Decimal(v, 10, 2));
    assert!(skips(
        ComparisonPredicate::new("p", CmpOp::Gt, dec(300)),
        &s
    ));
    assert!(!skips(
        ComparisonPredicate::new("p", CmpOp::Gt, dec(200)),
        &s
    ));
    let be = |v: i64| FixedLenByteArray::from(v.to_be_bytes()[4..].to_vec());
    let st = ValueStatistics::new(Some(be(-100)), Some(be(50)), None, Some(0), false);
    let s = stats(
        "required fixed_len_byte_array(4) p (DECIMAL(9,2))",
        DataType::Decimal(9, 2),
        2,
        Statistics::FixedLenByteArray(st),
    );
    assert_eq!(
        s.column("p").unwrap().min().unwrap().value(),
        &AnyValue::Decimal(-100, 9, 2)
    );
}

#[test]
fn null_count_absent_is_not_zero() {
    let absent = stats(
        "optional int64 a",
        DataType::Int64,
        10,
        Statistics::int64(Some(1), Some(2), None, None, false),
    );
    assert!(!skips(NullPredicate::is_null("a"), &absent));
    assert!(!skips(NullPredicate::is_not_null("a"), &absent));
    let zero = stats(
        "optional int64 a",
        DataType::Int64,
        10,
        Statistics::int64(Some(1), Some(2), None, Some(0), false),
    );
    assert!(skips(NullPredicate::is_null("a"), &zero));
    assert!(!skips(NullPredicate::is_not_null("a"), &zero));
}

#[test]
fn statistics_with_more_nulls_than_rows_are_not_used() {
    // Found by the difftest (seed 4242) in a file written by Polars 0.55.2 with small pages:
    // 110 nulls claimed for a row group of 55 rows, one of which holds a value.
    let s = stats(
        "optional binary a (STRING)",
        DataType::String,
        55,
        Statistics::byte_array(None, None, None, Some(110), false),
    );
    assert!(s.column("a").is_none());
    assert!(!skips(NullPredicate::is_not_null("a"), &s));
    assert!(!skips(NullPredicate::is_null("a"), &s));
}

#[test]
fn all_null_row_group_is_kept_only_for_is_null() {
    let s = stats(
        "optional int64 a",
        DataType::Int64,
        10,
        Statistics::int64(None, None, None, Some(10), false),
    );
    assert!(skips(ComparisonPredicate::new("a", CmpOp::Eq, 1i64), &s));
    assert!(skips(ComparisonPredicate::new("a", CmpOp::NotEq, 1i64), &s));
    assert!(skips(NullPredicate::is_not_null("a"), &s));
    assert!(!skips(NullPredicate::is_null("a"), &s));
    // NOT(a == 1) is null on null rows: nothing passes either.
    assert!(skips(
        NotPredicate::new(Arc::new(ComparisonPredicate::new("a", CmpOp::Eq, 1i64))),
        &s
    ));
}

#[test]
fn not_prunes_only_where_every_row_makes_the_child_true() {
    let single = stats(
        "required int64 a",
        DataType::Int64,
        10,
        Statistics::int64(Some(7), Some(7), None, Some(0), false),
    );
    let eq7: Arc<dyn PredicatePushdown> = Arc::new(ComparisonPredicate::new("a", CmpOp::Eq, 7i64));
    assert!(skips(NotPredicate::new(eq7.clone()), &single));
    let range = stats(
        "required int64 a",
        DataType::Int64,
        10,
        Statistics::int64(Some(1), Some(9), None, Some(0), false),
    );
    assert!(!skips(NotPredicate::new(eq7.clone()), &range));
    // NOT(a < 10 AND a > 0) over [1, 9]: every row makes the conjunction true.
    let both = AndPredicate::new(vec![
        Arc::new(ComparisonPredicate::new("a", CmpOp::Lt, 10i64)),
        Arc::new(ComparisonPredicate::new("a", CmpOp::Gt, 0i64)),
    ]);
    assert!(skips(NotPredicate::new(Arc::new(both)), &range));
    let either = OrPredicate::new(vec![
        Arc::new(ComparisonPredicate::new("a", CmpOp::Gt, 100i64)),
        eq7,
    ]);
    assert!(!skips(either, &single.clone()));
}
