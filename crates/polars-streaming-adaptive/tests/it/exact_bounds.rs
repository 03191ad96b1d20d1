//! Which footer bounds are values of their column (`ColumnStats::min_is_exact`): flagged exact
//! by the writer, or unflagged fixed-width bounds from a writer known to store actual values.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use parquet::file::properties::WriterProperties;
use polars::prelude::*;
use polars_streaming_adaptive::testing::patch_footer;
use polars_streaming_adaptive::MmapParquetReader;

use crate::common::{write_arrow_rs, write_parquet};

/// Five columns of every kind of bound, 3 row groups of 100 rows, some nulls.
fn frame() -> DataFrame {
    let n = 300i64;
    df!(
        "i64" => (0..n).map(|i| (i % 9 != 0).then_some(i * 7 - 500)).collect::<Vec<_>>(),
        "i32" => (0..n).map(|i| (i * 13 % 101) as i32).collect::<Vec<_>>(),
        "b" => (0..n).map(|i| i % 3 == 0).collect::<Vec<_>>(),
        "f" => (0..n).map(|i| i as f64 / 4.0).collect::<Vec<_>>(),
        "s" => (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_column(col("i32").cast(DataType::Date).alias("d"))
    .collect()
    .unwrap()
}

/// `(column, min exact, max exact)` of every column of every row group of `path`.
fn exactness(path: &Path) -> Vec<(String, bool, bool)> {
    let reader = MmapParquetReader::new(path).unwrap();
    reader
        .statistics()
        .iter()
        .flat_map(|rg| {
            rg.columns()
                .map(|(name, c)| (name.to_string(), c.min_is_exact(), c.max_is_exact()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn unflagged_fixed_width_bounds_of_a_known_writer_are_exact_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("polars.parquet");
    write_parquet(&mut frame(), &path, 100);
    let seen = exactness(&path);
    assert_eq!(seen.len(), 3 * 6);
    for (i, (name, min, max)) in seen.into_iter().enumerate() {
        // Polars' writer sets no exactness flag: integers, booleans, dates and floats are
        // values, but a zero float bound (the first row group's min of `f`) and strings are
        // bounds.
        let expected = match name.as_str() {
            "s" => (false, false),
            "f" if i < 6 => (false, true),
            _ => (true, true),
        };
        assert_eq!((min, max), expected, "{name} in row group {}", i / 6);
    }
}

#[test]
fn unflagged_bounds_of_an_unknown_writer_are_not_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unknown.parquet");
    write_parquet(&mut frame(), &path, 100);
    assert_eq!(patch_footer(&path, b"Polars", b"Pxlars"), 1);
    for (name, min, max) in exactness(&path) {
        assert!(!min && !max, "{name}");
    }
}

#[test]
fn flagged_bounds_are_exact_whoever_wrote_them_and_truncated_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flagged.parquet");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i", Arc::new(Int64Array::from_iter_values(0..1000))),
        (
            "s",
            Arc::new(StringArray::from_iter_values(
                (0..1000).map(|i| format!("value-{i:05}")),
            )),
        ),
    ];
    // arrow-rs flags every bound it writes; strings cut to 4 bytes are flagged inexact.
    let props = WriterProperties::builder()
        .set_created_by("a writer nobody knows".into())
        .set_statistics_truncate_length(Some(4))
        .build();
    write_arrow_rs(&path, columns, props);
    let seen = exactness(&path);
    assert_eq!(
        seen,
        vec![("i".into(), true, true), ("s".into(), false, false)]
    );
}
