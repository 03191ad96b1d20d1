//! Behaviour of the readers: projection, predicates, batch order, multi-file order and metrics.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use polars_streaming_adaptive::*;

/// Three files of 1 000 rows each, sorted `id` (global), 10 row groups per file.
fn dataset(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|f| {
            let ids: Vec<i64> = (f * 1000..(f + 1) * 1000).collect();
            let sym: Vec<Option<&str>> = ids
                .iter()
                .map(|i| [Some("AAPL"), Some("MSFT"), None, Some("ÉTÉ")][(*i % 4) as usize])
                .collect();
            let price: Vec<f64> = ids.iter().map(|i| (*i % 97) as f64 * 0.5).collect();
            let mut df = df!("id" => ids, "symbol" => sym, "price" => price).unwrap();
            let path = dir.join(format!("part-{f}.parquet"));
            common::write_parquet(&mut df, &path, 100);
            path
        })
        .collect()
}

fn stock_all(paths: &[PathBuf]) -> DataFrame {
    let frames: Vec<_> = paths
        .iter()
        .map(|p| common::stock_read(p).unwrap())
        .collect();
    polars_core::utils::accumulate_dataframes_vertical(frames).unwrap()
}

#[test]
fn projection_returns_columns_in_requested_order() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let ours = AdaptiveStreamingReader::new(&paths[0])
        .unwrap()
        .with_projection(["price", "id"])
        .collect()
        .unwrap();
    let stock = common::stock_read(&paths[0])
        .unwrap()
        .select(["price", "id"])
        .unwrap();
    common::same_frame(&ours, &stock).unwrap();
}

#[test]
fn predicate_on_unprojected_column_filters_and_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let mut reader = AdaptiveStreamingReader::new(&paths[0])
        .unwrap()
        .with_projection(["price"]);
    reader.with_predicate(ColumnFilterPredicate::new(
        "symbol",
        vec!["ÉTÉ".to_string()],
    ));
    let ours = reader.collect().unwrap();
    let stock = common::stock_read(&paths[0])
        .unwrap()
        .lazy()
        .filter(col("symbol").eq(lit("ÉTÉ")))
        .select([col("price")])
        .collect()
        .unwrap();
    common::same_frame(&ours, &stock).unwrap();
}

#[test]
fn sorted_column_predicate_prunes_row_groups_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let mut reader = AdaptiveStreamingReader::new(&paths[0]).unwrap();
    reader.with_predicate(RangePredicate::new("id", 250i64, 260i64));
    let df = reader.collect().unwrap();
    assert_eq!(df.height(), 11);
    // `collect` consumed the reader; count through a second one.
    let mut reader = AdaptiveStreamingReader::new(&paths[0]).unwrap();
    reader.with_predicate(RangePredicate::new("id", 250i64, 260i64));
    let n: usize = reader.batches().map(|b| b.unwrap().height()).sum();
    assert_eq!(n, 11);
    let m = reader.metrics();
    assert_eq!((m.row_groups_total, m.row_groups_pruned), (10, 9), "{m}");
}

#[test]
fn fixed_strategy_batches_have_that_many_rows_within_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let reader = AdaptiveStreamingReader::new(&paths[0])
        .unwrap()
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(30)));
    let heights: Vec<usize> = reader.batches().map(|b| b.unwrap().height()).collect();
    // 100-row row groups: 30, 30, 30, 10 each.
    assert_eq!(heights.len(), 40);
    assert!(heights.chunks(4).all(|c| c == [30, 30, 30, 10]));
}

#[test]
fn parallel_reader_keeps_file_then_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let expected = stock_all(&paths);
    let pattern = format!("{}/part-*.parquet", dir.path().display());
    for budget in [usize::MAX, 4096] {
        let reader = ParallelStreamReader::from_glob(&pattern)
            .unwrap()
            .with_max_concurrent(2)
            .with_memory_budget(budget);
        common::same_frame(&reader.collect_concatenated().unwrap(), &expected).unwrap();
    }
    let batches: Vec<DataFrame> = ParallelStreamReader::new(paths.clone())
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(7)))
        .batches()
        .collect::<PolarsResult<_>>()
        .unwrap();
    let joined = polars_core::utils::accumulate_dataframes_vertical(batches).unwrap();
    common::same_frame(&joined, &expected).unwrap();
}

#[test]
fn parallel_reader_collects_one_frame_per_file_even_when_filtered_empty() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let frames = ParallelStreamReader::new(paths.clone())
        .with_predicate(ComparisonPredicate::new("id", CmpOp::Lt, 1500i64))
        .collect_parallel()
        .unwrap();
    assert_eq!(
        frames.iter().map(|f| f.height()).collect::<Vec<_>>(),
        [1000, 500, 0]
    );
    assert_eq!(
        frames[2].schema(),
        common::stock_read(&paths[2]).unwrap().schema()
    );
}

#[test]
fn parallel_reader_prunes_whole_files_row_groups_and_matches_stock_filter() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let reader = ParallelStreamReader::new(paths.clone())
        .with_predicate(ComparisonPredicate::new("id", CmpOp::GtEq, 2950i64))
        .with_projection(["symbol", "id"]);
    let ours = reader.collect_concatenated().unwrap();
    let expected = stock_all(&paths)
        .lazy()
        .filter(col("id").gt_eq(lit(2950i64)))
        .select([col("symbol"), col("id")])
        .collect()
        .unwrap();
    common::same_frame(&ours, &expected).unwrap();
}

#[test]
fn thousands_of_files_do_not_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    for f in 0..300 {
        let mut df = df!("x" => [f as i64]).unwrap();
        common::write_parquet(&mut df, &dir.path().join(format!("{f:04}.parquet")), 10);
    }
    let reader = ParallelStreamReader::from_glob(&format!("{}/*.parquet", dir.path().display()))
        .unwrap()
        .with_max_concurrent(4);
    let batches = reader.batches();
    let mut seen = 0;
    let mut most_open = 0;
    for b in batches {
        assert_eq!(
            b.unwrap().column("x").unwrap().i64().unwrap().get(0),
            Some(seen)
        );
        seen += 1;
        most_open = most_open.max(open_fds_under(dir.path()));
    }
    assert_eq!(seen, 300);
    // At most `max_concurrent` files are open (mapped and with a descriptor) at once.
    assert!(most_open <= 4, "{most_open} files open at once");
}

/// Descriptors of this process open on files below `dir` (Linux).
fn open_fds_under(dir: &Path) -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn a_row_limit_decodes_no_unit_past_it_and_counts_rows_before_the_predicate() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let all = stock_all(&paths);
    let read = |limit: usize, predicate: Option<Expr>| {
        let metrics = Arc::new(ScanMetrics::default());
        let mut reader = ParallelStreamReader::new(paths.clone())
            .with_row_limit(Some(limit))
            .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(30)))
            .with_metrics(metrics.clone());
        if let Some(p) = predicate {
            reader = reader.with_predicate(ExprPredicate::new(p));
        }
        let df = reader.collect_concatenated().unwrap();
        (df, metrics.snapshot())
    };
    // Across a file boundary, ending inside a unit.
    let (df, m) = read(1_045, None);
    common::same_frame(&df, &all.slice(0, 1_045)).unwrap();
    assert_eq!(m.rows_decoded, 1_045, "{m}");
    // Stock's `n_rows` with a filter: the first rows of the files, then the predicate; the
    // row groups it prunes still count towards the limit.
    let p = col("id").gt_eq(lit(1_500i64)).or(col("id").lt(lit(20i64)));
    let (df, m) = read(1_600, Some(p.clone()));
    let expected = all.slice(0, 1_600).lazy().filter(p).collect().unwrap();
    common::same_frame(&df, &expected).unwrap();
    assert_eq!(df.height(), 120);
    assert!(m.rows_decoded <= 200, "{m}");
}

#[test]
fn units_decoded_in_any_order_give_the_batches_rows_in_unit_order() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let reader = || {
        ParallelStreamReader::new(paths.clone())
            .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(30)))
            .with_projection(["id", "symbol"])
    };
    let cases: [(Option<Expr>, Option<usize>); 3] = [
        (None, None),
        (
            Some(
                col("id")
                    .gt_eq(lit(950i64))
                    .and(col("id").lt(lit(2_100i64))),
            ),
            None,
        ),
        // A row limit counts rows before the predicate, across a file boundary.
        (Some(col("symbol").eq(lit("MSFT"))), Some(1_045)),
    ];
    for (predicate, limit) in cases {
        let with = |r: ParallelStreamReader| {
            let r = r.with_row_limit(limit);
            match &predicate {
                Some(p) => r.with_predicate(ExprPredicate::new(p.clone())),
                None => r,
            }
        };
        let expected = with(reader()).collect_concatenated().unwrap();
        let units: Vec<ReadUnit> = with(reader()).units().map(Result::unwrap).collect();
        assert!(units.len() > 10, "{} units", units.len());
        // Decoded last first, on other threads, then put back in unit order.
        let mut decoded: Vec<(usize, DataFrame)> = std::thread::scope(|s| {
            let handles: Vec<_> = units
                .into_iter()
                .enumerate()
                .rev()
                .map(|(i, u)| s.spawn(move || (i, u.decode().unwrap())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        decoded.sort_by_key(|(i, _)| *i);
        let mut frames = decoded.into_iter().map(|(_, df)| df);
        let mut got = frames.next().unwrap();
        for df in frames {
            got.vstack_mut_owned(df).unwrap();
        }
        common::same_frame(&got, &expected).unwrap();
    }
}

/// A consumer outside Polars' pool (here the test's own thread) waits for the pool's threads
/// instead of decoding units itself, so a read runs on `POLARS_MAX_THREADS` threads, not one
/// more; a consumer on the pool still decodes (pinned by
/// `several_scan_adaptive_inputs_finish_on_one_and_two_pool_threads`).
#[test]
fn a_consumer_outside_polars_pool_leaves_every_unit_to_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let paths = dataset(dir.path());
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = threads.clone();
    let map = BatchMap(Arc::new(move |df| {
        let name = std::thread::current().name().map(str::to_owned);
        seen.lock().unwrap().push(name);
        Ok(df)
    }));
    let out = ParallelStreamReader::new(paths.clone())
        .with_chunk_strategy(Arc::new(FixedChunkStrategy::new(30)))
        .with_batch_map(map)
        .collect_concatenated()
        .unwrap();
    common::same_frame(&out, &stock_all(&paths)).unwrap();
    let threads = threads.lock().unwrap();
    assert!(threads.len() > 90, "{} batches", threads.len());
    // Polars names its pool's threads `polars-<i>` (`POLARS_THREAD_NAME` is not set here).
    let pool_thread =
        |name: &Option<String>| name.as_deref().is_some_and(|n| n.starts_with("polars-"));
    let elsewhere: Vec<_> = threads.iter().filter(|n| !pool_thread(n)).collect();
    assert!(
        elsewhere.is_empty(),
        "units decoded off the pool: {elsewhere:?}"
    );
}

/// `with_categorical` hands out a dictionary-encoded string column as categoricals of one
/// mapping for the whole read: a string keeps its code in every batch, even when the batches
/// before it were dropped (the mapping is not released with them), and the values are the
/// strings stock reads.
#[test]
fn categorical_codes_stay_the_same_across_batches_dropped_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.parquet");
    let mut df = df!(
        "s" => (0..2_000).map(|i| (i % 9 != 0).then(|| format!("u{}", i % 250))).collect::<Vec<_>>(),
    )
    .unwrap();
    common::write_parquet(&mut df, &path, 100);
    let expected = common::stock_read(&path).unwrap();

    let cats = CategoricalColumns::new(["s"]);
    let mut codes = std::collections::HashMap::new();
    let mut strings = Vec::new();
    let reader = ParallelStreamReader::new(vec![path]).with_categorical(cats.clone());
    for batch in reader.batches() {
        let batch = batch.unwrap();
        let s = batch.column("s").unwrap();
        assert_eq!(s.dtype(), &cats.dtype());
        let as_strings = s.cast(&DataType::String).unwrap();
        let physical = s
            .as_materialized_series()
            .cat32()
            .unwrap()
            .physical()
            .clone();
        for (code, string) in physical.iter().zip(as_strings.str().unwrap().iter()) {
            if let (Some(code), Some(string)) = (code, string) {
                let first = *codes.entry(string.to_string()).or_insert(code);
                assert_eq!(first, code, "{string}");
            }
        }
        strings.push(as_strings.take_materialized_series());
    }
    assert_eq!(codes.len(), 250);
    let mut all = strings.remove(0);
    for s in strings {
        all.append(&s).unwrap();
    }
    assert!(all.equals_missing(expected.column("s").unwrap().as_materialized_series()));
}
