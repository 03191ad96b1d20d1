//! Page-index pruning: on sorted columns written by arrow-rs with a page index and small
//! pages, a predicate reads only the rows whose pages, in each of its columns, may hold its
//! rows; answers equal stock's.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use polars::prelude::*;
use polars_streaming_adaptive::*;

const ROWS: i64 = 20_000;

/// Two row groups of 10 000 rows, pages of 500 rows: a sorted `k` (nulls in rows
/// 3 000..3 500, one whole page), a sorted timestamp, an unsorted string.
fn write(path: &Path) {
    let k: Vec<Option<i64>> = (0..ROWS)
        .map(|i| (!(3_000..3_500).contains(&i)).then_some(i * 3))
        .collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("k", Arc::new(Int64Array::from(k))),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..ROWS).map(|i| 1_700_000_000_000 + i * 1_000),
            )),
        ),
        (
            "s",
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("s{}", (i * 7919) % 1000)),
            )),
        ),
    ];
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(10_000))
        .set_data_page_row_count_limit(500)
        .set_write_batch_size(500)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    common::write_arrow_rs(path, columns, props);
}

/// Our answer equals stock's; returns the pages skipped and the rows decoded.
fn read(path: &Path, predicate: ExprPredicate, rows: usize) -> (u64, u64) {
    let reader = ParallelStreamReader::new(vec![path.to_path_buf()])
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(rows)));
    let m = common::filtered_like_stock(path, reader, predicate);
    (m.pages_skipped_by_page_index, m.rows_decoded)
}

#[test]
fn a_predicate_reads_only_the_rows_whose_pages_may_hold_its_rows_in_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sorted.parquet");
    write(&path);
    let ts = |ms: i64| lit(ms).cast(DataType::Datetime(TimeUnit::Milliseconds, None));
    // (predicate, rows decoded at most) with batches of 10 000 and of 333 rows (units that
    // start and end inside pages).
    let cases = [
        // Rows 1 000..1 100 of row group 0: one page.
        (
            col("k").is_between(lit(3_000i64), lit(3_297i64), ClosedInterval::Both),
            500,
        ),
        // The first row of a page and the last of the one before: two pages.
        (
            col("k").is_in(
                lit(Series::new("".into(), [1_497i64, 1_500])).implode(false),
                false,
            ),
            1_000,
        ),
        (col("k").gt_eq(lit(3 * (ROWS - 600))), 1_000),
        // The null page only.
        (col("k").is_null(), 500),
        (
            col("ts")
                .gt(ts(1_700_000_000_000 + 12_345_000))
                .and(col("ts").lt(ts(1_700_000_000_000 + 12_400_000))),
            500,
        ),
        // Outside every page of a row group whose statistics keep it.
        (col("k").eq(lit(1i64)), 500),
        // Two columns: rows 1 000.. by `k`, ..1 500 by `ts`; read where both allow, one page.
        (
            col("k")
                .gt_eq(lit(3_000i64))
                .and(col("ts").lt(ts(1_700_000_000_000 + 1_500_000))),
            500,
        ),
        // One column with a page index and one without (strings are not page-pruned).
        (col("k").lt(lit(30i64)).and(col("s").eq(lit("s7"))), 500),
    ];
    for rows in [10_000usize, 333] {
        for (p, most) in &cases {
            let (skipped, decoded) = read(&path, ExprPredicate::new(p.clone()), rows);
            assert!(skipped > 0, "{p}: no page skipped");
            assert!(decoded <= *most, "{p}: {decoded} rows decoded");
        }
    }
}

#[test]
fn pages_are_not_skipped_where_the_page_index_cannot_decide() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sorted.parquet");
    write(&path);
    let kept = [
        // A string column; an `or` of two columns, each of whose pages may pass through the
        // other.
        col("s").eq(lit("s7")),
        col("k")
            .lt(lit(30i64))
            .or(col("ts").gt(lit(0).cast(DataType::Datetime(TimeUnit::Milliseconds, None)))),
        // A predicate every page may satisfy.
        col("k").is_not_null().or(col("k").is_null()),
    ];
    for p in kept {
        let (skipped, _) = read(&path, ExprPredicate::new(p.clone()), 10_000);
        assert_eq!(skipped, 0, "{p}");
    }
    let off = ExprPredicate::new(col("k").eq(lit(3i64))).with_statistics(false);
    assert_eq!(read(&path, off, 10_000).0, 0);
}

/// parquet-mr flags the pages of a chunk written without statistics as all-null, with no null
/// counts; believing the flag skipped every page of `a.is_not_null()` (found by
/// `cargo xtask fuzz`, class `ours-only`, on the unmutated file).
#[test]
fn a_page_flagged_null_without_a_null_count_is_read() {
    let Some(dir) = common::parquet_testing_dir() else {
        eprintln!("../shared/parquet-testing is absent: nothing to check");
        return;
    };
    for name in [
        "datapage_v1-corrupt-checksum.parquet",
        "datapage_v1-uncompressed-checksum.parquet",
        "datapage_v1-snappy-compressed-checksum.parquet",
    ] {
        let path = dir.join("data").join(name);
        let (skipped, decoded) = read(&path, ExprPredicate::new(col("a").is_not_null()), 10_000);
        assert_eq!((skipped, decoded), (0, 5_120), "{name}");
    }
}

/// Polars 0.55.2's writer, with small data pages, counts nulls twice in its page index and in
/// the chunk statistics: a half-null page looks all-null, and believing it skipped the page's
/// values for `is_not_null()` (found by the difftest). A count above the rows, a page with a
/// value counted all-null, or page counts that do not add up to the chunk's are not believed.
#[test]
fn null_counts_that_contradict_the_values_or_the_rows_are_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("polars-small-pages.parquet");
    // The difftest's shrunk case: `.` a null, `0` a zero.
    let pattern = ".000000000000000.000000000000000....000000000000..000000000";
    let values: Vec<Option<i8>> = pattern.chars().map(|c| (c == '0').then_some(0)).collect();
    let mut df = df!("a" => values).unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(1_000))
        .with_data_page_size(Some(256))
        .with_statistics(StatisticsOptions::full())
        .finish(&mut df)
        .unwrap();
    for p in [
        col("a").is_not_null(),
        col("a").is_null(),
        col("a").eq(lit(0i8)),
    ] {
        for rows in [7usize, 1_000] {
            read(&path, ExprPredicate::new(p.clone()), rows);
        }
    }
}

/// A unit the page index narrowed to under half its row group decodes all its columns at once
/// and then filters (`Unit::narrowed`): with a row index the predicate reads, rows kept in
/// several runs, and units that start and end inside pages, the answer is stock's.
#[test]
fn narrowed_units_filter_all_their_columns_like_stock_with_a_row_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sorted.parquet");
    write(&path);
    let index = RowIndex {
        name: "idx".into(),
        offset: 7,
    };
    let cases = [
        // One run of rows.
        col("k").is_between(lit(3_000i64), lit(6_000i64), ClosedInterval::Both),
        // Several runs, and the row index in the predicate.
        col("k")
            .lt(lit(4_500i64))
            .and(col("idx").cast(DataType::Int64).gt(lit(100i64)))
            .and(col("s").neq(lit("s7"))),
    ];
    for p in cases {
        for rows in [10_000usize, 333] {
            let metrics = Arc::new(ScanMetrics::default());
            let ours = ParallelStreamReader::new(vec![path.clone()])
                .with_row_index(Some(index.clone()))
                .with_projection(["idx", "s", "ts"])
                .with_predicate(ExprPredicate::new(p.clone()))
                .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(rows)))
                .with_metrics(metrics.clone())
                .collect_concatenated()
                .unwrap();
            let stock = LazyFrame::scan_parquet(
                PlRefPath::try_from_path(&path).unwrap(),
                ScanArgsParquet {
                    row_index: Some(index.clone()),
                    ..Default::default()
                },
            )
            .unwrap()
            .filter(p.clone())
            .select([col("idx"), col("s"), col("ts")])
            .collect()
            .unwrap();
            common::same_frame(&ours, &stock).unwrap_or_else(|e| panic!("{p}: {e}"));
            let m = metrics.snapshot();
            assert!(m.pages_skipped_by_page_index > 0, "{p}: {m}");
            assert!(stock.height() > 0, "{p}");
        }
    }
}
