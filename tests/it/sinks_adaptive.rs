//! Streaming sinks: `sink_parquet_adaptive` row groups and read-back, CSV and NDJSON bytes equal
//! to stock's writers on the plan's answer, and no file left behind by a failed run.

use std::path::Path;

use crate::common::{mixed, same_frame, stock, write, Layout};
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

/// Files of `dir` whose name says they are a sink's temporary file.
fn temporary_files(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect()
}

/// Panics on the second batch it sees.
#[derive(Debug, Default)]
struct PanicOnSecondBatch(usize);

impl BatchOperator for PanicOnSecondBatch {
    fn process(&mut self, batch: DataFrame) -> PolarsResult<DataFrame> {
        self.0 += 1;
        assert!(self.0 < 2, "operator fails on batch {}", self.0);
        Ok(batch)
    }
}

#[test]
fn a_sink_that_panics_midway_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 3_000);
    let out = dir.path().join("out.csv");
    let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(500));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LazyFrame::scan_adaptive(&target, args)
            .unwrap()
            .adaptive()
            .with_operator(PanicOnSecondBatch::default())
            .sink_csv_adaptive(&out)
    }));
    assert!(
        run.is_err(),
        "the operator's panic did not reach the caller"
    );
    assert!(!out.exists());
    assert!(
        temporary_files(dir.path()).is_empty(),
        "{:?}",
        temporary_files(dir.path())
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_beside_the_target_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path(), 1_000);
    let out = dir.path().join("out.csv");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    // The name the sinks used to write to: `.<target>.<pid>.tmp`.
    let planted = dir
        .path()
        .join(format!(".out.csv.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default())
        .unwrap()
        .sink_csv_adaptive(&out)
        .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(out.metadata().unwrap().is_file());
    assert!(std::fs::symlink_metadata(&out)
        .unwrap()
        .file_type()
        .is_file());
}

#[test]
fn sinking_onto_a_file_the_plan_reads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    write(&mut mixed(0, 1_000), &input, Layout::default());
    let before = std::fs::read(&input).unwrap();
    let err = LazyFrame::scan_adaptive(&input, ScanArgsAdaptive::default())
        .unwrap()
        .filter(col("id").gt(lit(10i64)))
        .sink_parquet_adaptive(&input, SinkParquetAdaptiveOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("input of the plan"), "{err}");
    assert!(
        std::fs::read(&input).unwrap() == before,
        "the input changed"
    );
}
