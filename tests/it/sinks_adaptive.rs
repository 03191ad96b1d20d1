//! Streaming sinks: `sink_parquet_adaptive` row groups and read-back, CSV and NDJSON bytes equal
//! to stock's writers on the plan's answer, and no file left behind by a failed run.

mod common;

use std::path::Path;

use common::{mixed, same_frame, stock, write, Layout};
use polars::prelude::*;
use polars_adaptive::exec::SinkParquetAdaptiveOptions;
use polars_adaptive::prelude::*;

fn dataset(dir: &Path, rows_per_file: usize) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    for i in 0..3 {
        let layout = Layout {
            row_group_size: 10_000,
            ..Layout::default()
        };
        write(
            &mut mixed(i * rows_per_file, rows_per_file),
            &data.join(format!("{i}.parquet")),
            layout,
        );
    }
    data.join("*.parquet")
}

fn query(lf: LazyFrame) -> LazyFrame {
    lf.filter(col("u8").gt(lit(20u8)))
        .select([col("id"), col("s"), col("f64"), col("d"), col("b")])
}

fn row_group_rows(path: &Path) -> Vec<usize> {
    let reader = MmapParquetReader::new(path).unwrap();
    (0..reader.num_row_groups())
        .map(|rg| reader.row_group_num_rows(rg))
        .collect()
}

#[test]
fn sink_parquet_writes_full_row_groups_and_reads_back_as_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 100_000);
    let expected = query(stock(&target)).collect().unwrap();
    for (options, min_rows) in [
        (SinkParquetAdaptiveOptions::default(), 100_000),
        (
            SinkParquetAdaptiveOptions::default().with_row_group_rows(7_000),
            7_000,
        ),
    ] {
        let out = dir.path().join("out.parquet");
        query(LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default()).unwrap())
            .sink_parquet_adaptive(&out, options)
            .unwrap();
        let rows = row_group_rows(&out);
        assert!(rows.len() > 1, "{rows:?}");
        assert!(
            rows[..rows.len() - 1].iter().all(|&r| r >= min_rows),
            "{rows:?}"
        );
        let back = stock(&out).collect().unwrap();
        same_frame(&back, &expected).unwrap();
    }
}

#[test]
fn sink_csv_and_ndjson_write_what_stock_writers_write_for_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 3_000);
    let mut expected = query(stock(&target)).collect().unwrap();
    let lf = || query(LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default()).unwrap());

    let csv = dir.path().join("out.csv");
    lf().sink_csv_adaptive(&csv).unwrap();
    let mut want = Vec::new();
    CsvWriter::new(&mut want)
        .include_header(true)
        .finish(&mut expected)
        .unwrap();
    assert!(std::fs::read(&csv).unwrap() == want, "CSV differs");

    let json = dir.path().join("out.ndjson");
    lf().sink_ndjson_adaptive(&json).unwrap();
    let mut want = Vec::new();
    JsonWriter::new(&mut want)
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut expected)
        .unwrap();
    assert!(std::fs::read(&json).unwrap() == want, "NDJSON differs");
}

#[test]
fn a_failed_sink_leaves_no_file_under_the_target_name() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 3_000);
    let out = dir.path().join("out.parquet");
    // A strict cast of non-numeric strings fails while batches are being written.
    let err = LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default())
        .unwrap()
        .select([col("id"), col("s").strict_cast(DataType::Int64)])
        .sink_parquet_adaptive(
            &out,
            SinkParquetAdaptiveOptions::default().with_row_group_rows(100),
        )
        .unwrap_err();
    assert!(!out.exists(), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_empty_answer_writes_a_file_with_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 1_000);
    let out = dir.path().join("empty.parquet");
    let q = |lf: LazyFrame| query(lf).filter(col("id").lt(lit(0i64)));
    q(LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default()).unwrap())
        .sink_parquet_adaptive(&out, SinkParquetAdaptiveOptions::default())
        .unwrap();
    same_frame(
        &stock(&out).collect().unwrap(),
        &q(stock(&target)).collect().unwrap(),
    )
    .unwrap();
}
