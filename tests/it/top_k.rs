//! `sort(..).head(k)`, `top_k` and `bottom_k` over `scan_adaptive` in `collect_adaptive`: the
//! same rows as stock whatever the sort options, and row groups whose statistics rule them out
//! left unread.

use std::path::{Path, PathBuf};

use crate::common::{mixed_parts, same_frame, stock};
use polars::prelude::*;
use polars_adaptive::prelude::*;

/// Three files of 2,000 rows in row groups of 100: `id` sorted across files, `d` (dates with
/// nulls) sorted within each file, `ts`, `i32`, `u64` in no order.
fn dataset(dir: &Path) -> PathBuf {
    mixed_parts(dir, &[2000; 3])
}

fn sort_options(descending: bool, nulls_last: bool, maintain_order: bool) -> SortMultipleOptions {
    SortMultipleOptions::default()
        .with_order_descending(descending)
        .with_nulls_last(nulls_last)
        .with_maintain_order(maintain_order)
}

/// Ours and stock's answers to `q`, and the row groups ours skipped by top-k.
fn run(
    target: &Path,
    args: ScanArgsAdaptive,
    q: &dyn Fn(LazyFrame) -> LazyFrame,
) -> (DataFrame, DataFrame, u64) {
    let ours = q(LazyFrame::scan_adaptive(target, args.clone()).unwrap())
        .collect_adaptive()
        .unwrap();
    let theirs = q(stock(target)).collect().unwrap();
    (ours, theirs, args.metrics().row_groups_skipped_by_top_k)
}

#[test]
fn sort_then_head_equals_stock_for_every_key_order_and_k() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let mut failures = Vec::new();
    // Keys whose statistics bound them (sorted, in no order, with nulls and ties) and keys
    // that are never skipped on (floats with NaN, strings).
    for key in ["id", "d", "ts", "i32", "u64", "f64", "s"] {
        for (descending, nulls_last, maintain_order) in
            (0..8).map(|b| (b & 1 > 0, b & 2 > 0, b & 4 > 0))
        {
            for k in [0u32, 1, 7, 250] {
                let options = sort_options(descending, nulls_last, maintain_order);
                // Without maintain_order, equal keys may come in any order: `id` (unique)
                // decides between them.
                let by = match maintain_order {
                    true => vec![col(key)],
                    false => vec![col(key), col("id")],
                };
                let options = match maintain_order {
                    true => options,
                    false => options
                        .with_order_descending_multi([descending, false])
                        .with_nulls_last_multi([nulls_last, false]),
                };
                let q = |lf: LazyFrame| lf.sort_by_exprs(by.clone(), options.clone()).limit(k);
                let (ours, theirs, _) = run(&target, ScanArgsAdaptive::default(), &q);
                if let Err(d) = same_frame(&ours, &theirs) {
                    failures.push(format!(
                        "{key} descending={descending} nulls_last={nulls_last} maintain_order={maintain_order} k={k}: {d}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn top_k_over_filters_derived_columns_slices_and_a_row_index_equals_stock() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    type Q = fn(LazyFrame) -> LazyFrame;
    let shapes: Vec<(&str, Q)> = vec![
        ("top_k", |lf| {
            lf.top_k(9, [col("ts"), col("id")], SortMultipleOptions::default())
        }),
        ("bottom_k", |lf| {
            lf.bottom_k(9, [col("d"), col("id")], SortMultipleOptions::default())
        }),
        ("filter then sort", |lf| {
            lf.filter(col("i16").gt(lit(100)))
                .sort(["id"], sort_options(true, false, true))
                .limit(12)
        }),
        ("slice with an offset", |lf| {
            lf.sort(["id"], sort_options(true, false, true))
                .slice(30, 5)
        }),
        // The key is redefined before the sort: its statistics say nothing of it.
        ("key redefined", |lf| {
            lf.with_column((lit(0i64) - col("id")).alias("id"))
                .sort(["id"], sort_options(true, false, true))
                .limit(5)
        }),
        ("projection then sort", |lf| {
            lf.select([col("s"), col("id")])
                .sort(["id"], sort_options(false, false, false))
                .limit(5)
        }),
    ];
    for (name, q) in shapes {
        let (ours, theirs, _) = run(&target, ScanArgsAdaptive::default(), &q);
        same_frame(&ours, &theirs).unwrap_or_else(|d| panic!("{name}: {d}"));
    }
    // A row index numbers rows in file order, whatever is skipped.
    let q = |lf: LazyFrame| lf.sort(["id"], sort_options(true, false, false)).limit(4);
    let args = ScanArgsAdaptive::default().with_row_index("rn", 10);
    let ours = q(LazyFrame::scan_adaptive(&target, args).unwrap())
        .collect_adaptive()
        .unwrap();
    let stock_args = ScanArgsParquet {
        row_index: Some(RowIndex {
            name: "rn".into(),
            offset: 10,
        }),
        ..ScanArgsParquet::default()
    };
    let theirs = q(
        LazyFrame::scan_parquet(PlRefPath::try_from_path(&target).unwrap(), stock_args).unwrap(),
    )
    .collect()
    .unwrap();
    same_frame(&ours, &theirs).unwrap();
}

#[test]
fn row_groups_that_cannot_rank_among_the_k_held_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    // 60 row groups; the 10 largest ids are in the last one.
    let desc = |lf: LazyFrame| lf.sort(["id"], sort_options(true, false, false)).limit(10);
    let (ours, theirs, skipped) = run(&target, ScanArgsAdaptive::default(), &desc);
    same_frame(&ours, &theirs).unwrap();
    let threads = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(skipped >= 60 - threads.max(1), "skipped {skipped}");
    // In file order (maintain_order): the first row group holds the 10 smallest.
    let asc = |lf: LazyFrame| lf.sort(["id"], sort_options(false, false, true)).limit(10);
    let (ours, theirs, skipped) = run(&target, ScanArgsAdaptive::default(), &asc);
    same_frame(&ours, &theirs).unwrap();
    assert!(skipped >= 50, "skipped {skipped}");
    // Nulls first, and every row group of `d` may hold one: none can be ruled out by a value.
    let nulls_first = |lf: LazyFrame| lf.sort(["d"], sort_options(true, false, true)).limit(10);
    let (ours, theirs, skipped) = run(&target, ScanArgsAdaptive::default(), &nulls_first);
    same_frame(&ours, &theirs).unwrap();
    assert_eq!(skipped, 0);
    // Statistics switched off: everything is read.
    let off = ScanArgsAdaptive::default().with_statistics(false);
    let (ours, theirs, skipped) = run(&target, off, &desc);
    same_frame(&ours, &theirs).unwrap();
    assert_eq!(skipped, 0);
}
