//! Faults a test can plant, to show that a checker notices them (feature `test-hooks`).

use std::sync::atomic::{AtomicBool, Ordering};

static WRONG_PRUNING: AtomicBool = AtomicBool::new(false);

/// With `true`, every scan with a predicate also skips its odd-numbered row groups, whatever
/// their statistics say: a wrong pruning decision. Process-wide.
pub fn plant_wrong_pruning(on: bool) {
    WRONG_PRUNING.store(on, Ordering::SeqCst);
}

pub(crate) fn wrong_pruning() -> bool {
    WRONG_PRUNING.load(Ordering::Relaxed)
}

static WRONG_BLOOM: AtomicBool = AtomicBool::new(false);

/// With `true`, every bloom filter probe says "absent": each row group of a scan whose
/// predicate has a probe-able equality is skipped. Process-wide.
pub fn plant_wrong_bloom(on: bool) {
    WRONG_BLOOM.store(on, Ordering::SeqCst);
}

pub(crate) fn wrong_bloom() -> bool {
    WRONG_BLOOM.load(Ordering::Relaxed)
}

static INEXACT_AS_EXACT: AtomicBool = AtomicBool::new(false);

/// With `true`, every min/max bound is reported exact, also those a writer truncated (or did
/// not say were exact): a truncated bound used as a value of the column. Process-wide.
pub fn plant_inexact_bounds_as_exact(on: bool) {
    INEXACT_AS_EXACT.store(on, Ordering::SeqCst);
}

pub(crate) fn inexact_as_exact() -> bool {
    INEXACT_AS_EXACT.load(Ordering::Relaxed)
}

static SHIFTED_PAGES: AtomicBool = AtomicBool::new(false);

/// With `true`, every row range the page index leaves to read starts one row late: a page
/// range off by one. Process-wide.
pub fn plant_shifted_page_ranges(on: bool) {
    SHIFTED_PAGES.store(on, Ordering::SeqCst);
}

pub(crate) fn shift_page_ranges(
    ranges: Vec<std::ops::Range<usize>>,
    rows: usize,
) -> Vec<std::ops::Range<usize>> {
    if !SHIFTED_PAGES.load(Ordering::Relaxed) {
        return ranges;
    }
    ranges
        .into_iter()
        .map(|r| (r.start + 1).min(r.end)..r.end)
        .filter(|r| r.start < r.end && r.end <= rows)
        .collect()
}
