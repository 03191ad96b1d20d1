//! `collect_adaptive` and `sink_batches_adaptive` answer like stock Polars on aggregation and
//! row-local query shapes over multi-file datasets, whatever the chunk size.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crate::common::{
    mixed, patch_footer, run_test_in_child, same_frame, same_frame_aggregated, stock, write, Layout,
};
use polars::prelude::*;
use polars_adaptive::prelude::*;

type Query = fn(LazyFrame) -> LazyFrame;

/// How a shape's answers are compared.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Row order is the plan's: compared exactly.
    Exact,
    /// An aggregation without a defined row order: both sides sorted by these key columns,
    /// floats within a tight relative tolerance.
    ByKeys(&'static [&'static str]),
    /// An aggregation with a defined order (global, or maintain_order).
    Aggregated,
}

fn shapes() -> Vec<(&'static str, Order, Query)> {
    use Order::*;
    vec![
        // Row-local
        ("identity", Exact, |lf| lf),
        ("project", Exact, |lf| lf.select([col("s"), col("id")])),
        ("filter", Exact, |lf| lf.filter(col("id").gt(lit(1234i64)))),
        ("filter unprunable", Exact, |lf| {
            lf.filter((col("i16") % lit(3)).eq(lit(0)))
        }),
        ("with_columns", Exact, |lf| {
            lf.with_columns([
                (col("f64") * lit(2.0)).alias("f2"),
                col("s").str().len_bytes().alias("n"),
            ])
        }),
        ("select expressions", Exact, |lf| {
            lf.select([
                col("id"),
                (col("i32") + col("i16").cast(DataType::Int32)).alias("sum"),
                lit(7).alias("seven"),
            ])
        }),
        ("cast and rename", Exact, |lf| {
            lf.select([col("u8").cast(DataType::Int64), col("d")])
                .rename(["d"], ["day"], true)
        }),
        ("filter project filter", Exact, |lf| {
            lf.filter(col("b").eq(lit(true)))
                .select([col("id"), col("f32")])
                .filter(col("f32").gt(lit(0.0f32)))
        }),
        ("head", Exact, |lf| lf.limit(17)),
        ("filter then head", Exact, |lf| {
            lf.filter(col("s").str().starts_with(lit("al"))).limit(25)
        }),
        ("slice", Exact, |lf| lf.slice(1500, 40)),
        ("with_columns then head", Exact, |lf| {
            lf.with_column((col("id") * lit(3i64)).alias("x"))
                .filter(col("x").gt(lit(100i64)))
                .limit(9)
        }),
        // Global aggregations
        ("sum", Aggregated, |lf| {
            lf.select([col("i32").sum(), col("u64").sum()])
        }),
        ("count and len", Aggregated, |lf| {
            lf.select([col("i32").count(), len(), col("s").null_count()])
        }),
        ("min max", Aggregated, |lf| {
            lf.select([
                col("f64").min().alias("lo"),
                col("f64").max().alias("hi"),
                col("s").min(),
                col("ts").max(),
                col("i8").min(),
            ])
        }),
        ("mean std var", Aggregated, |lf| {
            lf.select([
                col("f64").mean(),
                col("i16").std(1),
                col("i32").var(0),
                col("f32").mean(),
            ])
        }),
        ("first last", Aggregated, |lf| {
            lf.select([col("s").first(), col("i32").last(), col("id").first()])
        }),
        ("first last after a sparse filter", Aggregated, |lf| {
            lf.filter((col("id") % lit(1000i64)).gt(lit(990i64)))
                .select([
                    col("s").first(),
                    col("id").last(),
                    col("id").min().alias("lo"),
                ])
        }),
        ("aggregation of nothing", Aggregated, |lf| {
            lf.filter(col("id").lt(lit(0i64))).select([
                col("f64").sum(),
                col("s").first(),
                len(),
                col("i32").mean(),
            ])
        }),
        ("group_by of nothing", Aggregated, |lf| {
            lf.filter(col("id").lt(lit(0i64)))
                .group_by([col("s")])
                .agg([len()])
        }),
        ("n_unique", Aggregated, |lf| {
            lf.select([col("s").n_unique(), col("i8").n_unique()])
        }),
        ("filtered global", Aggregated, |lf| {
            lf.filter(col("id").lt(lit(2222i64)))
                .select([col("f32").sum(), len()])
        }),
        ("vwap global", Aggregated, |lf| {
            lf.select([
                ((col("f64") * col("u8").cast(DataType::Float64)).sum() / col("u8").sum())
                    .alias("w"),
            ])
        }),
        // group_by
        ("vwap by key", ByKeys(&["b"]), |lf| {
            lf.filter(col("i8").gt(lit(0)))
                .group_by([col("b")])
                .agg([((col("i16") * col("u8")).sum() / col("u8").sum()).alias("vwap")])
        }),
        ("sum count by string", ByKeys(&["s"]), |lf| {
            lf.group_by([col("s")])
                .agg([col("i32").sum(), col("i32").count().alias("n"), len()])
        }),
        ("mean min max by int", ByKeys(&["i8"]), |lf| {
            lf.group_by([col("i8")])
                .agg([col("f64").mean(), col("u32").min(), col("ts").max()])
        }),
        ("std var by bool", ByKeys(&["b"]), |lf| {
            lf.group_by([col("b")]).agg([
                col("f64").std(1),
                col("i16").var(1),
                col("i16").std(0).alias("sd0"),
            ])
        }),
        ("first last stable", Aggregated, |lf| {
            lf.group_by_stable([col("u8")]).agg([
                col("id").first(),
                col("s").last(),
                col("f32").first(),
            ])
        }),
        ("n_unique by date", ByKeys(&["d"]), |lf| {
            lf.group_by([col("d")])
                .agg([col("s").n_unique(), col("i32").null_count()])
        }),
        // SQL's COUNT(DISTINCT x): distinct values less one when there is a null.
        ("count distinct as sql writes it", ByKeys(&["b"]), |lf| {
            lf.group_by([col("b")]).agg([(col("i32").n_unique()
                - col("i32").has_nulls().cast(DataType::UInt32))
            .alias("k")])
        }),
        // Unique over every column (SQL's DISTINCT): a group_by of all of them.
        ("unique", ByKeys(&["s", "b"]), |lf| {
            lf.select([col("s"), col("b")])
                .unique(None, UniqueKeepStrategy::Any)
        }),
        ("unique in first-seen order", Exact, |lf| {
            lf.filter(col("i32").gt(lit(0)))
                .select([col("b"), col("i8")])
                .unique_stable(None, UniqueKeepStrategy::First)
        }),
        // SQL's `SELECT DISTINCT … ORDER BY`, as polars-sql writes it: unique of a sort.
        ("unique of a sort", Exact, |lf| {
            lf.select([col("b"), col("i8")])
                .sort(["i8", "b"], SortMultipleOptions::default())
                .unique_stable(None, UniqueKeepStrategy::Any)
        }),
        ("two keys", ByKeys(&["b", "i8"]), |lf| {
            lf.group_by([col("b"), col("i8")])
                .agg([col("f64").sum(), len()])
        }),
        ("expression key", ByKeys(&["bucket"]), |lf| {
            lf.group_by([(col("id") / lit(500i64)).alias("bucket")])
                .agg([col("u64").max(), col("f32").mean()])
        }),
        ("agg then sort", Aggregated, |lf| {
            lf.group_by([col("s")])
                .agg([col("id").count()])
                .sort(["s"], SortMultipleOptions::default().with_nulls_last(true))
        }),
        ("agg then filter head", Aggregated, |lf| {
            lf.group_by([col("i8")])
                .agg([col("u8").sum().alias("total")])
                .filter(col("total").gt(lit(1000)))
                .sort(["i8"], SortMultipleOptions::default())
                .limit(5)
        }),
        ("arithmetic of aggregations", ByKeys(&["b"]), |lf| {
            lf.group_by([col("b")]).agg([
                (col("f64").max() - col("f64").min()).alias("range"),
                (col("i32").sum() * lit(2) + col("i32").count().cast(DataType::Int64)).alias("mix"),
            ])
        }),
        // Partial aggregates from the streaming engine's hash grouper and grouped
        // reductions: exact group order (first appearance), NaN, null keys and values.
        ("grouped reductions, stable", Aggregated, |lf| {
            lf.group_by_stable([col("s")]).agg([
                col("f64").sum(),
                col("f64").min().alias("lo"),
                col("f64").max().alias("hi"),
                col("i32").count(),
                len(),
                col("u8").null_count(),
                col("f32").mean(),
            ])
        }),
        ("grouped reductions, two keys, stable", Aggregated, |lf| {
            lf.filter(col("i8").gt(lit(-50)))
                .group_by_stable([col("b"), col("d")])
                .agg([
                    (col("i16") * col("u8")).sum(),
                    col("ts").max(),
                    col("s").min(),
                ])
        }),
        ("filtered stable group_by", Aggregated, |lf| {
            lf.filter(col("f64").is_not_nan())
                .group_by_stable([col("s")])
                .agg([col("f64").sum(), col("d").min(), col("b").last()])
        }),
    ]
}

fn dataset(dir: &Path) -> PathBuf {
    for i in 0..3 {
        let layout = Layout {
            row_group_size: 250,
            ..Layout::default()
        };
        write(
            &mut mixed(i * 1000, 1000),
            &dir.join(format!("{i}.parquet")),
            layout,
        );
    }
    dir.join("*.parquet")
}

fn check(ours: &DataFrame, theirs: &DataFrame, order: Order) -> Result<(), String> {
    match order {
        Order::Exact => same_frame(ours, theirs),
        Order::Aggregated => same_frame_aggregated(ours, theirs),
        Order::ByKeys(keys) => {
            let sort = |df: &DataFrame| {
                df.sort(
                    keys.to_vec(),
                    SortMultipleOptions::default().with_nulls_last(true),
                )
                .unwrap()
            };
            same_frame_aggregated(&sort(ours), &sort(theirs))
        }
    }
}

#[test]
fn collect_adaptive_and_sink_batches_answer_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let shapes = shapes();
    assert!(shapes.len() >= 30, "{} shapes", shapes.len());
    let mut failures = Vec::new();
    // A hard budget turns the in-memory fallback into an error: every shape here must stream.
    let strategies: [(&str, ScanArgsAdaptive); 2] = [
        (
            "budget 1 GiB",
            ScanArgsAdaptive::default().with_memory_budget(1 << 30),
        ),
        (
            "batches of 97 rows, budget 16 MiB",
            ScanArgsAdaptive::default()
                .with_chunk_policy(ChunkPolicy::Rows(97))
                .with_memory_budget(16 << 20),
        ),
    ];
    for (name, order, query) in &shapes {
        let theirs = query(stock(&target)).collect().unwrap();
        for (strategy, args) in &strategies {
            let lf = query(LazyFrame::scan_adaptive(&target, args.clone()).unwrap());
            match lf.clone().collect_adaptive() {
                Ok(ours) => {
                    if let Err(d) = check(&ours, &theirs, *order) {
                        failures.push(format!("{name} collect_adaptive ({strategy}): {d}"));
                    }
                }
                Err(e) => failures.push(format!("{name} collect_adaptive ({strategy}): {e}")),
            }
            for chunk in [1usize, 7, 1000] {
                let mut got = Vec::new();
                let run = lf.clone().sink_batches_adaptive(
                    |df| {
                        got.push(df);
                        Ok(false)
                    },
                    NonZeroUsize::new(chunk),
                    true,
                );
                let label = format!("{name} sink_batches chunk {chunk} ({strategy})");
                if let Err(e) = run {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
                let sizes: Vec<usize> = got.iter().map(|d| d.height()).collect();
                if sizes.iter().rev().skip(1).any(|&h| h != chunk)
                    || sizes.last().is_some_and(|&h| h > chunk)
                {
                    failures.push(format!("{label}: batch sizes {sizes:?}"));
                }
                let ours = got
                    .into_iter()
                    .reduce(|mut a, b| {
                        a.vstack_mut_owned(b).unwrap();
                        a
                    })
                    .unwrap_or_else(|| theirs.clear());
                if let Err(d) = check(&ours, &theirs, *order) {
                    failures.push(format!("{label}: {d}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Plans that need their whole input at once.
fn unstreamable() -> Vec<(&'static str, Query)> {
    vec![
        ("sort", |lf| {
            lf.sort(["f64"], SortMultipleOptions::default())
                .select([col("id"), col("f64")])
        }),
        ("median", |lf| {
            lf.group_by([col("b")])
                .agg([col("i16").median()])
                .sort(["b"], SortMultipleOptions::default())
        }),
        ("window", |lf| {
            lf.select([
                col("id"),
                col("i16").sum().over([col("b")]).unwrap().alias("w"),
            ])
        }),
        // Unique on some columns keeps whole rows chosen among differing ones.
        ("unique", |lf| {
            lf.select([col("s"), col("id")])
                .unique_stable(Some(cols(["s"])), UniqueKeepStrategy::First)
        }),
    ]
}

#[test]
fn an_unstreamable_plan_under_a_hard_budget_is_an_error_naming_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    for (name, query) in unstreamable() {
        let args = ScanArgsAdaptive::default().with_memory_budget(64 << 20);
        let err = query(LazyFrame::scan_adaptive(&target, args).unwrap())
            .collect_adaptive()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("memory budget"), "{name}: {msg}");
        assert!(msg.to_lowercase().contains(name), "{name}: {msg}");
    }
}

#[test]
fn an_unstreamable_plan_without_a_budget_falls_back_and_answers_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    for (name, query) in unstreamable() {
        let ours = query(LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default()).unwrap())
            .collect_adaptive()
            .unwrap();
        let theirs = query(stock(&target)).collect().unwrap();
        same_frame_aggregated(&ours, &theirs).unwrap_or_else(|d| panic!("{name}: {d}"));
    }
}

#[test]
fn filter_then_head_stops_reading_early() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.parquet");
    write(
        &mut mixed(0, 20_000),
        &path,
        Layout {
            row_group_size: 500,
            ..Layout::default()
        },
    );
    let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(500));
    // Not prunable from statistics: only stopping early saves reading.
    let q = |lf: LazyFrame| lf.filter((col("i16") % lit(5)).eq(lit(0))).limit(30);
    let ours = q(LazyFrame::scan_adaptive(&path, args.clone()).unwrap())
        .collect_adaptive()
        .unwrap();
    same_frame(&ours, &q(stock(&path)).collect().unwrap()).unwrap();
    let m = args.metrics();
    let threads = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(m.rows_decoded <= 500 * (threads + 4), "{m}");
}

/// Ints with nulls and an all-null row group, floats with NaN, strings; 100-row row groups.
fn statistics_frame(seed: i64) -> DataFrame {
    let rows = 600i64;
    df!(
        "i" => (0..rows).map(|r| (r % 7 != 0 && !(200..300).contains(&r)).then_some((r * 37 + seed) % 1000 - 500)).collect::<Vec<_>>(),
        "f" => (0..rows).map(|r| if r == 150 { f64::NAN } else { (r % 13) as f64 }).collect::<Vec<_>>(),
        "s" => (0..rows).map(|r| format!("v{}", (r * 7 + seed) % 97)).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// `max`, `min` and `len()` of column `i`: what statistics may answer.
fn bounds_of_i(lf: LazyFrame) -> LazyFrame {
    lf.select([col("i").max(), col("i").min().alias("lo"), len()])
}

#[test]
fn global_min_max_len_count_are_answered_from_statistics_where_exact() {
    let dir = tempfile::tempdir().unwrap();
    // One file with statistics (answered), one without (decoded): one answer from both.
    write(
        &mut statistics_frame(0),
        &dir.path().join("a.parquet"),
        Layout::default(),
    );
    write(
        &mut statistics_frame(11),
        &dir.path().join("b.parquet"),
        Layout {
            statistics: false,
            ..Layout::default()
        },
    );
    let glob = dir.path().join("*.parquet");
    let answered = |q: &dyn Fn(LazyFrame) -> LazyFrame, args: ScanArgsAdaptive| {
        let ours = q(LazyFrame::scan_adaptive(&glob, args.clone()).unwrap())
            .collect_adaptive()
            .unwrap();
        let expected = q(stock(&glob)).collect().unwrap();
        same_frame(&ours, &expected).unwrap();
        args.metrics().row_groups_answered_from_statistics
    };
    // The six row groups of a.parquet: the all-null one has no bounds, and its null count
    // (divided by its data pages where the writer repeated it: see
    // `null_counts_of_a_polars_dictionary_chunk_are_divided_by_its_data_pages`) proves it all
    // null.
    assert_eq!(answered(&bounds_of_i, ScanArgsAdaptive::default()), 6);
    let count = |lf: LazyFrame| lf.select([col("i").count(), col("i").null_count().alias("n")]);
    assert_eq!(answered(&count, ScanArgsAdaptive::default()), 6);
    // Float bounds are values where they are not NaN (Polars' writer makes both bounds of a
    // chunk holding NaN NaN: the row group of row 150 is decoded) nor zero (widened to both
    // signs: `f`'s min, 0.0, is decoded in every row group). Strings from Polars' writer,
    // which does not flag its bounds exact (see the truncated ones below), are decoded too.
    let float = |lf: LazyFrame| lf.select([col("f").max(), col("i").min()]);
    assert_eq!(answered(&float, ScanArgsAdaptive::default()), 5);
    let float_min = |lf: LazyFrame| lf.select([col("f").min()]);
    assert_eq!(answered(&float_min, ScanArgsAdaptive::default()), 0);
    let string = |lf: LazyFrame| lf.select([col("s").min()]);
    assert_eq!(answered(&string, ScanArgsAdaptive::default()), 0);
    // A filter, an expression over the aggregate, statistics switched off: decoded.
    let filtered = |lf: LazyFrame| lf.filter(col("i").gt(lit(0))).select([col("i").max()]);
    assert_eq!(answered(&filtered, ScanArgsAdaptive::default()), 0);
    let derived = |lf: LazyFrame| lf.select([col("i").max() + lit(1)]);
    assert_eq!(answered(&derived, ScanArgsAdaptive::default()), 0);
    let off = ScanArgsAdaptive::default().with_statistics(false);
    assert_eq!(answered(&bounds_of_i, off), 0);
}

/// Polars' writer before 2.x gives each data page of a dictionary chunk the whole chunk's
/// statistics, so its footer counts the chunk's nulls once per page: this file (the difftest's
/// case at seed 99, shrunk) records 42 nulls for 7, over 6 data pages. The count is divided by
/// the pages its offset index lists, so `count` and `null_count` are answered from statistics
/// and equal stock's; trusting the footer would answer 27 and 42.
#[test]
fn null_counts_of_a_polars_dictionary_chunk_are_divided_by_its_data_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small-pages.parquet");
    let mut df = df!(
        "a" => (0..69i64).map(|i| (i % 10 != 0).then_some(i % 20)).collect::<Vec<_>>(),
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(50))
        .with_data_page_size(Some(64))
        .with_statistics(StatisticsOptions::full())
        .finish(&mut df)
        .unwrap();
    let reader = MmapParquetReader::new(&path).unwrap();
    let stats = reader.row_group_statistics(0).column("a").unwrap();
    assert_eq!(stats.null_count(), Some(7));
    assert!(stats.null_count_is_exact());
    let args = ScanArgsAdaptive::default();
    let q = |lf: LazyFrame| lf.select([col("a").count(), col("a").null_count().alias("nulls")]);
    let scan = LazyFrame::scan_adaptive(&path, args.clone()).unwrap();
    let expected = q(stock(&path)).collect().unwrap();
    same_frame(&q(scan.clone()).collect_adaptive().unwrap(), &expected).unwrap();
    assert_eq!(args.metrics().row_groups_answered_from_statistics, 1);
    // Again on the same scan, whose footer is now shared: the count is divided again, never
    // kept divided in the shared footer.
    same_frame(&q(scan).collect_adaptive().unwrap(), &expected).unwrap();
    assert_eq!(args.metrics().row_groups_answered_from_statistics, 2);
}

/// A footer's unflagged bounds are values only from writers known to write values
/// (`EXACT_BOUND_WRITERS`): from any other writer they are decoded, so a bound that lies (a
/// max larger than any value) changes no answer.
#[test]
fn unflagged_bounds_of_an_unknown_writer_are_decoded_even_when_they_lie() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 600i64;
    // Row group maxima 99_007, 199_007, ...: byte patterns found nowhere else in the footer.
    let mut df = df!(
        "i" => (0..rows).map(|r| (r % 10 != 3).then_some(r * 1000 + 7)).collect::<Vec<_>>(),
    )
    .unwrap();
    let answered = |path: &Path| {
        let args = ScanArgsAdaptive::default();
        let ours = bounds_of_i(LazyFrame::scan_adaptive(path, args.clone()).unwrap())
            .collect_adaptive()
            .unwrap();
        let expected = bounds_of_i(stock(path)).collect().unwrap();
        same_frame(&ours, &expected).unwrap();
        args.metrics().row_groups_answered_from_statistics
    };
    let known = dir.path().join("known.parquet");
    write(&mut df, &known, Layout::default());
    assert_eq!(answered(&known), 6);
    let unknown = dir.path().join("unknown.parquet");
    std::fs::copy(&known, &unknown).unwrap();
    assert_eq!(patch_footer(&unknown, b"Polars", b"Pxlars"), 1);
    assert_eq!(answered(&unknown), 0);
    let lie = 5_000_000_007i64.to_le_bytes();
    assert_eq!(patch_footer(&unknown, &99_007i64.to_le_bytes(), &lie), 1);
    assert_eq!(answered(&unknown), 0);
}

/// Row groups whose statistics cannot give an aggregate exactly are decoded, in the same
/// answer as the ones that can: string bounds the writer cut (flagged inexact by arrow-rs),
/// a column without null counts for `count`.
#[test]
fn truncated_bounds_and_absent_null_counts_are_decoded_not_answered() {
    use arrow::array::{ArrayRef, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    let dir = tempfile::tempdir().unwrap();
    // Row groups of 2: the first two hold short strings (exact bounds), the last a long one.
    let path = dir.path().join("truncated.parquet");
    let strings: ArrayRef = std::sync::Arc::new(StringArray::from(vec![
        Some("ab"),
        Some("b"),
        None,
        Some("a"),
        Some("zz-longer-than-the-cut"),
        Some("c"),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_from_iter([("s", strings)]).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .set_statistics_truncate_length(Some(4))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let answered = |target: &Path, q: &dyn Fn(LazyFrame) -> LazyFrame| {
        let args = ScanArgsAdaptive::default();
        let ours = q(LazyFrame::scan_adaptive(target, args.clone()).unwrap())
            .collect_adaptive()
            .unwrap();
        same_frame(&ours, &q(stock(target)).collect().unwrap()).unwrap();
        args.metrics().row_groups_answered_from_statistics
    };
    let bounds = |lf: LazyFrame| lf.select([col("s").min().alias("lo"), col("s").max()]);
    assert_eq!(answered(&path, &bounds), 2);
    // Statistics without null counts (no writer at hand leaves them out: Polars' footer with
    // them dropped): bounds answered, counts decoded.
    let path = dir.path().join("no-null-counts.parquet");
    write(&mut statistics_frame(3), &path, Layout::default());
    drop_null_counts(&path);
    let max = |lf: LazyFrame| lf.select([col("i").max(), len()]);
    assert_eq!(answered(&path, &max), 5);
    let count = |lf: LazyFrame| lf.select([col("i").count()]);
    assert_eq!(answered(&path, &count), 0);
}

/// Rewrites the footer of the Parquet file at `path` without the null counts of its integer
/// column chunks' statistics (min and max kept, flagged exact).
fn drop_null_counts(path: &Path) {
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    use parquet::file::statistics::Statistics;

    let bytes = std::fs::read(path).unwrap();
    let footer_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    let footer_start = bytes.len() - 8 - footer_len as usize;
    let md = ParquetMetaDataReader::decode_metadata(&bytes[footer_start..bytes.len() - 8]).unwrap();
    let mut builder = md.into_builder();
    let groups = builder
        .take_row_groups()
        .into_iter()
        .map(|rg| {
            let mut rgb = rg.into_builder();
            let columns = rgb
                .take_columns()
                .into_iter()
                .map(|cc| {
                    let stats = match cc.statistics() {
                        Some(Statistics::Int64(s)) => Some(Statistics::int64(
                            s.min_opt().copied(),
                            s.max_opt().copied(),
                            None,
                            None,
                            false,
                        )),
                        _ => None,
                    };
                    match stats {
                        Some(stats) => cc.into_builder().set_statistics(stats).build().unwrap(),
                        None => cc,
                    }
                })
                .collect();
            rgb.set_column_metadata(columns).build().unwrap()
        })
        .collect();
    let md = builder.set_row_groups(groups).build();
    let mut out = bytes[..footer_start].to_vec();
    ParquetMetaDataWriter::new(&mut out, &md).finish().unwrap();
    std::fs::write(path, out).unwrap();
}

/// `rows` rows of the mixed dataset in one file, in row groups of `row_group_size`.
fn one_file(dir: &Path, rows: usize, row_group_size: usize) -> PathBuf {
    let path = dir.join("mixed.parquet");
    let layout = Layout {
        row_group_size,
        ..Layout::default()
    };
    write(&mut mixed(0, rows), &path, layout);
    path
}

/// The aggregations the streaming engine's grouped reductions cover (sum of `summed`, min,
/// max, count, mean, `extra`, len), named after themselves.
fn grouped_reductions(summed: &str, extra: impl IntoIterator<Item = Expr>) -> Vec<Expr> {
    let mut aggs = vec![
        col(summed).sum().alias("sum"),
        col("i16").min().alias("min"),
        col("u32").max().alias("max"),
        col("i8").count().alias("count"),
    ];
    aggs.extend(extra);
    aggs.extend([col("f64").mean().alias("mean"), len()]);
    aggs
}

/// A unit is aggregated a morsel of 2^17 rows at a time into one grouper: groups that appear
/// in several morsels, and in several units, keep their first-appearance order and combine
/// exactly like stock's answer over the whole input.
#[test]
fn units_larger_than_a_morsel_aggregate_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let path = one_file(dir.path(), 400_000, 400_000);
    let query = |lf: LazyFrame| {
        lf.group_by_stable([col("i32"), col("u8")])
            .agg(grouped_reductions(
                "id",
                [col("i8").null_count().alias("nulls")],
            ))
    };
    let theirs = query(stock(&path)).collect().unwrap();
    // One unit of four morsels (the last one short); three units of two morsels each.
    for rows in [400_000, 150_000] {
        let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(rows));
        let ours = query(LazyFrame::scan_adaptive(&path, args).unwrap())
            .collect_adaptive()
            .unwrap();
        same_frame_aggregated(&ours, &theirs).unwrap_or_else(|d| panic!("units of {rows}: {d}"));
    }
}

/// Without a defined group order, batches add their rows to aggregation states kept across
/// batches, which are handed on once they hold 65,536 groups and merged when the scan ends:
/// here a state passes that bound about every 13 batches and the rest is left in the states
/// at the end, with and without a budget.
#[test]
fn states_kept_across_batches_flushed_and_drained_aggregate_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    let path = one_file(dir.path(), 300_000, 50_000);
    let query = |lf: LazyFrame| {
        lf.filter(col("i8").gt(lit(-100)))
            .group_by([(col("id") % lit(100_000i64)).alias("k")])
            .agg(grouped_reductions("i32", []))
    };
    let theirs = query(stock(&path)).collect().unwrap();
    assert!(theirs.height() > 65_536);
    for args in [
        ScanArgsAdaptive::default(),
        ScanArgsAdaptive::default().with_memory_budget(256 << 20),
    ] {
        let args = args.with_chunk_policy(ChunkPolicy::Rows(5_000));
        let ours = query(LazyFrame::scan_adaptive(&path, args.clone()).unwrap())
            .collect_adaptive()
            .unwrap();
        check(&ours, &theirs, Order::ByKeys(&["k"])).unwrap();
        assert!(args.metrics().batches >= 60, "{}", args.metrics());
    }
}

/// The pooled states on a pool of one thread (every batch takes and returns a state on the
/// only pool thread; the consumer drains them after the last) and of two, in a child process
/// with a timeout: the answer is stock's and the read finishes.
#[test]
fn states_kept_across_batches_aggregate_like_stock_on_one_and_two_pool_threads() {
    let name =
        "collect_adaptive::states_kept_across_batches_flushed_and_drained_aggregate_like_stock";
    for threads in ["1", "2"] {
        run_test_in_child(
            name,
            &[("POLARS_MAX_THREADS", threads)],
            std::time::Duration::from_secs(120),
        );
    }
}

#[test]
fn a_cancelled_scan_stops_with_an_error_mid_aggregation_and_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let cancellation = Cancellation::new();
    let args = ScanArgsAdaptive::default()
        .with_chunk_policy(ChunkPolicy::Rows(100))
        .with_cancellation(cancellation.clone());
    let scan = || LazyFrame::scan_adaptive(&target, args.clone()).unwrap();
    // Mid-stream: the consumer cancels after its first batch; batches already decoded may
    // still arrive, the other 29 of 100 rows are not read.
    let mut batches = 0;
    let err = scan()
        .select([col("id")])
        .sink_batches_adaptive(
            |_| {
                batches += 1;
                cancellation.cancel();
                Ok(false)
            },
            None,
            true,
        )
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(batches < 30, "{batches} batches of 30 after the cancel");
    // An aggregation hands nothing out before its end; its scan stops all the same.
    let cancellation = Cancellation::new();
    cancellation.cancel();
    let args = args.with_cancellation(cancellation);
    let err = LazyFrame::scan_adaptive(&target, args)
        .unwrap()
        .group_by([col("b")])
        .agg([col("i32").sum()])
        .collect_adaptive()
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[test]
fn a_limit_without_a_budget_streams_its_rows_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let target = dataset(dir.path());
    let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(100));
    let mut batches = Vec::new();
    LazyFrame::scan_adaptive(&target, args)
        .unwrap()
        .slice(150, 1000)
        .sink_batches_adaptive(
            |df| {
                batches.push(df);
                Ok(false)
            },
            None,
            true,
        )
        .unwrap();
    // Held until the end, the slice would arrive as one frame.
    assert!(batches.len() > 5, "{} batches", batches.len());
    let mut all = batches.remove(0);
    for b in &batches {
        all.vstack_mut(b).unwrap();
    }
    same_frame(&all, &stock(&target).slice(150, 1000).collect().unwrap()).unwrap();
}

/// A string group key read by nothing else is grouped by its dictionary codes (the scan hands
/// it out as a categorical): over Polars' dictionary pages, plain chunks of unique strings,
/// nulls, the predicate's masked decode, units inside row groups and states kept across
/// batches, groups and their first-appearance order are stock's, and the key is a string.
/// A key an aggregation also reads (its `min`) stays a string throughout.
#[test]
fn a_string_key_grouped_by_its_dictionary_codes_aggregates_like_stock() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &mut mixed(0, 60_000),
        &dir.path().join("0.parquet"),
        Layout {
            row_group_size: 20_000,
            ..Layout::default()
        },
    );
    // Unique strings: Polars' writer does not dictionary-encode them.
    let ids: Vec<i64> = (0..5_000).collect();
    let mut unique = mixed(60_000, 5_000)
        .with_column(Column::new(
            "s".into(),
            ids.iter()
                .map(|i| (i % 9 != 0).then(|| format!("u{}", i % 2_500)))
                .collect::<Vec<_>>(),
        ))
        .unwrap()
        .clone();
    write(
        &mut unique,
        &dir.path().join("1.parquet"),
        Layout::default(),
    );
    let path = dir.path().join("*.parquet");

    let queries: Vec<(Order, Query)> = vec![
        (Order::ByKeys(&["s"]), |lf| {
            lf.group_by([col("s")]).agg(grouped_reductions("i32", []))
        }),
        (Order::Aggregated, |lf| {
            lf.filter(col("i8").gt(lit(-20)))
                .group_by_stable([col("s")])
                .agg(grouped_reductions("i32", []))
        }),
        (Order::ByKeys(&["s"]), |lf| {
            lf.filter(col("u8").lt(lit(200)))
                .group_by([col("s")])
                .agg([col("s").min().alias("min_s"), len()])
        }),
    ];
    for (i, (order, query)) in queries.iter().enumerate() {
        let theirs = query(stock(&path)).collect().unwrap();
        for args in [
            ScanArgsAdaptive::default(),
            ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(7_000)),
            ScanArgsAdaptive::default()
                .with_chunk_policy(ChunkPolicy::Rows(3_000))
                .with_memory_budget(256 << 20),
        ] {
            let ours = query(LazyFrame::scan_adaptive(&path, args).unwrap())
                .collect_adaptive()
                .unwrap();
            assert_eq!(ours.column("s").unwrap().dtype(), &DataType::String);
            check(&ours, &theirs, *order).unwrap_or_else(|d| panic!("query {i}: {d}"));
        }
    }
}

/// One generated case of `a_string_key_grouped_by_dictionary_codes_answers_like_stock_on_generated_files`.
#[derive(Debug, Clone)]
struct KeyCase {
    /// Each row's key, an index into the case's strings; `None` is a null key.
    keys: Vec<Option<u16>>,
    /// Strings longer than a view's 12 inline bytes.
    long: bool,
    /// arrow-rs with a 256-byte dictionary limit (plain pages past it), else Polars' writer.
    arrow_rs: bool,
    row_group_rows: usize,
    unit_rows: usize,
    /// `x % 3 != 0`: a predicate on another column, so the key is decoded through a mask.
    filtered: bool,
    stable: bool,
}

fn key_case() -> impl proptest::strategy::Strategy<Value = KeyCase> {
    use proptest::prelude::*;
    (1u16..600, 1usize..4_000).prop_flat_map(|(distinct, rows)| {
        (
            prop::collection::vec(prop::option::weighted(0.9, 0..distinct), rows),
            any::<bool>(),
            any::<bool>(),
            64usize..3_000,
            16usize..5_000,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(keys, long, arrow_rs, row_group_rows, unit_rows, filtered, stable)| KeyCase {
                    keys,
                    long,
                    arrow_rs,
                    row_group_rows,
                    unit_rows,
                    filtered,
                    stable,
                },
            )
    })
}

/// Writes `case`'s rows (`k`, `x` the row number, `f` with nulls) to `path`.
fn write_key_case(case: &KeyCase, path: &Path) {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    let name = |v: u16| match case.long {
        true => format!("a key longer than a view inlines {v}"),
        false => format!("k{v}"),
    };
    let keys: Vec<Option<String>> = case.keys.iter().map(|k| k.map(name)).collect();
    let n = keys.len() as i64;
    let floats: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 7 != 0).then(|| i as f64 / 4.0))
        .collect();
    if !case.arrow_rs {
        let mut df = df!("k" => keys, "x" => (0..n).collect::<Vec<_>>(), "f" => floats).unwrap();
        let layout = Layout {
            row_group_size: case.row_group_rows,
            ..Layout::default()
        };
        write(&mut df, path, layout);
        return;
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("k", std::sync::Arc::new(StringArray::from(keys))),
        ("x", std::sync::Arc::new(Int64Array::from_iter_values(0..n))),
        ("f", std::sync::Arc::new(Float64Array::from(floats))),
    ];
    let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(case.row_group_rows))
        .set_dictionary_page_size_limit(256)
        .set_data_page_row_count_limit(50)
        .set_write_batch_size(50)
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// A string key only the grouper reads is grouped by its dictionary codes: on generated
    /// keys (nulls, long strings, few or many distinct), files from both writers (arrow-rs
    /// falling back to plain pages mid-chunk), units of any size and a predicate on another
    /// column, the groups, their values and (for `group_by_stable`) their order are stock's.
    #[test]
    fn a_string_key_grouped_by_dictionary_codes_answers_like_stock_on_generated_files(case in key_case()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.parquet");
        write_key_case(&case, &path);
        let query = |lf: LazyFrame| {
            let lf = match case.filtered {
                true => lf.filter((col("x") % lit(3i64)).neq(lit(0i64))),
                false => lf,
            };
            let aggs = [
                col("x").sum().alias("sum"),
                col("f").min().alias("min"),
                col("f").max().alias("max"),
                col("f").count().alias("count"),
                col("f").null_count().alias("nulls"),
                col("x").mean().alias("mean"),
                len(),
            ];
            match case.stable {
                true => lf.group_by_stable([col("k")]).agg(aggs),
                false => lf.group_by([col("k")]).agg(aggs),
            }
        };
        let theirs = query(stock(&path)).collect().unwrap();
        let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(case.unit_rows));
        let ours = query(LazyFrame::scan_adaptive(&path, args).unwrap())
            .collect_adaptive()
            .unwrap();
        let order = match case.stable {
            true => Order::Aggregated,
            false => Order::ByKeys(&["k"]),
        };
        proptest::prop_assert!(check(&ours, &theirs, order).is_ok(), "{:?}", check(&ours, &theirs, order));
    }
}
