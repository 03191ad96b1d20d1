//! A panic in a user's callback (chunk strategy, predicate) or while cutting units is an error
//! that follows the batches before it, never a successful read of fewer rows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use polars::prelude::*;
use polars_streaming_adaptive::*;

use crate::common;

/// Three files of 80 000 rows, row groups of 10 000: 240 000 rows.
fn dataset(dir: &Path) -> Vec<PathBuf> {
    (0..3i64)
        .map(|f| {
            let ids: Vec<i64> = (f * 80_000..(f + 1) * 80_000).collect();
            let mut df = df!("id" => ids).unwrap();
            let path = dir.join(format!("part-{f}.parquet"));
            common::write_parquet(&mut df, &path, 10_000);
            path
        })
        .collect()
}

/// 1 000 rows a batch, and a panic on call number `panic_on` (from 1).
#[derive(Debug)]
struct PanickingStrategy {
    calls: AtomicUsize,
    panic_on: usize,
}

impl ChunkStrategy for PanickingStrategy {
    fn calculate_chunk_size(&self, _available_memory: usize, total_rows: usize) -> usize {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(call != self.panic_on, "strategy fails on call {call}");
        total_rows.min(1_000)
    }

    fn adjust(&mut self, _performance: f64) {}
}

/// Keeps every row; panics on its `prune_panic`-th pruning decision or while filtering its
/// `apply_panic`-th batch, both counted over the whole scan.
#[derive(Debug, Default)]
struct PanickingPredicate {
    pruned: AtomicUsize,
    applied: AtomicUsize,
    prune_panic: Option<usize>,
    apply_panic: Option<usize>,
}

impl PredicatePushdown for PanickingPredicate {
    fn should_skip_row_group(&self, _stats: &RowGroupStats) -> bool {
        let n = self.pruned.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            Some(n) != self.prune_panic,
            "pruning fails on row group {n}"
        );
        false
    }

    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        let n = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(Some(n) != self.apply_panic, "filtering fails on batch {n}");
        Ok(df)
    }

    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(vec!["id".into()])
    }
}

fn assert_fails_with(result: PolarsResult<DataFrame>, needle: &str) {
    match result {
        Ok(df) => panic!("read succeeded with {} of 240000 rows", df.height()),
        Err(e) => assert!(e.to_string().contains(needle), "unexpected error: {e}"),
    }
}

#[test]
fn a_chunk_strategy_panicking_on_its_third_call_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let strategy = Arc::new(PanickingStrategy {
        calls: AtomicUsize::new(0),
        panic_on: 3,
    });
    let read = ParallelStreamReader::new(paths.clone())
        .with_chunk_strategy(strategy.clone())
        .collect_concatenated();
    assert_fails_with(read, "strategy fails on call 3");

    // Batch by batch: the two batches cut before the panic, then the error, then the end.
    strategy.calls.store(0, Ordering::SeqCst);
    let items: Vec<_> = ParallelStreamReader::new(paths)
        .with_chunk_strategy(strategy)
        .batches()
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items[..2]
        .iter()
        .all(|b| b.as_ref().unwrap().height() == 1_000));
    assert!(items[2].is_err());
}

#[test]
fn a_predicate_panicking_while_pruning_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let predicate = PanickingPredicate {
        prune_panic: Some(12),
        ..Default::default()
    };
    let read = ParallelStreamReader::new(dataset(dir.path()))
        .with_predicate(predicate)
        .collect_concatenated();
    assert_fails_with(read, "pruning fails on row group 12");
}

#[test]
fn a_predicate_panicking_while_filtering_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let predicate = PanickingPredicate {
        apply_panic: Some(5),
        ..Default::default()
    };
    let read = ParallelStreamReader::new(dataset(dir.path()))
        .with_predicate(predicate)
        .collect_concatenated();
    assert_fails_with(read, "filtering fails on batch 5");
}
