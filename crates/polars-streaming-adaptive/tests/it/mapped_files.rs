//! Mapped files: a frame never points into the mapping it was decoded from, a file changed
//! under an open reader is an error, and `MmapMode::Never` reads what mapping reads. Whatever
//! could raise SIGBUS runs in a child process, so a regression fails one test instead of
//! killing the run.

use std::path::Path;
use std::time::Duration;

use polars::prelude::*;
use polars_streaming_adaptive::*;

use crate::common;

/// Every dtype family, with and without nulls, plain-encoded and uncompressed: the layout whose
/// pages reach the decoder as slices of the mapping, so whose decoded arrays could share them.
fn write_uncompressed(path: &Path) -> DataFrame {
    let n = 20_000usize;
    let s: Vec<String> = (0..n)
        .map(|i| format!("{i:08}-{}", "payload".repeat(4)))
        .collect();
    let mut df = df!(
        "id" => (0..n as i64).collect::<Vec<_>>(),
        "i32" => (0..n as i32).collect::<Vec<_>>(),
        "f64" => (0..n).map(|i| i as f64 * 0.25).collect::<Vec<_>>(),
        "u8" => (0..n).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        "opt" => (0..n).map(|i| (i % 3 != 0).then_some(i as i64)).collect::<Vec<_>>(),
        "b" => (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        "s" => s,
        "bin" => (0..n).map(|i| format!("{i:020}").into_bytes()).collect::<Vec<_>>(),
        "dict" => (0..n).map(|i| format!("category-number-{}", i % 5)).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_column(
        concat_list([col("id"), col("id") * lit(2i64)])
            .unwrap()
            .alias("list"),
    )
    .with_columns([
        col("i32").cast(DataType::Date).alias("date"),
        col("id").cast(DataType::Decimal(18, 2)).alias("dec"),
        col("id")
            .cast(DataType::Datetime(TimeUnit::Nanoseconds, None))
            .alias("ts"),
    ])
    .collect()
    .unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .with_compression(ParquetCompression::Uncompressed)
        .with_row_group_size(Some(5_000))
        .finish(&mut df)
        .unwrap();
    df
}

/// Reads every value of every column (so that any page a frame still points into is touched).
fn touch_everything(df: &DataFrame) -> Vec<(usize, usize)> {
    df.columns()
        .iter()
        .map(|c| {
            let s = c.as_materialized_series();
            let s = match s.dtype() {
                DataType::List(_) => s
                    .explode(ExplodeOptions {
                        empty_as_null: true,
                        keep_nulls: true,
                    })
                    .unwrap(),
                _ => s.clone(),
            };
            let s = s.cast(&DataType::String).unwrap();
            let s = s.str().unwrap();
            let bytes = s.iter().map(|v| v.map_or(0, str::len)).sum();
            (bytes, s.null_count())
        })
        .collect()
}

#[test]
fn a_frame_outlives_the_truncation_of_its_mapped_file_in_child() {
    if !common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.parquet");
    let expected = write_uncompressed(&path);
    let reader = MmapParquetReader::with_mode(&path, MmapMode::Always).unwrap();
    let frames: Vec<_> = (0..reader.num_row_groups())
        .map(|rg| reader.read_row_group(rg).unwrap())
        .collect();
    let streamed = AdaptiveStreamingReader::from_reader(
        MmapParquetReader::with_mode(&path, MmapMode::Always).unwrap(),
    )
    .collect()
    .unwrap();
    // Another process truncates the file: any page of the mapping touched now faults.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let read = polars_core::utils::accumulate_dataframes_vertical(frames).unwrap();
    assert_eq!(touch_everything(&read), touch_everything(&expected));
    assert_eq!(touch_everything(&streamed), touch_everything(&expected));
    common::same_frame(&read, &expected).unwrap();
    common::same_frame(&streamed, &expected).unwrap();
}

#[test]
fn a_frame_outlives_the_truncation_of_its_mapped_file() {
    common::run_test_in_child(
        "mapped_files::a_frame_outlives_the_truncation_of_its_mapped_file_in_child",
        &[],
        Duration::from_secs(120),
    );
}

#[test]
fn a_file_truncated_under_an_open_reader_is_an_error_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.parquet");
    for mode in [MmapMode::Always, MmapMode::Never, MmapMode::Auto] {
        write_uncompressed(&path);
        let reader = MmapParquetReader::with_mode(&path, mode).unwrap();
        reader.read_row_group(0).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let err = reader.read_row_group(1).unwrap_err().to_string();
        assert!(
            err.contains("plain.parquet") && err.contains("changed"),
            "{mode:?}: {err}"
        );
    }
}

#[test]
fn reading_without_a_mapping_equals_reading_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.parquet");
    write_uncompressed(&path);
    let mut files = vec![path];
    if let Some(corpus) = common::parquet_testing_dir() {
        files.extend(
            common::parquet_files(&corpus.join("data"))
                .into_iter()
                .take(40),
        );
    }
    for file in files {
        let read = |mode| {
            let reader = ParallelStreamReader::new(vec![file.clone()]).with_mmap_mode(mode);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                reader.collect_concatenated()
            }))
            .expect("a reader panicked")
            .map_err(|e| e.to_string())
        };
        match (read(MmapMode::Always), read(MmapMode::Never)) {
            (Ok(a), Ok(b)) => {
                common::same_frame(&a, &b).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{}", file.display()),
            (a, b) => panic!("{}: mapped {a:?}, read {b:?}", file.display()),
        }
    }
}
