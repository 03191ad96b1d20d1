//! Plans with several `scan_adaptive` inputs (a union of three, a join of two) equal stock and
//! finish on a pool of one or two threads. Polars' in-memory engine runs the inputs of a union
//! or a join on its own pool, so each scan's consumer may sit on a pool thread while its decode
//! work is queued on that same pool.

use std::path::Path;
use std::time::Duration;

use polars::prelude::*;
use polars_adaptive::prelude::*;

use crate::common::{large_files, mixed, run_test_in_child, same_frame, stock, write, Layout};

/// Three files of 20 000 rows in row groups of 500, ids continuing from file to file.
fn dataset(dir: &Path) -> Vec<std::path::PathBuf> {
    (0..3)
        .map(|f| {
            let path = dir.join(format!("part-{f}.parquet"));
            let layout = Layout {
                row_group_size: 500,
                ..Layout::default()
            };
            write(&mut mixed(f * 20_000, 20_000), &path, layout);
            path
        })
        .collect()
}

/// The plans, built over `scan(path)` for each input.
fn plans(paths: &[std::path::PathBuf], scan: impl Fn(&Path) -> LazyFrame) -> Vec<LazyFrame> {
    let union = concat(
        paths
            .iter()
            .map(|p| scan(p).filter(col("i32").gt(lit(-20))))
            .collect::<Vec<_>>(),
        UnionArgs::default(),
    )
    .unwrap();
    // The second file's ids shifted back onto the first's, so half of each side matches.
    let right = scan(&paths[1]).with_column(col("id") - lit(10_000i64));
    vec![union, join_on_id(scan(&paths[0]), right)]
}

/// The inner join of `left` and `right` on `id`, sorted by `id`.
fn join_on_id(left: LazyFrame, right: LazyFrame) -> LazyFrame {
    left.join(
        right,
        [col("id")],
        [col("id")],
        JoinArgs::new(JoinType::Inner),
    )
    .sort(["id"], SortMultipleOptions::default())
}

/// Stock's answer to each plan.
fn stock_answers(paths: &[std::path::PathBuf]) -> Vec<DataFrame> {
    plans(paths, stock)
        .into_iter()
        .map(|lf| lf.collect().unwrap())
        .collect()
}

fn scan(path: &Path) -> LazyFrame {
    LazyFrame::scan_adaptive(path, ScanArgsAdaptive::default()).unwrap()
}

#[test]
fn several_scan_adaptive_inputs_in_one_plan_equal_stock() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let expected = stock_answers(&paths);
    for (i, want) in expected.iter().enumerate() {
        let got = plans(&paths, scan).swap_remove(i).collect().unwrap();
        same_frame(&got, want).unwrap_or_else(|e| panic!("plan {i}, collect: {e}"));
        let got = plans(&paths, scan)
            .swap_remove(i)
            .collect_adaptive()
            .unwrap();
        same_frame(&got, want).unwrap_or_else(|e| panic!("plan {i}, collect_adaptive: {e}"));
    }
}

#[test]
fn several_budgeted_inputs_are_refused_not_run_unbounded() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let budgeted = |p: &Path| {
        LazyFrame::scan_adaptive(p, ScanArgsAdaptive::default().with_memory_budget(64 << 20))
            .unwrap()
    };
    for (i, plan) in plans(&paths, budgeted).into_iter().enumerate() {
        let err = plan.collect_adaptive().unwrap_err().to_string();
        assert!(
            err.contains("memory budget of 67108864 bytes"),
            "plan {i}: {err}"
        );
    }
}

/// Runs the test `name` again in child processes on pools of one and two threads: a hang fails
/// it after `timeout`.
fn on_one_and_two_pool_threads(name: &str, timeout: Duration) {
    for threads in ["1", "2"] {
        run_test_in_child(name, &[("POLARS_MAX_THREADS", threads)], timeout);
    }
}

#[test]
fn several_scan_adaptive_inputs_finish_on_one_and_two_pool_threads() {
    on_one_and_two_pool_threads(
        "several_scans::several_scan_adaptive_inputs_in_one_plan_equal_stock",
        Duration::from_secs(120),
    );
}

/// Inputs of over 64 MiB each, whose batches `collect()` copies into one chunk per column as
/// jobs on Polars' pool, while the union and the join run each input's consumer on a pool
/// thread.
#[test]
fn large_scan_adaptive_inputs_copied_on_the_pool_equal_stock() {
    let dir = tempfile::tempdir().unwrap();
    large_files(dir.path());
    let plans = |scan: &dyn Fn() -> LazyFrame| {
        let union = concat(
            [
                scan().filter(col("f").gt(lit(1.0))),
                scan().filter(col("s").is_not_null()),
            ],
            UnionArgs::default(),
        )
        .unwrap();
        let right = scan().select([col("id"), col("f").alias("f2")]);
        [union, join_on_id(scan(), right)]
    };
    let ours = plans(&|| scan(dir.path()));
    let theirs = plans(&|| stock(dir.path()));
    for (i, (ours, theirs)) in ours.into_iter().zip(theirs).enumerate() {
        let got = ours.collect().unwrap();
        same_frame(&got, &theirs.collect().unwrap()).unwrap_or_else(|e| panic!("plan {i}: {e}"));
        assert!(got.height() > 4_000_000, "plan {i}: {} rows", got.height());
    }
    // The union stacks its two inputs, each copied into one chunk per column.
    let union = plans(&|| scan(dir.path()))[0].clone().collect().unwrap();
    for c in ["id", "f", "s"] {
        assert_eq!(union.column(c).unwrap().n_chunks(), 2, "{c}");
    }
}

#[test]
fn large_scan_adaptive_inputs_finish_on_one_and_two_pool_threads() {
    on_one_and_two_pool_threads(
        "several_scans::large_scan_adaptive_inputs_copied_on_the_pool_equal_stock",
        Duration::from_secs(240),
    );
}

/// Eight threads at once: multi-scan plans through `collect` and `collect_adaptive`, early
/// stops, and readers dropped after two batches (their producers must exit and their files be
/// unmapped while units are still queued).
#[test]
fn concurrent_scans_and_dropped_readers_in_child() {
    if !polars_adaptive::testing::in_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let expected = stock_answers(&paths);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (paths, expected) = (&paths, &expected);
            s.spawn(move || {
                for round in 0..3 {
                    match (t + round) % 4 {
                        0 | 1 => {
                            let i = (t + round) % 2;
                            let got = plans(paths, scan).swap_remove(i);
                            let got = match t % 2 {
                                0 => got.collect(),
                                _ => got.collect_adaptive(),
                            };
                            same_frame(&got.unwrap(), &expected[i]).unwrap();
                        }
                        2 => {
                            let mut batches = ParallelStreamReader::new(paths.clone()).batches();
                            for _ in 0..2 {
                                batches.next().unwrap().unwrap();
                            }
                            drop(batches);
                        }
                        _ => {
                            let got = scan(&paths[t % 3])
                                .filter(col("i32").gt(lit(0)))
                                .limit(7)
                                .collect_adaptive()
                                .unwrap();
                            assert_eq!(got.height(), 7);
                        }
                    }
                }
            });
        }
    });
}

#[test]
fn concurrent_scans_and_dropped_readers_finish_on_1_2_and_8_pool_threads() {
    let name = "several_scans::concurrent_scans_and_dropped_readers_in_child";
    for threads in ["1", "2", "8"] {
        run_test_in_child(
            name,
            &[("POLARS_MAX_THREADS", threads)],
            Duration::from_secs(300),
        );
    }
}
