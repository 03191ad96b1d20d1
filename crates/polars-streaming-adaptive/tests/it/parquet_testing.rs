//! Every file of the shared parquet-testing corpus reads as stock Polars reads it, or fails
//! with an error where stock fails; nothing panics.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use polars_streaming_adaptive::AdaptiveStreamingReader;

/// Files stock `scan_parquet` reads and we answer with an error, each explained in
/// docs/ARCHITECTURE.md ("Known differences from stock Polars"): (file, text of our error).
/// Empty today; kept so that a new difference has to be named and explained, never skipped.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

#[test]
fn every_corpus_file_reads_like_stock_polars_or_errors_where_stock_does() {
    let Some(dir) = common::parquet_testing_dir() else {
        eprintln!("../shared/parquet-testing is absent: nothing to check");
        return;
    };
    let files = common::parquet_files(&dir);
    assert!(!files.is_empty());
    let (mut equal, mut both_err, mut known, mut failures) = (0, 0, 0, Vec::new());
    for path in &files {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let ours = catch_unwind(AssertUnwindSafe(|| {
            AdaptiveStreamingReader::new(path).and_then(|r| r.collect())
        }));
        let Ok(ours) = ours else {
            failures.push(format!("{name}: our reader panicked"));
            continue;
        };
        let stock = catch_unwind(AssertUnwindSafe(|| common::stock_read(path)));
        match (ours, stock) {
            (Ok(ours), Ok(Ok(stock))) => match common::same_frame(&ours, &stock) {
                Ok(()) => equal += 1,
                Err(diff) => failures.push(format!("{name}: {diff}")),
            },
            (Err(e), Ok(Ok(_)))
                if KNOWN_DIFFERENCES
                    .iter()
                    .any(|(f, msg)| *f == name && e.to_string().contains(msg)) =>
            {
                known += 1
            }
            (Err(e), Ok(Ok(stock))) => failures.push(format!(
                "{name}: stock reads it as {:?}, we fail: {e}",
                stock.schema()
            )),
            (Ok(_), Ok(Err(e))) => failures.push(format!("{name}: stock fails ({e}), we read it")),
            (Ok(_), Err(_)) => failures.push(format!("{name}: stock panics, we read it")),
            (Err(e), _) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(path.file_name().unwrap().to_str().unwrap()),
                    "{name}: error does not name the file: {msg}"
                );
                both_err += 1
            }
        }
    }
    eprintln!(
        "{} files: {equal} equal to stock, {both_err} errors where stock errors, {known} known differences",
        files.len()
    );
    assert_eq!(
        known,
        KNOWN_DIFFERENCES.len(),
        "a known difference is gone: update the list and the docs"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The file's footer says 0 rows while its one row group says 6 (and that row group does not
/// decode with Polars' nested decoder). Stock trusts the file's count; so do we.
#[test]
fn a_footer_row_count_below_its_row_groups_reads_like_stock() {
    let Some(dir) = common::parquet_testing_dir() else {
        return;
    };
    let path = dir.join("data/repeated_no_annotation.parquet");
    let ours = AdaptiveStreamingReader::new(&path)
        .unwrap()
        .collect()
        .unwrap();
    let stock = common::stock_read(&path).unwrap();
    assert_eq!(stock.height(), 0);
    common::same_frame(&ours, &stock).unwrap();
}
