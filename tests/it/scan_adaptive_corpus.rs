//! `scan_adaptive(file).collect()` over every file of the shared parquet-testing corpus: equal
//! to stock `scan_parquet` where stock reads the file, an error where stock errors, no panic.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use polars::prelude::*;
use polars_adaptive::prelude::*;

#[test]
fn every_corpus_file_scans_like_stock_or_errors_where_stock_does() {
    let Some(dir) = common::parquet_testing_dir() else {
        eprintln!("../shared/parquet-testing is absent: nothing to check");
        return;
    };
    let files = polars_adaptive::testing::parquet_files(&dir);
    assert!(!files.is_empty());
    let (mut equal, mut both_err, mut failures) = (0, 0, Vec::new());
    for path in &files {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let ours = catch_unwind(AssertUnwindSafe(|| {
            LazyFrame::scan_adaptive(path, ScanArgsAdaptive::default()).and_then(|lf| lf.collect())
        }));
        let Ok(ours) = ours else {
            failures.push(format!("{name}: scan_adaptive panicked"));
            continue;
        };
        let theirs = catch_unwind(AssertUnwindSafe(|| common::stock(path).collect()));
        match (ours, theirs) {
            (Ok(a), Ok(Ok(b))) => match common::same_frame(&a, &b) {
                Ok(()) => equal += 1,
                Err(d) => failures.push(format!("{name}: {d}")),
            },
            (Err(e), Ok(Ok(_))) => failures.push(format!("{name}: stock reads it, we fail: {e}")),
            (Ok(_), _) => failures.push(format!("{name}: we read it, stock does not")),
            (Err(_), _) => both_err += 1,
        }
    }
    eprintln!(
        "{} files: {equal} equal to stock, {both_err} errors where stock errors",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
