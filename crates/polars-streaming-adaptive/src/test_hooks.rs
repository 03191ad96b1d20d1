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
