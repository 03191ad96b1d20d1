//! Bloom-filter pruning on files arrow-rs writes with a filter on every column: each probed
//! physical type (decimals in INT32, INT64 and FIXED_LEN_BYTE_ARRAY too) hashes as the writer did (a value present in one row group skips the others),
//! answers equal stock's, and what is not probed is never skipped.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    Int8Array, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use parquet::file::properties::WriterProperties;
use polars::prelude::*;
use polars_streaming_adaptive::*;

const GROUPS: usize = 4;
const ROWS: usize = 1_000;

/// Row `i` holds `k = 4 * (i % 250) + i / 250` in every column (row group `i / 250`), so each
/// row group's min/max covers every other row group's values: statistics prune nothing.
fn write(path: &Path) {
    let k: Vec<i64> = (0..ROWS as i64)
        .map(|i| 4 * (i % 250) + i / 250 - 500)
        .collect();
    let strings: Vec<String> = k.iter().map(|v| format!("s{v}")).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from_iter_values(
                k.iter().map(|v| (*v / 8) as i8),
            )),
        ),
        (
            "i32",
            Arc::new(Int32Array::from_iter_values(k.iter().map(|v| *v as i32))),
        ),
        (
            "i64",
            Arc::new(Int64Array::from_iter_values(k.iter().copied())),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from_iter_values(
                k.iter().map(|v| (*v + 3_000_000_000) as u32),
            )),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from_iter_values(
                k.iter().map(|v| (*v as u64).wrapping_add(1 << 63)),
            )),
        ),
        (
            "date",
            Arc::new(Date32Array::from_iter_values(
                k.iter().map(|v| 19_000 + *v as i32),
            )),
        ),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                k.iter().map(|v| 1_700_000_000_000 + v),
            )),
        ),
        ("s", Arc::new(StringArray::from_iter_values(strings.iter()))),
        (
            "b",
            Arc::new(BinaryArray::from_iter_values(
                strings.iter().map(|s| s.as_bytes()),
            )),
        ),
        (
            "f",
            Arc::new(Float64Array::from_iter_values(k.iter().map(|v| *v as f64))),
        ),
        // Decimals k / 100 (scale 2), stored by arrow-rs as INT32 (precision 9), INT64 (18)
        // and FIXED_LEN_BYTE_ARRAY (30).
        ("d9", decimals(&k, 9)),
        ("d18", decimals(&k, 18)),
        ("d30", decimals(&k, 30)),
    ];
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROWS / GROUPS))
        .set_bloom_filter_enabled(true)
        .set_bloom_filter_fpp(0.0001)
        .build();
    common::write_arrow_rs(path, columns, props);
}

fn decimals(k: &[i64], precision: u8) -> ArrayRef {
    let unscaled = k
        .iter()
        .map(|v| *v as i128 * 1_000_000_007 % 10i128.pow(precision as u32 - 1));
    Arc::new(
        Decimal128Array::from_iter_values(unscaled)
            .with_precision_and_scale(precision, 2)
            .unwrap(),
    )
}

/// The value `k` gives the decimal column of `precision`, as a literal of its dtype.
fn decimal_lit(k: i64, precision: usize) -> Expr {
    let unscaled = k as i128 * 1_000_000_007 % 10i128.pow(precision as u32 - 1);
    lit(Scalar::new(
        DataType::Decimal(precision, 2),
        AnyValue::Decimal(unscaled, precision, 2),
    ))
}

/// Our answer (equal to stock's) and the row groups bloom filters skipped.
fn skipped(path: &Path, predicate: ExprPredicate) -> u64 {
    let expr = predicate.expr().unwrap();
    let reader = ParallelStreamReader::new(vec![path.to_path_buf()]);
    let m = common::filtered_like_stock(path, reader, predicate);
    assert_eq!(
        m.row_groups_pruned, 0,
        "{expr}: statistics must not prune here: {m}"
    );
    m.row_groups_skipped_by_bloom_filter
}

#[test]
fn bloom_filters_hash_every_probed_physical_type_as_arrow_rs_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bloom.parquet");
    write(&path);
    // k = -2 is only in row group 2; k = 7 only in row group 3.
    let k = -2i64;
    let one_group = [
        col("i32").eq(lit(k as i32)),
        col("i64").eq(lit(k)),
        // The literal's dtype differs from the column's: cast first, then hashed.
        col("i64").eq(lit(k as i32)),
        col("u32").eq(lit((k + 3_000_000_000) as u32)),
        col("u64").eq(lit((k as u64).wrapping_add(1 << 63))),
        col("date").eq(lit(19_000 + k as i32).cast(DataType::Date)),
        col("ts")
            .eq(lit(1_700_000_000_000 + k).cast(DataType::Datetime(TimeUnit::Milliseconds, None))),
        col("s").eq(lit(format!("s{k}"))),
        col("b").eq(lit(format!("s{k}").into_bytes())),
        col("d9").eq(decimal_lit(k, 9)),
        col("d18").eq(decimal_lit(k, 18)),
        col("d30").eq(decimal_lit(k, 30)),
        lit(format!("s{k}")).eq(col("s")),
        col("s")
            .eq(lit(format!("s{k}")))
            .and(col("f").gt(lit(-1000.0))),
    ];
    for p in one_group {
        assert_eq!(skipped(&path, ExprPredicate::new(p.clone())), 3, "{p}");
    }
    let two_groups = col("i64").is_in(
        lit(Series::new("".into(), [-2i64, 7])).implode(false),
        false,
    );
    assert_eq!(skipped(&path, ExprPredicate::new(two_groups)), 2);
    // A value in no row group (inside every row group's bounds) skips them all.
    assert_eq!(
        skipped(&path, ExprPredicate::new(col("s").eq(lit("s1x")))),
        4
    );
    // i8: every row group holds -1 (k / 8 for k in -8..-1 spans them all).
    assert_eq!(
        skipped(&path, ExprPredicate::new(col("i8").eq(lit(-1i8)))),
        0
    );
}

#[test]
fn what_bloom_filters_cannot_decide_is_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bloom.parquet");
    write(&path);
    let kept = [
        // Floats are not probed (`0.0 = -0.0` with other bits).
        col("f").eq(lit(-2.0)),
        // Only the conjunction's equalities prune: an `or`, a `not`, an inequality do not.
        col("i64").eq(lit(-2i64)).or(col("i64").eq(lit(100_000i64))),
        col("i64").eq(lit(100_000i64)).not(),
        col("i64").neq(lit(-2i64)),
        // A null in the list matches null rows with `nulls_equal`.
        col("i64").is_in(
            lit(Series::new("".into(), [Some(100_000i64), None])).implode(false),
            true,
        ),
    ];
    for p in kept {
        assert_eq!(skipped(&path, ExprPredicate::new(p.clone())), 0, "{p}");
    }
    // Statistics switched off switch bloom filters off too.
    let off = ExprPredicate::new(col("s").eq(lit("s1x"))).with_statistics(false);
    assert_eq!(skipped(&path, off), 0);
}

/// parquet-mr 1.13 and arrow-rs 49 (parquet-testing's files; Polars 0.55.2 writes no bloom
/// filters) hash strings as arrow-rs 60 does: every value the file holds keeps its row group,
/// values it does not hold (inside its bounds) are ruled out.
#[test]
fn bloom_filters_written_by_parquet_mr_and_older_arrow_rs_probe_alike() {
    let Some(dir) = common::parquet_testing_dir() else {
        eprintln!("../shared/parquet-testing is absent: nothing to check");
        return;
    };
    let held = [
        "Hello",
        "This is",
        "a",
        "test",
        "How",
        "are you",
        "doing ",
        "today",
        "the quick",
        "brown fox",
        "jumps",
        "over",
        "the lazy",
        "dog",
    ];
    let absent = ["Hellp", "I", "a test", "dogs", "quick", "doing"];
    for name in [
        "data_index_bloom_encoding_stats.parquet",
        "data_index_bloom_encoding_with_length.parquet",
    ] {
        let path = dir.join("data").join(name);
        for v in held {
            let p = ExprPredicate::new(col("String").eq(lit(v)));
            assert_eq!(skipped(&path, p), 0, "{name}: {v}");
        }
        for v in absent {
            let p = ExprPredicate::new(col("String").eq(lit(v)));
            assert_eq!(skipped(&path, p), 1, "{name}: {v}");
        }
    }
}

/// Polars 0.55.2's writer writes no bloom filters: on its files an equality with a value in
/// no row group (inside every row group's bounds) skips nothing by bloom filter, and reads
/// like stock.
#[test]
fn files_written_by_polars_carry_no_bloom_filter_and_skip_nothing_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("polars.parquet");
    let k: Vec<i64> = (0..ROWS as i64).map(|i| 4 * (i % 250) + i / 250).collect();
    let strings: Vec<String> = k.iter().map(|v| format!("s{v}")).collect();
    let mut df = df!("i64" => &k, "s" => &strings).unwrap();
    common::write_parquet(&mut df, &path, ROWS / GROUPS);
    for p in [col("i64").eq(lit(3i64)), col("s").eq(lit("s1x"))] {
        assert_eq!(skipped(&path, ExprPredicate::new(p.clone())), 0, "{p}");
    }
}
