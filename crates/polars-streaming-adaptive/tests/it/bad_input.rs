//! Bad input gets a `PolarsError` naming the file (and row group / column where known).

use crate::common;

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use polars_streaming_adaptive::{AdaptiveStreamingReader, ParallelStreamReader};

fn write_sample(path: &Path) {
    let mut df = df!("a" => (0..1000i64).collect::<Vec<_>>(), "s" => vec!["text"; 1000]).unwrap();
    common::write_parquet(&mut df, path, 100);
}

fn read_err(path: &Path) -> String {
    match AdaptiveStreamingReader::new(path).and_then(|r| r.collect()) {
        Ok(df) => panic!("{} read as {df}", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn non_parquet_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.parquet");
    std::fs::write(&path, "this is not parquet, just some text of some length").unwrap();
    let err = read_err(&path);
    assert!(
        err.contains("notes.parquet") && err.contains("not a Parquet file"),
        "{err}"
    );
}

#[test]
fn empty_and_tiny_files_are_not_parquet() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.parquet", &b""[..]),
        ("tiny.parquet", &b"PAR1PAR1"[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_err(&path);
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn truncated_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_sample(&path);
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() / 2, bytes.len() - 1, 20] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = read_err(&path);
        assert!(err.contains("t.parquet"), "{err}");
    }
}

#[test]
fn corrupt_footer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    write_sample(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    for b in &mut bytes[len - 8 - footer_len..len - 8 - footer_len / 2] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = read_err(&path);
    assert!(err.contains("f.parquet"), "{err}");
}

#[test]
fn corrupt_pages_fail_naming_row_group_and_column_or_read_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_sample(&path);
    let clean = std::fs::read(&path).unwrap();
    // Scramble data pages at several places: every outcome must be an error naming the file, or
    // exactly what stock Polars reads from the same bytes. Never a panic.
    for start in (4..clean.len() / 2).step_by(97) {
        let mut bytes = clean.clone();
        for b in &mut bytes[start..(start + 24).min(clean.len() / 2)] {
            *b ^= 0x5A;
        }
        std::fs::write(&path, &bytes).unwrap();
        match AdaptiveStreamingReader::new(&path).and_then(|r| r.collect()) {
            Ok(ours) => {
                let stock = std::panic::catch_unwind(|| common::stock_read(&path));
                if let Ok(Ok(stock)) = stock {
                    common::same_frame(&ours, &stock).unwrap();
                }
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("p.parquet"), "{msg}");
                if msg.contains("row group") {
                    assert!(msg.contains("column '"), "{msg}");
                }
            }
        }
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = read_err(Path::new("/nonexistent/dir/missing.parquet"));
    assert!(err.contains("missing.parquet"), "{err}");
}

#[test]
fn glob_without_match_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.parquet", dir.path().display());
    let err = ParallelStreamReader::from_glob(&pattern)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no Parquet file matches"), "{err}");
}

#[test]
fn unknown_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.parquet");
    write_sample(&path);
    let err = AdaptiveStreamingReader::new(&path)
        .unwrap()
        .with_projection(["nope"])
        .collect()
        .unwrap_err();
    assert!(matches!(err, PolarsError::ColumnNotFound(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("c.parquet") && msg.contains("'nope'"), "{msg}");
}

#[test]
fn schema_mismatch_across_files_names_the_file_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = df!("x" => [1i64, 2], "y" => ["a", "b"]).unwrap();
    let mut b = df!("x" => [1i32, 2], "y" => ["a", "b"]).unwrap();
    common::write_parquet(&mut a, &dir.path().join("1.parquet"), 10);
    common::write_parquet(&mut b, &dir.path().join("2.parquet"), 10);
    let reader =
        ParallelStreamReader::from_glob(&format!("{}/*.parquet", dir.path().display())).unwrap();
    let err = reader.collect_concatenated().unwrap_err();
    assert!(matches!(err, PolarsError::SchemaMismatch(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("2.parquet") && msg.contains("'x'"), "{msg}");
}

#[test]
fn file_changed_after_open_is_detected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.parquet");
    write_sample(&path);
    let reader = AdaptiveStreamingReader::new(&path).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"appended").unwrap();
    drop(f);
    let err = reader.collect().unwrap_err().to_string();
    assert!(
        err.contains("m.parquet") && err.contains("changed"),
        "{err}"
    );
}

#[test]
fn zero_row_file_reads_as_empty_frame_with_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.parquet");
    let mut df = df!("a" => Vec::<i64>::new(), "s" => Vec::<String>::new()).unwrap();
    common::write_parquet(&mut df, &path, 10);
    let ours = AdaptiveStreamingReader::new(&path)
        .unwrap()
        .collect()
        .unwrap();
    common::same_frame(&ours, &common::stock_read(&path).unwrap()).unwrap();
    assert_eq!(ours.height(), 0);
    assert_eq!(ours.width(), 2);
}

/// `path` with its footer re-serialized by arrow-rs after `forge` changed row group 0.
fn forge_footer(
    path: &Path,
    forge: impl Fn(
        parquet::file::metadata::RowGroupMetaData,
    ) -> parquet::file::metadata::RowGroupMetaData,
) {
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let start = len - 8 - footer_len;
    let md = ParquetMetaDataReader::decode_metadata(&bytes[start..len - 8]).unwrap();
    let mut builder = md.into_builder();
    let mut groups = builder.take_row_groups();
    groups[0] = forge(groups[0].clone());
    let md = builder.set_row_groups(groups).build();
    let mut out = bytes[..start].to_vec();
    ParquetMetaDataWriter::new(&mut out, &md).finish().unwrap();
    std::fs::write(path, out).unwrap();
}

/// Footers that lie about counts Polars' decoder sizes buffers from (rows, values): every
/// reader answers with an error naming the file, row group and column, where trusting them
/// asked the allocator for terabytes and aborted.
#[test]
fn forged_counts_are_errors_not_aborts_in_child() {
    if !common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let forgeries: [(&str, Box<dyn Fn(_) -> _>); 3] = [
        (
            "rows",
            Box::new(|rg: parquet::file::metadata::RowGroupMetaData| {
                rg.into_builder().set_num_rows(1 << 40).build().unwrap()
            }),
        ),
        (
            "values",
            Box::new(|rg: parquet::file::metadata::RowGroupMetaData| {
                let mut b = rg.into_builder();
                let mut cols = b.take_columns();
                cols[0] = cols[0]
                    .clone()
                    .into_builder()
                    .set_num_values(1 << 40)
                    .build()
                    .unwrap();
                b.set_column_metadata(cols).build().unwrap()
            }),
        ),
        (
            "rows and values",
            Box::new(|rg: parquet::file::metadata::RowGroupMetaData| {
                let mut b = rg.into_builder().set_num_rows(1 << 40);
                let mut cols = b.take_columns();
                for c in &mut cols {
                    *c = c
                        .clone()
                        .into_builder()
                        .set_num_values(1 << 40)
                        .build()
                        .unwrap();
                }
                b.set_column_metadata(cols).build().unwrap()
            }),
        ),
    ];
    for (what, forge) in forgeries {
        let path = dir.path().join("forged.parquet");
        write_sample(&path);
        forge_footer(&path, forge);
        let reads = [
            polars_streaming_adaptive::MmapParquetReader::new(&path)
                .and_then(|r| r.read_row_group(0)),
            AdaptiveStreamingReader::new(&path).and_then(|r| r.collect()),
            ParallelStreamReader::new(vec![path.clone()]).collect_concatenated(),
        ];
        for read in reads {
            let err = read.expect_err(what).to_string();
            assert!(
                err.contains("forged.parquet") && err.contains("row group 0"),
                "{what}: {err}"
            );
        }
    }
}

#[test]
fn forged_counts_are_errors_not_aborts() {
    common::run_test_in_child(
        "bad_input::forged_counts_are_errors_not_aborts_in_child",
        &[],
        std::time::Duration::from_secs(120),
    );
}

/// A footer whose file row count (500) is below its row group's (1,000): stock skips only files
/// whose count is 0, and reads every row group as its own count says. Found by `cargo xtask
/// fuzz`: clipping to the file's count lost rows.
#[test]
fn a_file_row_count_below_its_row_groups_reads_every_row_group_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.parquet");
    let mut df = df!("a" => (0..1000i64).collect::<Vec<_>>()).unwrap();
    common::write_parquet(&mut df, &path, 1000);
    // FileMetaData.num_rows (field 3, i64) precedes the row groups: its first encoding in the
    // footer, zigzag 2000 as a varint, becomes zigzag 1000, of the same length.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let footer = len - 8 - footer_len..len - 8;
    let at = bytes[footer.clone()]
        .windows(3)
        .position(|w| w == [0x16, 0xD0, 0x0F])
        .unwrap()
        + footer.start;
    bytes[at + 1..at + 3].copy_from_slice(&[0xE8, 0x07]);
    std::fs::write(&path, &bytes).unwrap();
    let md =
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&bytes[footer]).unwrap();
    assert_eq!(md.file_metadata().num_rows(), 500);
    assert_eq!(md.row_group(0).num_rows(), 1000);

    let stock = common::stock_read(&path).unwrap();
    assert_eq!(stock.height(), 1000);
    let reader = polars_streaming_adaptive::MmapParquetReader::new(&path).unwrap();
    for ours in [
        reader.read_row_group(0).unwrap(),
        AdaptiveStreamingReader::new(&path)
            .unwrap()
            .collect()
            .unwrap(),
        ParallelStreamReader::new(vec![path.clone()])
            .collect_concatenated()
            .unwrap(),
    ] {
        common::same_frame(&ours, &stock).unwrap();
    }
}
