//! Helpers shared by the integration tests: stock Polars as the reference, and data writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// The shared parquet-testing corpus beside the project root, when it is there.
pub fn parquet_testing_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/parquet-testing");
    dir.is_dir().then_some(dir)
}

/// Every `.parquet` file below `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Stock Polars' answer: `scan_parquet(path).collect()`.
pub fn stock_read(path: &Path) -> PolarsResult<DataFrame> {
    LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, ScanArgsParquet::default())?.collect()
}

/// Same schema (names, order, dtypes) and the same values, nulls in the same places.
pub fn same_frame(ours: &DataFrame, stock: &DataFrame) -> Result<(), String> {
    if ours.schema() != stock.schema() {
        return Err(format!(
            "schemas differ:\n ours  {:?}\n stock {:?}",
            ours.schema(),
            stock.schema()
        ));
    }
    if ours.height() != stock.height() {
        return Err(format!(
            "heights differ: {} vs {}",
            ours.height(),
            stock.height()
        ));
    }
    if !ours.equals_missing(stock) {
        return Err(format!("values differ:\n ours  {ours}\n stock {stock}"));
    }
    Ok(())
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
