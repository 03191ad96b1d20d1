//! Splits (`plan_splits`, `scan_split`) and plans run split by split
//! (`collect_partial_adaptive`, `merge_partials_adaptive`): every surviving row group is in
//! exactly one split, and the merged answer is stock's whatever the split size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{mixed, mixed_parts, same_frame, stock, write, Layout};
use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::same_frame_aggregated;

/// Three files of 2,000 rows in row groups of 100, and a small one of 37 rows.
fn dataset(dir: &Path) -> PathBuf {
    mixed_parts(dir, &[2000, 2000, 2000, 37])
}

fn vstack(parts: Vec<DataFrame>) -> DataFrame {
    let mut parts = parts.into_iter();
    let mut all = parts.next().expect("at least one part");
    for p in parts {
        all.vstack_mut_owned(p).unwrap();
    }
    all
}

/// Split sizes from one row group each to everything in one split.
const TARGETS: [u64; 4] = [1, 20_000, 200_000, u64::MAX];

/// The (file, row group) pairs a predicate's statistics keep, by reading every footer.
fn surviving(target: &Path, predicate: Option<&Expr>) -> Vec<(PathBuf, usize)> {
    let mut kept = Vec::new();
    for path in polars_adaptive::io::expand_paths(target).unwrap() {
        let reader = MmapParquetReader::new(&path).unwrap();
        for rg in 0..reader.num_row_groups() {
            let stats = reader.row_group_statistics(rg);
            let skip = predicate
                .is_some_and(|p| ExprPredicate::new(p.clone()).should_skip_row_group(stats));
            if !skip {
                kept.push((path.clone(), rg));
            }
        }
    }
    kept
}

#[test]
fn every_surviving_row_group_lands_in_exactly_one_split() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let predicates = [
        None,
        Some(col("id").gt(lit(1500i64)).and(col("id").lt(lit(4321i64)))),
        Some(col("id").eq(lit(-1i64))),
    ];
    for predicate in &predicates {
        let expected = surviving(&target, predicate.as_ref());
        for bytes in TARGETS {
            let mut options = SplitOptions::default().with_target_bytes(bytes);
            if let Some(p) = predicate {
                options = options.with_predicate(p.clone());
            }
            let splits = plan_splits(&[&target], &options).unwrap();
            let mut seen: Vec<(PathBuf, usize)> = Vec::new();
            for (i, split) in splits.iter().enumerate() {
                assert_eq!(split.seq, i);
                for part in &split.parts {
                    seen.extend(part.row_groups.clone().map(|rg| (part.path.clone(), rg)));
                }
                let rows: usize = split
                    .parts
                    .iter()
                    .map(|p| {
                        let r = MmapParquetReader::new(&p.path).unwrap();
                        p.row_groups
                            .clone()
                            .map(|rg| r.row_group_num_rows(rg))
                            .sum::<usize>()
                    })
                    .sum();
                assert_eq!(split.rows as usize, rows, "split {i} counts its rows");
            }
            assert_eq!(seen, expected, "predicate {predicate:?}, target {bytes}");
            if bytes == 1 {
                assert_eq!(splits.len(), expected.len(), "one row group per split");
            }
            if bytes == u64::MAX && !expected.is_empty() {
                assert_eq!(splits.len(), 1, "everything in one split");
            }
        }
    }
}

#[test]
fn split_first_rows_count_the_files_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let splits = plan_splits(&[&target], &SplitOptions::default().with_target_bytes(1)).unwrap();
    let firsts: Vec<u64> = splits.iter().map(|s| s.first_row).collect();
    let expected: Vec<u64> = (0..60).map(|i| i * 100).chain([6000]).collect();
    assert_eq!(firsts, expected);
}

#[test]
fn scans_of_the_splits_concatenate_to_the_stock_scan() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let predicate = col("i32").gt(lit(10)).and(col("id").lt(lit(5000i64)));
    let theirs = stock(&target).filter(predicate.clone()).collect().unwrap();
    for bytes in TARGETS {
        let splits = plan_splits(
            &[&target],
            &SplitOptions::default()
                .with_target_bytes(bytes)
                .with_predicate(predicate.clone()),
        )
        .unwrap();
        let parts: Vec<DataFrame> = splits
            .iter()
            .map(|s| {
                LazyFrame::scan_split(s, ScanArgsAdaptive::default())
                    .unwrap()
                    .filter(predicate.clone())
                    .collect()
                    .unwrap()
            })
            .collect();
        let ours = vstack(parts);
        same_frame(&ours, &theirs).unwrap_or_else(|e| panic!("target {bytes}: {e}"));
    }
}

/// Queries of each kind `collect_partial_adaptive` splits: rows, a slice, aggregations (with
/// statistics answers, many and few groups, ordered and not), a top-k.
fn queries() -> BTreeMap<&'static str, Box<dyn Fn(LazyFrame) -> LazyFrame>> {
    let mut q: BTreeMap<&'static str, Box<dyn Fn(LazyFrame) -> LazyFrame>> = BTreeMap::new();
    q.insert(
        "rows",
        Box::new(|lf| {
            lf.filter(col("i32").gt(lit(40)))
                .select([col("id"), col("s")])
        }),
    );
    q.insert(
        "slice",
        Box::new(|lf| lf.filter(col("i8").lt(lit(10))).slice(7, 25)),
    );
    // The optimizer pushes this limit into the scan: each part reads its first 30 rows.
    q.insert(
        "limit",
        Box::new(|lf| lf.select([col("id"), col("s")]).limit(30)),
    );
    q.insert(
        "few groups",
        Box::new(|lf| {
            lf.group_by([col("b")])
                .agg([
                    col("i32").sum(),
                    col("f64").mean(),
                    col("s").n_unique(),
                    len(),
                ])
                .sort(["b"], Default::default())
        }),
    );
    q.insert(
        "many groups",
        Box::new(|lf| {
            lf.group_by([col("i16")])
                .agg([col("u32").max(), col("i32").count()])
                .sort(["i16"], Default::default())
        }),
    );
    q.insert(
        "ordered groups",
        Box::new(|lf| {
            lf.group_by_stable([col("u8")]).agg([
                col("id").first().alias("first"),
                col("id").last().alias("last"),
            ])
        }),
    );
    q.insert(
        "statistics",
        Box::new(|lf| {
            lf.select([
                col("id").min().alias("lo"),
                col("id").max().alias("hi"),
                len(),
                // No nulls: a zero null count from Polars' writer is exact.
                col("i16").count(),
            ])
        }),
    );
    q.insert(
        "empty",
        Box::new(|lf| {
            lf.filter(col("id").lt(lit(-5i64)))
                .select([col("i32").sum(), len()])
        }),
    );
    // `id` is sorted: statistics alone leave out all but the last row groups.
    q.insert(
        "top-k of a sorted key",
        Box::new(|lf| {
            lf.sort(
                ["id"],
                SortMultipleOptions::default().with_order_descending(true),
            )
            .slice(0, 150)
        }),
    );
    q.insert(
        "top-k, nulls last, filtered",
        Box::new(|lf| {
            lf.filter(col("i32").gt(lit(0)))
                .sort(
                    ["d"],
                    // Ties (ten rows per date) in input order: an answer stock defines.
                    SortMultipleOptions::default()
                        .with_order_descending(true)
                        .with_nulls_last(true)
                        .with_maintain_order(true),
                )
                .slice(0, 40)
        }),
    );
    q.insert(
        "top-k",
        Box::new(|lf| {
            lf.sort(
                ["u64"],
                SortMultipleOptions::default().with_order_descending(true),
            )
            .slice(3, 50)
        }),
    );
    q
}

#[test]
fn partial_answers_of_splits_merge_to_the_stock_answer() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let mut failures = Vec::new();
    for (name, q) in queries() {
        let theirs = q(stock(&target)).collect().unwrap();
        for bytes in TARGETS {
            let args = ScanArgsAdaptive::default();
            let whole = q(LazyFrame::scan_adaptive(&target, args.clone()).unwrap());
            let plan = whole.clone().parts_plan().unwrap();
            let mut options = SplitOptions::default()
                .with_target_bytes(bytes)
                .with_columns(plan.scan_columns.clone());
            if let Some(p) = plan.scan_predicate.clone() {
                options = options.with_predicate(p);
            }
            if let Some(needed) = plan.row_groups.clone() {
                options = options.with_row_groups(needed);
            }
            let partials: Vec<DataFrame> = plan_splits(&[&target], &options)
                .unwrap()
                .iter()
                .map(|s| {
                    q(LazyFrame::scan_split(s, args.clone()).unwrap())
                        .collect_partial_adaptive()
                        .unwrap()
                })
                .collect();
            let ours = whole.merge_partials_adaptive(partials).unwrap();
            // Each split's min/max/len/count comes from its own row groups' statistics.
            if name == "statistics" && args.metrics().row_groups_answered_from_statistics == 0 {
                failures.push(format!(
                    "{name}, target {bytes}: nothing answered from statistics"
                ));
            }
            let check = if name == "few groups" {
                same_frame_aggregated(&ours, &theirs)
            } else {
                same_frame(&ours, &theirs)
            };
            if let Err(e) = check {
                failures.push(format!("{name}, target {bytes}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn partial_aggregations_merge_in_any_grouping_of_parts() {
    // A shuffle merges each partition's partial rows apart (compact), then all of them.
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let q = |lf: LazyFrame| {
        lf.group_by([col("i16")])
            .agg([col("u32").max(), col("f64").sum(), col("s").first()])
            .sort(["i16"], Default::default())
    };
    let whole = q(LazyFrame::scan_adaptive(&target, Default::default()).unwrap());
    let keys = whole.clone().parts_plan().unwrap().group_keys;
    assert_eq!(keys, Some(vec!["i16".into()]));
    let partials: Vec<DataFrame> = plan_splits(
        &[&target],
        &SplitOptions::default().with_target_bytes(20_000),
    )
    .unwrap()
    .iter()
    .map(|s| {
        q(LazyFrame::scan_split(s, Default::default()).unwrap())
            .collect_partial_adaptive()
            .unwrap()
    })
    .collect();
    let all = vstack(partials);
    let (neg, rest): (DataFrame, DataFrame) = (
        all.clone()
            .lazy()
            .filter(col("i16").lt(lit(0)))
            .collect()
            .unwrap(),
        all.lazy()
            .filter(col("i16").gt_eq(lit(0)).or(col("i16").is_null()))
            .collect()
            .unwrap(),
    );
    let compacted = vec![
        whole.clone().compact_partials_adaptive(vec![neg]).unwrap(),
        whole.clone().compact_partials_adaptive(vec![rest]).unwrap(),
    ];
    let ours = whole.merge_partials_adaptive(compacted).unwrap();
    // Each group's partial rows stay in split order within its partition: `first` holds.
    let theirs = q(stock(&target)).collect().unwrap();
    same_frame_aggregated(&ours, &theirs).unwrap();
}

#[test]
fn a_file_changed_after_planning_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let splits = plan_splits(&[&target], &SplitOptions::default().with_target_bytes(1)).unwrap();
    let changed = dir.path().join("part-1.parquet");
    write(&mut mixed(0, 10), &changed, Layout::default());
    let err = splits
        .iter()
        .find(|s| s.paths().contains(&changed))
        .map(|s| LazyFrame::scan_split(s, Default::default()).and_then(|lf| lf.collect()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("part-1.parquet") && err.contains("changed since the splits were planned"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("part-2.parquet")).unwrap();
    let gone = splits
        .iter()
        .find(|s| s.paths().iter().any(|p| p.ends_with("part-2.parquet")))
        .unwrap();
    let Err(err) = LazyFrame::scan_split(gone, Default::default()) else {
        panic!("a split of a removed file scans");
    };
    let err = err.to_string();
    assert!(err.contains("part-2.parquet"), "{err}");
}

#[test]
fn plans_that_need_their_whole_input_are_not_split() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let lf = LazyFrame::scan_adaptive(&target, Default::default())
        .unwrap()
        .sort(["u64"], Default::default());
    let err = lf.collect_partial_adaptive().unwrap_err().to_string();
    assert!(err.contains("cannot run split by split"), "{err}");
}

#[test]
fn a_top_k_is_planned_on_the_row_groups_its_statistics_leave_in() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let top = |lf: LazyFrame| {
        lf.sort(
            ["id"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .slice(0, 150)
    };
    let plan = top(LazyFrame::scan_adaptive(&target, Default::default()).unwrap())
        .parts_plan()
        .unwrap();
    let options = SplitOptions::default()
        .with_target_bytes(1)
        .with_row_groups(plan.row_groups.expect("a sorted key bounds the top-k"));
    let splits = plan_splits(&[&target], &options).unwrap();
    // The 37 rows of part-3 and part-2's last two row groups (ids 5800..6000) hold at least
    // 150 rows ranked at or above 5800; every other row group's best id is below it.
    let kept: Vec<(String, std::ops::Range<usize>)> = splits
        .iter()
        .flat_map(|s| &s.parts)
        .map(|p| {
            let name = p.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, p.row_groups.clone())
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("part-2.parquet".to_string(), 18..19),
            ("part-2.parquet".to_string(), 19..20),
            ("part-3.parquet".to_string(), 0..1),
        ]
    );
    // A filter between scan and sort: row counts no longer bound the top-k's rows.
    let filtered = top(LazyFrame::scan_adaptive(&target, Default::default())
        .unwrap()
        .filter(col("i32").gt(lit(0))));
    assert!(filtered.parts_plan().unwrap().row_groups.is_none());
}
