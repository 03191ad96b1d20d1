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
