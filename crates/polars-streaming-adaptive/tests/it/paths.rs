//! What a path names: existing files literally (glob characters and non-UTF-8 bytes included),
//! globs otherwise; files with the same columns in another order stack like the first.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars_streaming_adaptive::{expand_paths, ParallelStreamReader};

use crate::common;

fn write(dir: &Path, name: &std::ffi::OsStr, df: &mut DataFrame) -> PathBuf {
    let path = dir.join(name);
    common::write_parquet(df, &path, 10);
    path
}

fn ids(range: std::ops::Range<i64>) -> DataFrame {
    df!("id" => range.clone().collect::<Vec<_>>(), "x" => range.map(|i| i * 2).collect::<Vec<_>>())
        .unwrap()
}

#[test]
fn a_file_name_with_glob_characters_is_read_literally() {
    let dir = tempfile::tempdir().unwrap();
    // As a glob, `prices[1]*?.parquet` would match the decoy and not itself.
    let literal = write(dir.path(), "prices[1]*?.parquet".as_ref(), &mut ids(0..30));
    write(dir.path(), "prices1ab.parquet".as_ref(), &mut ids(100..130));
    assert_eq!(expand_paths(&literal).unwrap(), vec![literal.clone()]);
    let df = ParallelStreamReader::from_glob(literal.to_str().unwrap())
        .unwrap()
        .collect_concatenated()
        .unwrap();
    common::same_frame(&df, &ids(0..30)).unwrap();
}

#[test]
fn a_glob_still_matches_when_no_file_has_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "prices1a.parquet".as_ref(), &mut ids(0..30));
    let b = write(dir.path(), "prices1b.parquet".as_ref(), &mut ids(30..60));
    let pattern = dir.path().join("prices[1]?.parquet");
    assert_eq!(expand_paths(&pattern).unwrap(), vec![a, b]);
}

#[cfg(unix)]
#[test]
fn a_non_utf8_file_name_is_read_and_its_path_column_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9[1].parquet");
    let path = write(dir.path(), name, &mut ids(0..30));
    assert_eq!(expand_paths(&path).unwrap(), vec![path.clone()]);
    let df = ParallelStreamReader::new(vec![path.clone()])
        .collect_concatenated()
        .unwrap();
    common::same_frame(&df, &ids(0..30)).unwrap();
    let err = ParallelStreamReader::new(vec![path])
        .with_include_file_paths(Some("file".into()))
        .collect_concatenated()
        .unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn files_with_the_same_columns_in_another_order_stack_in_the_first_files_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "a.parquet".as_ref(), &mut ids(0..30));
    let swapped = ids(30..60).select(["x", "id"]).unwrap();
    let second = write(dir.path(), "b.parquet".as_ref(), &mut swapped.clone());
    let df = ParallelStreamReader::new(vec![first, second])
        .collect_concatenated()
        .unwrap();
    common::same_frame(&df, &ids(0..60)).unwrap();
}
