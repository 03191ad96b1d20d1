//! The difftest can fail: a wrong pruning decision planted through the I/O layer's test hook
//! is reported, shrunk to a small case, and saved as a reproducer. Its own process, because
//! the hooks are process-wide (and the tests here take turns).

use std::sync::Mutex;

use polars_streaming_adaptive::test_hooks::{
    plant_shifted_page_ranges, plant_wrong_bloom, plant_wrong_pruning,
};
use xtask::difftest::spec::Tail;

static HOOKS: Mutex<()> = Mutex::new(());

#[test]
fn a_planted_wrong_pruning_decision_is_reported_and_shrunk() {
    let _turn = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let options = xtask::difftest::Options {
        cases: 300,
        seed: 0x5eed_d1ff,
        keep_failures: Some(keep.path().to_path_buf()),
    };
    plant_wrong_pruning(true);
    let result = xtask::difftest::run(&options, scratch.path());
    plant_wrong_pruning(false);
    let failure = result.expect_err("the planted bug went unnoticed");
    eprintln!("{}\n{:#?}", failure.message, failure.case);
    // Shrunk: the smallest data that shows the bug has two row groups, the second holding a
    // row the filter keeps; one filter, nothing after it.
    let data = &failure.case.data;
    assert!(data.rows() <= 4, "{} rows", data.rows());
    assert!(data.columns.len() == 1, "{} columns", data.columns.len());
    assert_eq!(failure.case.query.filters.len(), 1);
    assert!(matches!(failure.case.query.tail, Tail::None));
    let saved = failure.saved.expect("a reproducer");
    for file in ["case.json", "case.txt", "REPLAY"] {
        assert!(saved.join(file).is_file(), "{file} missing");
    }
    // The reproducer replays: failing while the bug is planted, passing once it is gone.
    plant_wrong_pruning(true);
    assert!(xtask::difftest::replay(&saved).is_err());
    plant_wrong_pruning(false);
    xtask::difftest::replay(&saved).unwrap();
}

#[test]
fn a_planted_bloom_probe_that_always_says_absent_is_reported() {
    let _turn = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let options = xtask::difftest::Options {
        cases: 300,
        seed: 0x5eed_d1ff,
        keep_failures: Some(keep.path().to_path_buf()),
    };
    plant_wrong_bloom(true);
    let result = xtask::difftest::run(&options, scratch.path());
    plant_wrong_bloom(false);
    let failure = result.expect_err("the planted bloom bug went unnoticed");
    eprintln!("{}\n{:#?}", failure.message, failure.case);
    // Shrunk to one filter (the data shrinks less than for the pruning bug: the probe is
    // only planted where a file has bloom filters, which the arrow-rs writer adds).
    assert_eq!(failure.case.query.filters.len(), 1);
    let saved = failure.saved.expect("a reproducer");
    plant_wrong_bloom(true);
    assert!(xtask::difftest::replay(&saved).is_err());
    plant_wrong_bloom(false);
    xtask::difftest::replay(&saved).unwrap();
}

#[test]
fn a_planted_page_range_off_by_one_is_reported() {
    let _turn = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let options = xtask::difftest::Options {
        cases: 300,
        seed: 0x5eed_d1ff,
        keep_failures: Some(keep.path().to_path_buf()),
    };
    plant_shifted_page_ranges(true);
    let result = xtask::difftest::run(&options, scratch.path());
    plant_shifted_page_ranges(false);
    let failure = result.expect_err("the planted page-range bug went unnoticed");
    eprintln!("{}\n{:#?}", failure.message, failure.case);
    assert_eq!(failure.case.query.filters.len(), 1);
    let saved = failure.saved.expect("a reproducer");
    plant_shifted_page_ranges(true);
    assert!(xtask::difftest::replay(&saved).is_err());
    plant_shifted_page_ranges(false);
    xtask::difftest::replay(&saved).unwrap();
}
