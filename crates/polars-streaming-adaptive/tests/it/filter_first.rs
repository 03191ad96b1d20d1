//! Filter-first decoding: the predicate's columns are decoded first and the others only for
//! the rows it keeps. Every answer is compared with stock Polars' `scan_parquet().filter()`.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use polars_streaming_adaptive::*;

const ROWS: usize = 6_000;

/// Dictionary and plain strings, integers, floats with NaN, a list column and nulls in each,
/// in row groups of 2 000 rows and small pages (so that masks skip pages).
fn write_dataset(path: &Path) {
    let mix = |i: usize, s: usize| ((i ^ s).wrapping_mul(0x9E37_79B9) >> 7) % 1000;
    let k: Vec<Option<i64>> = (0..ROWS)
        .map(|i| (mix(i, 1) % 13 != 0).then_some(i as i64))
        .collect();
    let side: Vec<Option<&str>> = (0..ROWS)
        .map(|i| [Some("BUY"), Some("SELL"), None, Some("BUY")][mix(i, 2) % 4])
        .collect();
    let name: Vec<Option<String>> = (0..ROWS)
        .map(|i| (mix(i, 3) % 11 != 0).then(|| format!("n{:05}", mix(i, 4) * 7 + i)))
        .collect();
    let f: Vec<Option<f64>> = (0..ROWS)
        .map(|i| match mix(i, 5) % 17 {
            0 => None,
            1 => Some(f64::NAN),
            v => Some(v as f64 - 8.5),
        })
        .collect();
    let list: Vec<Option<Series>> = (0..ROWS)
        .map(|i| (mix(i, 6) % 7 != 0).then(|| Series::new("".into(), vec![i as i32; i % 3])))
        .collect();
    let mut df = df!(
        "k" => k,
        "side" => side,
        "name" => name,
        "f" => f,
        "list" => list,
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .with_row_group_size(Some(2_000))
        .with_data_page_size(Some(1 << 10))
        .with_statistics(StatisticsOptions::full())
        .finish(&mut df)
        .unwrap();
}

fn stock(path: &Path, predicate: &Expr, projection: &[&str]) -> DataFrame {
    LazyFrame::scan_parquet(PlRefPath::try_from_path(path).unwrap(), Default::default())
        .unwrap()
        .filter(predicate.clone())
        .select(projection.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .collect()
        .unwrap()
}

/// Every prunable predicate form, on each kind of column, and their combinations.
fn predicates() -> Vec<Expr> {
    vec![
        col("k").eq(lit(1234i64)),
        col("k").neq(lit(1234i64)),
        col("k").lt(lit(300i64)),
        col("k").lt_eq(lit(2999i64)),
        col("k").gt(lit(5990i64)),
        col("k").gt_eq(lit(2000i64)),
        col("k").is_between(lit(1990i64), lit(2010i64), ClosedInterval::Both),
        col("k").is_in(
            lit(Series::new("".into(), [5i64, 77, 4001])).implode(false),
            false,
        ),
        col("k").is_null(),
        col("k").is_not_null(),
        col("side").eq(lit("BUY")),
        col("side").neq(lit("SELL")),
        col("side").is_null(),
        col("name").gt(lit("n05")),
        col("name").str().starts_with(lit("n01")),
        col("f").is_nan(),
        col("f").is_not_nan(),
        col("f").gt(lit(0.0)),
        col("f").lt_eq(lit(-8.0)),
        col("side")
            .eq(lit("BUY"))
            .and(col("f").gt(lit(2.0)).or(col("k").lt(lit(100i64)))),
        col("side").eq(lit("SELL")).not(),
        col("k").gt(lit(1_000_000i64)),
        // Conjunctions of one-column parts, which the decoder evaluates per column (on the
        // dictionary for strings): equality, sets, ranges, prefixes and suffixes.
        col("side").is_in(
            lit(Series::new("".into(), ["BUY", "HOLD"])).implode(false),
            false,
        ),
        col("k")
            .gt(lit(100i64))
            .and(col("side").eq(lit("BUY")))
            .and(col("f").is_between(lit(-3.0), lit(3.0), ClosedInterval::Both)),
        col("name")
            .str()
            .ends_with(lit("7"))
            .and(col("k").lt(lit(4000i64))),
        col("k").eq(lit(1234i64)).and(col("f").is_not_nan()),
        col("side").eq(lit("HOLD")),
        lit(true),
        // Keeps the null rows only once `is_in([])` folds to `false`, as the optimizer does
        // for a filter (found by `pruning_soundness`).
        col("k")
            .is_in(
                lit(Series::new_empty("".into(), &DataType::Int64)).implode(false),
                false,
            )
            .and(col("k").is_null())
            .not(),
    ]
}

fn check(path: &Path, projection: &[&str], strategy: Arc<dyn ChunkStrategy>) {
    for p in predicates() {
        let expected = stock(path, &p, projection);
        let ours = ParallelStreamReader::new(vec![path.to_path_buf()])
            .with_projection(projection.iter().copied())
            .with_predicate(ExprPredicate::new(p.clone()))
            .with_chunk_strategy(strategy.clone())
            .collect_concatenated()
            .unwrap();
        common::same_frame(&ours, &expected).unwrap_or_else(|e| panic!("parallel, {p}: {e}"));
        let mut reader = AdaptiveStreamingReader::new(path)
            .unwrap()
            .with_projection(projection.iter().copied())
            .with_chunk_strategy(strategy.clone());
        reader.with_predicate(ExprPredicate::new(p.clone()));
        let ours = reader.collect().unwrap();
        common::same_frame(&ours, &expected).unwrap_or_else(|e| panic!("adaptive, {p}: {e}"));
    }
}

#[test]
fn filter_first_decode_equals_stock_for_every_predicate_form_and_column_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.parquet");
    write_dataset(&path);
    let all = ["k", "side", "name", "f", "list"];
    // Whole row groups, and units that start and end inside row groups and pages.
    for strategy in [
        Arc::new(FixedChunkStrategy::new(2_000)) as Arc<dyn ChunkStrategy>,
        Arc::new(FixedChunkStrategy::new(777)),
    ] {
        check(&path, &all, strategy.clone());
        // The predicate's columns left out of the output.
        check(&path, &["list", "name"], strategy.clone());
        check(&path, &["f"], strategy);
    }
}

#[test]
fn filter_first_decode_handles_a_predicate_on_the_row_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.parquet");
    write_dataset(&path);
    let index = RowIndex {
        name: "idx".into(),
        offset: 10,
    };
    let p = col("idx")
        .gt_eq(lit(2_500 as IdxSize))
        .and(col("side").eq(lit("BUY")));
    let ours = ParallelStreamReader::new(vec![path.clone()])
        .with_row_index(Some(index.clone()))
        .with_projection(["idx", "k", "list"])
        .with_predicate(ExprPredicate::new(p.clone()))
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(777)))
        .collect_concatenated()
        .unwrap();
    let expected = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&path).unwrap(),
        ScanArgsParquet {
            row_index: Some(index),
            ..Default::default()
        },
    )
    .unwrap()
    .filter(p)
    .select([col("idx"), col("k"), col("list")])
    .collect()
    .unwrap();
    common::same_frame(&ours, &expected).unwrap();
}

/// A predicate that only Polars' `apply` knows: the reader decodes every column whole.
#[derive(Debug)]
struct Opaque(ExprPredicate);

impl PredicatePushdown for Opaque {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        self.0.should_skip_row_group(stats)
    }
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        self.0.apply(df)
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        self.0.columns()
    }
}

#[test]
fn filter_first_decode_decodes_other_columns_only_for_kept_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.parquet");
    write_dataset(&path);
    // About 1 row in 1 000 kept, and no row group pruned (k has nulls everywhere, the
    // values are spread over every row group).
    let p = col("k").is_in(
        lit(Series::new("".into(), [5i64, 2777, 4001])).implode(false),
        false,
    );
    let read = |predicate: Arc<dyn PredicatePushdown>| {
        let metrics = Arc::new(ScanMetrics::default());
        let df = ParallelStreamReader::new(vec![path.clone()])
            .with_projection(["k", "side", "name", "f", "list"])
            .with_predicate(predicate)
            .with_metrics(metrics.clone())
            .collect_concatenated()
            .unwrap();
        (df, metrics.snapshot())
    };
    let (first, filtered) = read(Arc::new(ExprPredicate::new(p.clone())));
    let (whole, unfiltered) = read(Arc::new(Opaque(ExprPredicate::new(p))));
    common::same_frame(&first, &whole).unwrap();
    assert!(first.height() > 0);
    assert_eq!(filtered.rows_output as usize, first.height());
    assert_eq!(filtered.rows_decoded, unfiltered.rows_decoded);
    // Only `k` is decoded for every row: the other columns hold a few rows.
    assert!(
        filtered.bytes_decoded * 4 < unfiltered.bytes_decoded,
        "filter-first decoded {} bytes, whole decode {}",
        filtered.bytes_decoded,
        unfiltered.bytes_decoded
    );
}

#[test]
fn column_predicates_are_evaluated_by_the_decoder_on_whole_row_groups_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.parquet");
    write_dataset(&path);
    let p = col("side").eq(lit("BUY")).and(col("k").gt(lit(100i64)));
    let read = |rows: usize, row_index: Option<RowIndex>| {
        let metrics = Arc::new(ScanMetrics::default());
        ParallelStreamReader::new(vec![path.clone()])
            .with_projection(["k", "name"])
            .with_predicate(ExprPredicate::new(p.clone()))
            .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(rows)))
            .with_row_index(row_index)
            .with_metrics(metrics.clone())
            .collect_concatenated()
            .unwrap();
        metrics.snapshot().row_groups_filtered_by_decoder
    };
    // Three row groups of 2 000 rows, each decoded whole.
    assert_eq!(read(2_000, None), 3);
    // Units inside row groups, and a row index (stock's guard), take the evaluating path.
    assert_eq!(read(777, None), 0);
    let index = RowIndex {
        name: "idx".into(),
        offset: 0,
    };
    assert_eq!(read(2_000, Some(index)), 0);
    // A disjunction of two columns is not a conjunction of one-column parts.
    let metrics = Arc::new(ScanMetrics::default());
    ParallelStreamReader::new(vec![path.clone()])
        .with_predicate(ExprPredicate::new(
            col("side").eq(lit("BUY")).or(col("k").gt(lit(100i64))),
        ))
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(2_000)))
        .with_metrics(metrics.clone())
        .collect_concatenated()
        .unwrap();
    assert_eq!(metrics.snapshot().row_groups_filtered_by_decoder, 0);
}
