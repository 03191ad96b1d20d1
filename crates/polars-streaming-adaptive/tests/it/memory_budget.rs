//! Batches stay inside the memory budget, even when one row group is larger than the budget.

use crate::common;

use polars::prelude::*;
use polars_streaming_adaptive::{AdaptiveStreamingReader, MmapParquetReader};

const MIB: usize = 1 << 20;

#[test]
fn batches_keep_tracked_bytes_under_64_mib_on_gib_sized_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("giant.parquet");
    // 4 row groups of 10.5 M rows x 4 Int64 columns: about 336 MiB decoded each, 1.3 GiB in
    // all. Few distinct values keep the file small on disk (dictionary encoded).
    let rows_per_group = 10_500_000usize;
    let n = 4 * rows_per_group;
    let col = |name: &str, m: i64| {
        Column::new(
            name.into(),
            (0..n as i64).map(|i| i % m).collect::<Vec<i64>>(),
        )
    };
    let mut df = DataFrame::new(
        n,
        vec![col("a", 1000), col("b", 7), col("c", 250), col("d", 3)],
    )
    .unwrap();
    let expected_sum: i64 = (0..n as i64).map(|i| i % 1000).sum();
    common::write_parquet(&mut df, &path, rows_per_group);
    drop(df);

    let file = MmapParquetReader::new(&path).unwrap();
    assert_eq!(file.num_row_groups(), 4);
    for rg in 0..4 {
        assert!(file.row_group_num_rows(rg) * 4 * 8 > 256 * MIB);
    }

    let reader = AdaptiveStreamingReader::new(&path)
        .unwrap()
        .with_memory_budget(64 * MIB);
    assert!(reader.estimate_memory_required() > 1024 * MIB);
    let (mut rows, mut sum) = (0usize, 0i64);
    for batch in reader.batches() {
        let batch = batch.unwrap();
        rows += batch.height();
        sum += batch.column("a").unwrap().i64().unwrap().sum().unwrap();
        assert!(reader.memory_manager().current_usage_bytes() <= 64 * MIB);
    }
    assert_eq!(rows, n);
    assert_eq!(sum, expected_sum);
    let peak = reader.memory_manager().peak_usage_bytes();
    assert!(peak <= 64 * MIB, "tracked peak {} MiB", peak / MIB);
    let m = reader.metrics();
    assert!(m.batches > 4, "row groups must be decoded in slices: {m}");
    assert!(m.max_batch_bytes as usize <= 64 * MIB, "{m}");
}

#[test]
fn budget_smaller_than_one_row_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.parquet");
    let mut df = df!("a" => [1i64, 2, 3], "b" => ["x", "y", "z"]).unwrap();
    common::write_parquet(&mut df, &path, 2);
    let reader = AdaptiveStreamingReader::new(&path)
        .unwrap()
        .with_memory_budget(4);
    let err = reader.collect().unwrap_err().to_string();
    assert!(
        err.contains("small.parquet") && err.contains("memory budget"),
        "{err}"
    );
    assert!(err.contains("row group 0"), "{err}");
}
