//! Helpers shared by the integration tests: stock Polars as the reference, and data writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// The shared parquet-testing corpus beside the project root, when it is there.
pub fn parquet_testing_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/parquet-testing");
    dir.is_dir().then_some(dir)
}

#[allow(unused_imports)]
pub use polars_streaming_adaptive::testing::{
    in_child, parquet_files, run_test_in_child, same_frame,
};

/// Stock Polars' answer: `scan_parquet(path).collect()`.
pub fn stock_read(path: &Path) -> PolarsResult<DataFrame> {
    LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, ScanArgsParquet::default())?.collect()
}

/// Reads `path` through `reader` (a `ParallelStreamReader` of that file, set up by the caller)
/// with `predicate`, checks that the answer equals stock's `scan_parquet(path).filter(..)`, and
/// returns what the reader counted.
pub fn filtered_like_stock(
    path: &Path,
    reader: polars_streaming_adaptive::ParallelStreamReader,
    predicate: polars_streaming_adaptive::ExprPredicate,
) -> polars_streaming_adaptive::ScanMetricsSnapshot {
    use polars_streaming_adaptive::{PredicatePushdown, ScanMetrics};
    let expr = predicate.expr().unwrap();
    let metrics = std::sync::Arc::new(ScanMetrics::default());
    let ours = reader
        .with_predicate(predicate)
        .with_metrics(metrics.clone())
        .collect_concatenated()
        .unwrap();
    let stock =
        LazyFrame::scan_parquet(PlRefPath::try_from_path(path).unwrap(), Default::default())
            .unwrap()
            .filter(expr.clone())
            .collect()
            .unwrap();
    same_frame(&ours, &stock).unwrap_or_else(|e| panic!("{expr}: {e}"));
    metrics.snapshot()
}

/// Writes `columns` as one record batch with arrow-rs' writer and its `props` (bloom
/// filters, page indexes and page sizes Polars' writer does not offer).
pub fn write_arrow_rs(
    path: &Path,
    columns: Vec<(&str, arrow::array::ArrayRef)>,
    props: parquet::file::properties::WriterProperties,
) {
    let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Writes `df` with Polars' writer, `row_group_size` rows per row group.
pub fn write_parquet(df: &mut DataFrame, path: &Path, row_group_size: usize) {
    let file = std::fs::File::create(path).unwrap();
    ParquetWriter::new(file)
        .with_row_group_size(Some(row_group_size))
        .with_statistics(StatisticsOptions::full())
        .finish(df)
        .unwrap();
}
