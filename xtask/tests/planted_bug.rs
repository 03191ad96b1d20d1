//! The difftest can fail: a wrong pruning decision planted through the I/O layer's test hooks
//! is reported, shrunk to a small case, and saved as a reproducer that replays. Its own
//! process, because the hooks are process-wide (and the tests here take turns).

use std::sync::Mutex;

use polars_streaming_adaptive::test_hooks::{
    plant_inexact_bounds_as_exact, plant_shifted_page_ranges, plant_wrong_bloom,
    plant_wrong_pruning,
};
use xtask::difftest::spec::Tail;
use xtask::difftest::Failure;

static HOOKS: Mutex<()> = Mutex::new(());

/// Runs `cases` difftest cases with the fault `plant` switched on; returns the failure it must
/// report, after checking that its saved reproducer fails while the fault is planted and
/// passes once it is gone.
fn reported(plant: fn(bool), cases: u32) -> Box<Failure> {
    let _turn = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let options = xtask::difftest::Options {
        cases,
        seed: 0x5eed_d1ff,
        keep_failures: Some(keep.path().to_path_buf()),
    };
    plant(true);
    let result = xtask::difftest::run(&options, scratch.path());
    plant(false);
    let failure = result.expect_err("the planted bug went unnoticed");
    eprintln!("{}\n{:#?}", failure.message, failure.case);
    let saved = failure.saved.as_ref().expect("a reproducer");
    for file in ["case.json", "case.txt", "REPLAY"] {
        assert!(saved.join(file).is_file(), "{file} missing");
    }
    plant(true);
    assert!(xtask::difftest::replay(saved).is_err());
    plant(false);
    xtask::difftest::replay(saved).unwrap();
    failure
}

#[test]
fn a_planted_wrong_pruning_decision_is_reported_and_shrunk() {
    let failure = reported(plant_wrong_pruning, 300);
    // Shrunk: the smallest data that shows the bug has two row groups, the second holding a
    // row the filter keeps; one filter, nothing after it.
    let data = &failure.case.data;
    assert!(data.rows() <= 4, "{} rows", data.rows());
    assert!(data.columns.len() == 1, "{} columns", data.columns.len());
    assert_eq!(failure.case.query.filters.len(), 1);
    assert!(matches!(failure.case.query.tail, Tail::None));
}

#[test]
fn a_planted_bloom_probe_that_always_says_absent_is_reported() {
    let failure = reported(plant_wrong_bloom, 300);
    // Shrunk to one filter (the data shrinks less than for the pruning bug: the probe is
    // only planted where a file has bloom filters, which the arrow-rs writer adds).
    assert_eq!(failure.case.query.filters.len(), 1);
}

#[test]
fn a_planted_page_range_off_by_one_is_reported() {
    let failure = reported(plant_shifted_page_ranges, 300);
    assert_eq!(failure.case.query.filters.len(), 1);
}

#[test]
fn a_planted_truncated_bound_used_as_exact_is_reported() {
    // Rarer than the other faults (a summary, and an arrow-rs file with cut statistics on a
    // string or binary column whose cut changes a bound, or a footer with planted lies): more
    // cases.
    let failure = reported(plant_inexact_bounds_as_exact, 2000);
    // Only an answer from statistics takes a bound for a value: a summary of a column whose
    // bounds are not values, either string or binary statistics the arrow-rs writer cut to 2
    // bytes, or the unflagged type extremes a footer of a writer nobody knows planted.
    assert!(matches!(failure.case.query.tail, Tail::Summary));
    let data = &failure.case.data;
    assert!(data.truncated_statistics || data.planted_lies, "{data:?}");
}
