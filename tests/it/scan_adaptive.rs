//! `LazyFrame::scan_adaptive` answers every query shape as stock `scan_parquet` does, on files
//! with small row groups, without statistics, with several codecs, and as multi-file globs.

use std::path::{Path, PathBuf};

use crate::common::{large_files, mixed, same_frame, same_frame_aggregated, stock, write, Layout};
use polars::prelude::*;
use polars_adaptive::plan::PREDICATE_DTYPE_ERROR;
use polars_adaptive::prelude::*;

type Query = fn(LazyFrame) -> LazyFrame;

/// (name, aggregates floats, query)
fn shapes() -> Vec<(&'static str, bool, Query)> {
    vec![
        // Projections
        ("project one", false, |lf| lf.select([col("id")])),
        ("project reordered", false, |lf| {
            lf.select([col("s"), col("f64"), col("id")])
        }),
        ("project all", false, |lf| lf),
        ("drop columns", false, |lf| lf.drop(cols(["s", "ts"]))),
        // Comparisons on every dtype, literal on either side
        ("id > lit", false, |lf| {
            lf.filter(col("id").gt(lit(1500i64)))
        }),
        ("lit < id", false, |lf| {
            lf.filter(lit(1500i64).lt(col("id")))
        }),
        ("id == lit", false, |lf| lf.filter(col("id").eq(lit(42i64)))),
        ("id != lit", false, |lf| {
            lf.filter(col("id").neq(lit(42i64)))
        }),
        ("i8 <= lit", false, |lf| {
            lf.filter(col("i8").lt_eq(lit(-10)))
        }),
        ("i16 >= lit cast", false, |lf| {
            lf.filter(col("i16").gt_eq(lit(100).cast(DataType::Int16)))
        }),
        ("i32 is_between", false, |lf| {
            lf.filter(col("i32").is_between(lit(-10), lit(10), ClosedInterval::Both))
        }),
        ("u8 < lit", false, |lf| lf.filter(col("u8").lt(lit(20u8)))),
        ("u32 is_in", false, |lf| {
            lf.filter(col("u32").is_in(
                lit(Series::new("".into(), [1u32, 2, 3, 4000])).implode(false),
                false,
            ))
        }),
        ("u64 > big lit", false, |lf| {
            lf.filter(col("u64").gt(lit(1u64 << 62)))
        }),
        ("f64 > 0", false, |lf| lf.filter(col("f64").gt(lit(0.0)))),
        ("f64 == -0.0", false, |lf| {
            lf.filter(col("f64").eq(lit(-0.0)))
        }),
        ("f64 is_nan", false, |lf| lf.filter(col("f64").is_nan())),
        ("f64 is_not_nan", false, |lf| {
            lf.filter(col("f64").is_not_nan())
        }),
        ("f32 < lit", false, |lf| {
            lf.filter(col("f32").lt(lit(-1.0f32)))
        }),
        ("f64 == inf", false, |lf| {
            lf.filter(col("f64").eq(lit(f64::INFINITY)))
        }),
        ("s == non-ascii", false, |lf| {
            lf.filter(col("s").eq(lit("日本語")))
        }),
        ("s > lit", false, |lf| lf.filter(col("s").gt(lit("zeta")))),
        ("s is_in incl. long", false, |lf| {
            lf.filter(
                col("s").is_in(
                    lit(Series::new(
                        "".into(),
                        ["alpha", "ÄÖÜ", &format!("{}3", "x".repeat(70))],
                    ))
                    .implode(false),
                    false,
                ),
            )
        }),
        ("s starts_with", false, |lf| {
            lf.filter(col("s").str().starts_with(lit("alp")))
        }),
        ("s == long", false, |lf| {
            lf.filter(col("s").eq(lit(format!("{}3", "x".repeat(70)))))
        }),
        ("b == true", false, |lf| lf.filter(col("b").eq(lit(true)))),
        ("b is_null", false, |lf| lf.filter(col("b").is_null())),
        ("d >= date", false, |lf| {
            lf.filter(col("d").gt_eq(lit(18_150).cast(DataType::Date)))
        }),
        ("ts < datetime", false, |lf| {
            lf.filter(col("ts").lt(
                lit(1_700_000_500_000i64).cast(DataType::Datetime(TimeUnit::Milliseconds, None)),
            ))
        }),
        ("i32 is_null", false, |lf| lf.filter(col("i32").is_null())),
        ("i32 is_not_null", false, |lf| {
            lf.filter(col("i32").is_not_null())
        }),
        ("compare with null", false, |lf| {
            lf.filter(col("i32").gt(lit(NULL).cast(DataType::Int32)))
        }),
        // Boolean structure
        ("not", false, |lf| {
            lf.filter(col("id").lt(lit(2000i64)).not())
        }),
        ("or", false, |lf| {
            lf.filter(col("id").lt(lit(100i64)).or(col("id").gt(lit(2900i64))))
        }),
        ("and mixed", false, |lf| {
            lf.filter(
                col("i32")
                    .gt(lit(0))
                    .and(col("s").str().starts_with(lit("a"))),
            )
        }),
        ("not is_in", false, |lf| {
            lf.filter(
                col("s")
                    .is_in(
                        lit(Series::new("".into(), ["alpha", "zeta"])).implode(false),
                        false,
                    )
                    .not(),
            )
        }),
        ("two filters", false, |lf| {
            lf.filter(col("id").gt(lit(700i64)))
                .filter(col("f64").lt(lit(3.0)))
        }),
        // Predicates the pruner cannot use: applied exactly
        ("arithmetic", false, |lf| {
            lf.filter((col("id") * lit(2i64)).gt(lit(3000i64)))
        }),
        ("string length", false, |lf| {
            lf.filter(col("s").str().len_bytes().gt(lit(10u32)))
        }),
        ("or with unknown", false, |lf| {
            lf.filter(
                col("id")
                    .lt(lit(10i64))
                    .or((col("i16") % lit(7)).eq(lit(0))),
            )
        }),
        // Slices
        ("head", false, |lf| lf.limit(10)),
        ("slice", false, |lf| lf.slice(250, 30)),
        ("tail", false, |lf| lf.tail(7)),
        ("filter then head", false, |lf| {
            lf.filter(col("id").gt(lit(500i64))).limit(5)
        }),
        ("project then head", false, |lf| {
            lf.select([col("s"), col("d")]).limit(120)
        }),
        // group_by and aggregations
        ("group_by bool", true, |lf| {
            lf.group_by_stable([col("b")]).agg([
                len(),
                col("i32").sum(),
                col("f64").mean(),
                col("s").n_unique().alias("distinct"),
            ])
        }),
        ("group_by string", false, |lf| {
            lf.group_by_stable([col("s")]).agg([
                col("id").count(),
                col("id").min(),
                col("ts").max(),
            ])
        }),
        ("filtered group_by", true, |lf| {
            lf.filter(col("u8").gt(lit(100u8)))
                .group_by_stable([col("i8")])
                .agg([col("f32").sum(), col("u64").max()])
        }),
        ("global aggregation", true, |lf| {
            lf.select([
                col("i16").sum(),
                col("f64").min(),
                col("f32").max(),
                col("s").max(),
                col("i32").null_count(),
            ])
        }),
        // Sort
        ("sort", false, |lf| {
            lf.sort(["i32", "id"], SortMultipleOptions::default())
        }),
        ("sort desc head", false, |lf| {
            lf.sort(
                ["u64"],
                SortMultipleOptions::default().with_order_descending(true),
            )
            .limit(20)
        }),
        // with_columns
        ("with_columns", false, |lf| {
            lf.with_columns([
                (col("id") * lit(2i64)).alias("id2"),
                col("s").str().len_chars().alias("chars"),
            ])
            .filter(col("id2").gt(lit(100i64)))
        }),
        ("with_columns then select", false, |lf| {
            lf.with_column((col("f64") + col("i16").cast(DataType::Float64)).alias("sum"))
                .select([col("id"), col("sum")])
        }),
        ("rename then filter", false, |lf| {
            lf.rename(["i32"], ["x"], true).filter(col("x").lt(lit(0)))
        }),
    ]
}

/// The datasets: (name, scan target).
fn datasets(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let single = |name: &str, layout: Layout| {
        let path = dir.join(name);
        write(&mut mixed(0, 3000), &path, layout);
        path
    };
    out.push((
        "small row groups",
        single("small.parquet", Layout::default()),
    ));
    out.push((
        "no statistics",
        single(
            "nostats.parquet",
            Layout {
                row_group_size: 250,
                statistics: false,
                ..Layout::default()
            },
        ),
    ));
    let codecs = dir.join("codecs");
    std::fs::create_dir(&codecs).unwrap();
    for (i, compression) in [
        ParquetCompression::Uncompressed,
        ParquetCompression::Snappy,
        ParquetCompression::Lz4Raw,
        ParquetCompression::Gzip(None),
    ]
    .into_iter()
    .enumerate()
    {
        let layout = Layout {
            row_group_size: 128,
            compression,
            ..Layout::default()
        };
        write(
            &mut mixed(i * 700, 700),
            &codecs.join(format!("part-{i}.parquet")),
            layout,
        );
    }
    out.push(("codecs glob", codecs.join("part-*.parquet")));
    let multi = dir.join("multi");
    std::fs::create_dir(&multi).unwrap();
    for i in 0..3 {
        write(
            &mut mixed(i * 1000, 1000),
            &multi.join(format!("{i}.parquet")),
            Layout::default(),
        );
    }
    out.push(("multi-file directory", multi));
    out
}

#[test]
fn every_query_shape_answers_like_stock_scan_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let shapes = shapes();
    assert!(shapes.len() >= 40, "{} shapes", shapes.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (data, target) in datasets(dir.path()) {
        for (name, aggregates, query) in &shapes {
            let ours = LazyFrame::scan_adaptive(&target, ScanArgsAdaptive::default())
                .and_then(|lf| query(lf).collect());
            let theirs = query(stock(&target)).collect();
            checked += 1;
            let verdict = match (ours, theirs) {
                (Ok(a), Ok(b)) if *aggregates => same_frame_aggregated(&a, &b),
                (Ok(a), Ok(b)) => same_frame(&a, &b),
                (Err(e), Ok(_)) => Err(format!("we fail where stock reads: {e}")),
                (Ok(_), Err(e)) => Err(format!("stock fails where we read: {e}")),
                (Err(_), Err(_)) => Ok(()),
            };
            if let Err(diff) = verdict {
                failures.push(format!("[{data}] {name}: {diff}"));
            }
        }
    }
    eprintln!("{checked} (dataset, query) pairs checked");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `filter(predicate)` over `target` through `scan_adaptive(args)` and through stock: the
/// answers must be equal. Returns what the scan did.
fn filter_like_stock(
    target: &Path,
    args: ScanArgsAdaptive,
    predicate: Expr,
) -> ScanMetricsSnapshot {
    let ours = LazyFrame::scan_adaptive(target, args.clone())
        .unwrap()
        .filter(predicate.clone())
        .collect()
        .unwrap();
    let theirs = stock(target).filter(predicate.clone()).collect().unwrap();
    same_frame(&ours, &theirs).unwrap_or_else(|d| panic!("{predicate:?}: {d}"));
    args.metrics()
}

/// A file of 100 row groups of 100 rows, sorted on `id`.
fn sorted_file(dir: &Path) -> PathBuf {
    let path = dir.join("sorted.parquet");
    write(&mut mixed(0, 10_000), &path, Layout::default());
    path
}

#[test]
fn a_predicate_on_a_sorted_column_skips_at_least_90_percent_of_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    for predicate in [
        col("id").lt(lit(500i64)),
        col("id").is_between(lit(4_000i64), lit(4_300i64), ClosedInterval::Both),
        lit(9_800i64).lt_eq(col("id")).and(col("s").is_not_null()),
        col("id").is_in(
            lit(Series::new("".into(), [17i64, 9_999])).implode(false),
            false,
        ),
    ] {
        let m = filter_like_stock(&path, ScanArgsAdaptive::default(), predicate.clone());
        assert_eq!(m.row_groups_total, 100);
        assert!(
            m.row_groups_pruned >= 90,
            "{predicate:?} pruned only {} of 100 row groups ({m})",
            m.row_groups_pruned
        );
    }
}

#[test]
fn predicates_the_pruner_cannot_use_prune_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    for predicate in [
        (col("id") * lit(2i64)).lt(lit(500i64)),
        col("id")
            .lt(lit(500i64))
            .or((col("i16") % lit(7)).eq(lit(0))),
        col("id").cast(DataType::Float64).lt(lit(500.0)),
    ] {
        let m = filter_like_stock(&path, ScanArgsAdaptive::default(), predicate.clone());
        assert_eq!(m.row_groups_pruned, 0, "{predicate:?}: {m}");
        assert_eq!(m.predicates_unprunable, 1, "{predicate:?}: {m}");
        assert_eq!(m.rows_decoded, 10_000, "{predicate:?}: {m}");
    }
}

#[test]
fn statistics_off_prunes_nothing_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let args = ScanArgsAdaptive::default().with_statistics(false);
    let m = filter_like_stock(&path, args, col("id").lt(lit(500i64)));
    assert_eq!(m.row_groups_pruned, 0);
}

#[test]
fn whole_files_are_pruned_in_a_multi_file_scan() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write(
            &mut mixed(i * 1000, 1000),
            &dir.path().join(format!("{i}.parquet")),
            Layout::default(),
        );
    }
    let target = dir.path().join("*.parquet");
    let m = filter_like_stock(
        &target,
        ScanArgsAdaptive::default(),
        col("id").gt_eq(lit(3_500i64)),
    );
    assert_eq!((m.files_total, m.files_pruned), (4, 3), "{m}");
}

#[test]
fn row_index_file_paths_and_n_rows_match_stock_options() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        write(
            &mut mixed(i * 500, 500),
            &dir.path().join(format!("{i}.parquet")),
            Layout::default(),
        );
    }
    let target = dir.path().join("*.parquet");
    let stock_with = |n_rows: Option<usize>| {
        LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&target).unwrap(),
            ScanArgsParquet {
                n_rows,
                row_index: Some(RowIndex {
                    name: "nr".into(),
                    offset: 10,
                }),
                include_file_paths: Some("file".into()),
                ..ScanArgsParquet::default()
            },
        )
        .unwrap()
    };
    let ours_with = |n_rows: Option<usize>| {
        let args = ScanArgsAdaptive::default()
            .with_row_index("nr", 10)
            .with_include_file_paths("file")
            .with_n_rows(n_rows);
        LazyFrame::scan_adaptive(&target, args).unwrap()
    };
    let queries: [Query; 4] = [
        |lf| lf,
        |lf| lf.filter(col("id").gt(lit(700i64))),
        |lf| lf.filter(col("nr").lt(lit(30u32)).or(col("nr").gt(lit(1400u32)))),
        |lf| lf.select([col("file"), col("nr")]).slice(480, 40),
    ];
    for n_rows in [None, Some(620)] {
        for (i, q) in queries.iter().enumerate() {
            let ours = q(ours_with(n_rows)).collect().unwrap();
            let theirs = q(stock_with(n_rows)).collect().unwrap();
            same_frame(&ours, &theirs)
                .unwrap_or_else(|d| panic!("query {i}, n_rows {n_rows:?}: {d}"));
        }
    }
}

#[test]
fn a_file_with_another_schema_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &mut mixed(0, 100),
        &dir.path().join("a.parquet"),
        Layout::default(),
    );
    let mut other = mixed(100, 100);
    other.rename("i32", "renamed".into()).unwrap();
    write(&mut other, &dir.path().join("b.parquet"), Layout::default());
    let err = LazyFrame::scan_adaptive(dir.path(), ScanArgsAdaptive::default())
        .unwrap()
        .collect()
        .unwrap_err();
    assert!(err.to_string().contains("b.parquet"), "{err}");
    assert!(
        stock(dir.path()).collect().is_err(),
        "stock reads it: the test is wrong"
    );
}

#[test]
fn an_unknown_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let err = LazyFrame::scan_adaptive(&path, ScanArgsAdaptive::default())
        .unwrap()
        .select([col("nope")])
        .collect()
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(stock(&path).select([col("nope")]).collect().is_err());
}

// `as_str.to_string()` on purpose: each form the path argument takes is checked.
#[allow(clippy::unnecessary_to_owned)]
#[test]
fn every_path_form_scans() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let as_str: &str = path.to_str().unwrap();
    let expected = stock(&path).collect().unwrap();
    let forms = [
        LazyFrame::scan_adaptive(as_str, ScanArgsAdaptive::default()),
        LazyFrame::scan_adaptive(as_str.to_string(), ScanArgsAdaptive::default()),
        LazyFrame::scan_adaptive(path.as_path(), ScanArgsAdaptive::default()),
        LazyFrame::scan_adaptive(path.clone(), ScanArgsAdaptive::default()),
        LazyFrame::scan_adaptive(dir.path(), ScanArgsAdaptive::default()),
        LazyFrame::scan_adaptive(dir.path().join("*.parquet"), ScanArgsAdaptive::default()),
    ];
    for lf in forms {
        same_frame(&lf.unwrap().collect().unwrap(), &expected).unwrap();
    }
}

#[test]
fn small_budgets_and_chunk_strategies_do_not_change_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let q = |lf: LazyFrame| {
        lf.filter(col("f64").gt(lit(-2.0)))
            .select([col("id"), col("s"), col("f64")])
    };
    let expected = q(stock(&path)).collect().unwrap();
    for args in [
        ScanArgsAdaptive::default().with_memory_budget(64 << 10),
        ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(7)),
        ScanArgsAdaptive::default()
            .with_max_concurrent_files(1)
            .with_rechunk(true),
    ] {
        let ours = q(LazyFrame::scan_adaptive(&path, args.clone()).unwrap())
            .collect()
            .unwrap();
        same_frame(&ours, &expected).unwrap();
        assert!(args.metrics().batches > 1, "{}", args.metrics());
    }
}

#[test]
fn every_prunable_form_prunes_on_clustered_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clustered.parquet");
    let n = 10_000i64;
    let mut df = df!(
        "id" => (0..n).collect::<Vec<_>>(),
        "key" => (0..n).map(|i| format!("k{i:05}")).collect::<Vec<_>>(),
        "half_null" => (0..n).map(|i| (i >= 5_000).then_some(i as i32)).collect::<Vec<_>>(),
    )
    .unwrap();
    write(&mut df, &path, Layout::default());
    let forms = [
        ("not", col("id").gt_eq(lit(500i64)).not()),
        ("starts_with", col("key").str().starts_with(lit("k001"))),
        ("string range", col("key").lt(lit("k00200"))),
        (
            "is_null",
            col("half_null").is_null().and(col("id").gt(lit(4_000i64))),
        ),
        ("is_not_null", col("half_null").is_not_null()),
        (
            "or",
            col("id").lt(lit(100i64)).or(col("id").gt(lit(9_900i64))),
        ),
        ("literal left", lit(9_000i64).lt(col("id"))),
        (
            "cast literal",
            col("half_null").gt(lit(9_000i64).cast(DataType::Int32)),
        ),
    ];
    for (name, predicate) in forms {
        let m = filter_like_stock(&path, ScanArgsAdaptive::default(), predicate);
        assert!(m.row_groups_pruned >= 40, "{name}: {m}");
    }
}

#[test]
fn a_slice_reaching_the_scan_stops_reading_early() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(100));
    let q = |lf: LazyFrame| lf.select([col("id"), col("s")]).limit(150);
    let ours = q(LazyFrame::scan_adaptive(&path, args.clone()).unwrap())
        .collect()
        .unwrap();
    same_frame(&ours, &q(stock(&path)).collect().unwrap()).unwrap();
    let m = args.metrics();
    // Decoding runs ahead of the consumer by at most the batches in flight: Polars' threads
    // (the machine's cores unless POLARS_MAX_THREADS lowers them) plus one, and one more unit
    // queued while waiting for a permit.
    let threads = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(m.rows_decoded <= 200 + (threads + 2) * 100, "{m}");
    assert!(m.rows_decoded < 10_000, "{m}");
}

/// Found by `cargo xtask difftest`: a predicate that fails on the scan's dtypes, in a
/// conjunction with a predicate that prunes row groups. Stock fails only when it reads a row
/// (so its answer depends on what it prunes); we always fail, with an error saying why
/// (docs/ARCHITECTURE.md, "Known differences").
#[test]
fn a_predicate_failing_on_the_dtypes_fails_whatever_is_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_file(dir.path());
    let wrong = || col("f64").str().len_bytes().gt(lit(3u32));
    let ours = |p: Expr| {
        LazyFrame::scan_adaptive(&path, ScanArgsAdaptive::default())
            .unwrap()
            .filter(p)
            .collect()
    };
    for (p, stock_fails) in [
        (wrong(), true),
        (wrong().and(col("id").lt(lit(500i64))), true),
        // Stock prunes every row group and never evaluates the faulty part.
        (wrong().and(col("id").lt(lit(-1i64))), false),
        // A constant-false conjunct must not fold the faulty part away either.
        (
            col("id")
                .is_between(lit(2i64), lit(-13i64), ClosedInterval::Both)
                .and(wrong()),
            false,
        ),
    ] {
        assert_eq!(
            stock(&path).filter(p.clone()).collect().is_err(),
            stock_fails,
            "{p:?}"
        );
        let err = ours(p.clone()).unwrap_err();
        assert!(
            err.to_string().contains(PREDICATE_DTYPE_ERROR),
            "{p:?}: {err}"
        );
    }
}

/// Found by `cargo xtask difftest`: Polars 0.55.2's writer, with small data pages and NaN in
/// some pages, writes column-chunk statistics that cover only the later pages (here min 1.75
/// for values down to -2.75). Stock trusts them and so do we: with statistics the answer is
/// stock's, without statistics it is stock's without statistics.
#[test]
fn files_with_wrong_statistics_read_like_stock_with_and_without_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small-pages.parquet");
    let mut values = vec![-2.75, -2.25, -2.0, -2.0, -2.0, -1.75, -1.5];
    values.extend([-1.25; 4].iter().chain(&[-1.0; 4]).chain(&[-0.75; 3]));
    values.extend([-0.5, -0.25, f64::NAN, f64::NAN, -0.0, f64::NEG_INFINITY]);
    values.extend([1.0, 1.25, 1.5, 1.75, 1.75, 2.0]);
    let mut df = df!("x" => values).unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_data_page_size(Some(256))
        .with_statistics(StatisticsOptions::full())
        .finish(&mut df)
        .unwrap();
    let q = |lf: LazyFrame| lf.filter(col("x").lt(lit(1.0)));
    let stock_with = |use_statistics| {
        let args = ScanArgsParquet {
            use_statistics,
            ..ScanArgsParquet::default()
        };
        q(LazyFrame::scan_parquet(PlRefPath::try_from_path(&path).unwrap(), args).unwrap())
            .collect()
            .unwrap()
    };
    // The premise: the statistics are wrong, so stock's two answers differ.
    assert_ne!(stock_with(true).height(), stock_with(false).height());
    for use_statistics in [true, false] {
        let args = ScanArgsAdaptive::default().with_statistics(use_statistics);
        let ours = q(LazyFrame::scan_adaptive(&path, args).unwrap())
            .collect()
            .unwrap();
        same_frame(&ours, &stock_with(use_statistics))
            .unwrap_or_else(|d| panic!("statistics {use_statistics}: {d}"));
    }
}

#[test]
fn collect_of_a_large_read_gives_one_chunk_per_fixed_width_and_string_column() {
    // Polars' in-memory group_by and join rechunk their input: a scan that already gives one
    // chunk per column leaves them no copy to make (docs/decisions.md, "`collect()` copies batches into one chunk per column past 64 MiB"). A
    // read of less than 64 MiB keeps its batches' chunks; this one gives about 88 MB.
    let dir = tempfile::tempdir().unwrap();
    large_files(dir.path());
    let query = |lf: LazyFrame| lf.filter(col("f").gt(lit(1.0)));
    let ours = query(LazyFrame::scan_adaptive(dir.path(), ScanArgsAdaptive::default()).unwrap())
        .collect()
        .unwrap();
    same_frame(&ours, &query(stock(dir.path())).collect().unwrap()).unwrap();
    assert!(
        ours.estimated_size() > 64 << 20,
        "{} bytes",
        ours.estimated_size()
    );
    for c in ours.columns() {
        // Booleans keep the batches' chunks.
        let one = c.dtype() != &DataType::Boolean;
        assert_eq!(
            c.n_chunks() == 1,
            one,
            "{}: {} chunks",
            c.name(),
            c.n_chunks()
        );
    }
}
