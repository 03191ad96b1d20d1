//! Runs one case through every execution path of polars-adaptive and compares each answer with
//! stock Polars' (`scan_parquet` on the same files).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;

use polars::prelude::*;
use polars_adaptive::plan::PREDICATE_DTYPE_ERROR;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::{same_frame, same_frame_aggregated};

use super::build::{build_query, column_names, predicate, unordered_keys};
use super::spec::{Case, Tail};

/// The execution paths checked: name and how to run a query over a target.
type PathFn = fn(&Path, &dyn Fn(LazyFrame) -> LazyFrame) -> PolarsResult<DataFrame>;

fn scan(target: &Path, args: ScanArgsAdaptive) -> PolarsResult<LazyFrame> {
    LazyFrame::scan_adaptive(target, args)
}

/// One file at a time, a 64 KiB budget, batches of 3 rows: every file and unit boundary.
fn tight() -> ScanArgsAdaptive {
    ScanArgsAdaptive::default()
        .with_max_concurrent_files(1)
        .with_memory_budget(64 << 10)
        .with_chunk_policy(ChunkPolicy::Rows(3))
}

/// (name, whether the stock reference uses statistics, run). The path without statistics is
/// compared with stock without statistics: files whose statistics are wrong (Polars 0.55.2's
/// writer writes some, with small data pages and NaN) give different answers with and without
/// them, in stock Polars as in ours.
pub const PATHS: [(&str, bool, PathFn); 10] = [
    ("collect", true, |t, q| {
        q(scan(t, ScanArgsAdaptive::default())?).collect()
    }),
    (
        "collect, 1 file at a time, 64 KiB budget, batches of 3",
        true,
        |t, q| q(scan(t, tight())?).collect(),
    ),
    ("collect, statistics off", false, |t, q| {
        q(scan(t, ScanArgsAdaptive::default().with_statistics(false))?).collect()
    }),
    ("collect_adaptive", true, |t, q| {
        q(scan(t, ScanArgsAdaptive::default())?).collect_adaptive()
    }),
    // Each pruning mechanism switched off on its own: the answer must not change (checked
    // against stock and against `collect_adaptive`, see `SELF_CHECKED`).
    ("collect_adaptive, statistics off", false, |t, q| {
        q(scan(t, ScanArgsAdaptive::default().with_statistics(false))?).collect_adaptive()
    }),
    ("collect_adaptive, bloom filters off", true, |t, q| {
        q(scan(
            t,
            ScanArgsAdaptive::default().with_bloom_filters(false),
        )?)
        .collect_adaptive()
    }),
    ("collect_adaptive, page index off", true, |t, q| {
        q(scan(t, ScanArgsAdaptive::default().with_page_index(false))?).collect_adaptive()
    }),
    ("collect_adaptive, batches of 7", true, |t, q| {
        let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(7));
        q(scan(t, args)?).collect_adaptive()
    }),
    ("sink_batches_adaptive, chunks of 5", true, |t, q| {
        sink_batches(q(scan(t, ScanArgsAdaptive::default())?), 5)
    }),
    ("sink_batches_adaptive, chunks of 1", true, |t, q| {
        sink_batches(q(scan(t, ScanArgsAdaptive::default())?), 1)
    }),
];

/// With the rfc feature (polars-stream patched, `cargo xtask rfc`): the streaming engine and
/// stock's sinks over `scan_adaptive`, the source read unit by unit by the engine.
#[cfg(feature = "rfc")]
pub const ENGINE_PATHS: [(&str, bool, PathFn); 4] = [
    ("Engine::Streaming", true, |t, q| {
        crate::rfc::streaming(q(scan(t, ScanArgsAdaptive::default())?))
    }),
    (
        "Engine::Streaming, 1 file at a time, 64 KiB budget, batches of 3",
        true,
        |t, q| crate::rfc::streaming(q(scan(t, tight())?)),
    ),
    ("stock sink_parquet, read back", true, |t, q| {
        crate::rfc::sink_parquet_read_back(q(scan(t, ScanArgsAdaptive::default())?))
    }),
    ("stock sink_batches", true, |t, q| {
        crate::rfc::sink_batches_concatenated(q(scan(t, ScanArgsAdaptive::default())?))
    }),
];

/// Without the rfc feature, stock's streaming engine cannot read `scan_adaptive`.
#[cfg(not(feature = "rfc"))]
pub const ENGINE_PATHS: [(&str, bool, PathFn); 0] = [];

/// Paths compared with `collect_adaptive` as well as with stock: with one pruning mechanism
/// off (statistics, and with them answers from statistics and top-k skipping; bloom filters;
/// the page index), ours must answer exactly as with all of them on.
const SELF_CHECKED: [&str; 3] = [
    "collect_adaptive, statistics off",
    "collect_adaptive, bloom filters off",
    "collect_adaptive, page index off",
];

/// The batches `sink_batches_adaptive` hands over, concatenated; each but the last must have
/// exactly `chunk` rows.
fn sink_batches(lf: LazyFrame, chunk: usize) -> PolarsResult<DataFrame> {
    let mut frames: Vec<DataFrame> = Vec::new();
    lf.sink_batches_adaptive(
        |df| {
            frames.push(df);
            Ok(false)
        },
        NonZeroUsize::new(chunk),
        true,
    )?;
    let sizes: Vec<usize> = frames.iter().map(|f| f.height()).collect();
    polars_ensure!(
        sizes.iter().rev().skip(1).all(|&h| h == chunk) && sizes.last().is_none_or(|&h| h <= chunk),
        ComputeError: "sink_batches_adaptive: batch sizes {sizes:?} with chunk_size {chunk}"
    );
    stack_batches(frames)
}

/// A sink's batches stacked. An empty answer may come as no batch at all: then a frame with
/// no columns, which the comparison takes as stock's answer emptied (stock tells the schema).
pub fn stack_batches(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut out = frames.into_iter();
    let Some(mut first) = out.next() else {
        return Ok(DataFrame::empty());
    };
    for f in out {
        first.vstack_mut_owned(f)?;
    }
    Ok(first)
}

const STOCK_PANICKED: &str = "stock Polars panicked";

/// What one case did.
#[derive(Debug, Default)]
pub struct CaseReport {
    /// Per path: "equal" or "both error".
    pub paths: BTreeMap<&'static str, &'static str>,
    /// Pruning forms the case's filters contain (`ExprPredicate::pruning_forms`).
    pub forms: Vec<&'static str>,
    /// Pruning mechanisms that skipped something when `collect_adaptive` ran the case.
    pub mechanisms: Vec<&'static str>,
}

/// The mechanism of row groups answered from their statistics.
pub const ANSWERED_FROM_STATISTICS: &str = "answers from statistics";

/// The pruning mechanisms a run's counters show at work.
fn mechanisms_used(m: &ScanMetricsSnapshot) -> Vec<&'static str> {
    [
        ("row-group statistics", m.row_groups_pruned),
        ("bloom filters", m.row_groups_skipped_by_bloom_filter),
        ("page index", m.pages_skipped_by_page_index),
        (
            ANSWERED_FROM_STATISTICS,
            m.row_groups_answered_from_statistics,
        ),
        ("top-k", m.row_groups_skipped_by_top_k),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, _)| name)
    .collect()
}

/// Writes nothing: `target` must hold the case's files.
pub fn check(case: &Case, target: &Path) -> Result<CaseReport, String> {
    let query = |lf: LazyFrame| build_query(&case.query, &case.data, lf);
    let source = PlRefPath::try_from_path(target).map_err(|e| e.to_string())?;
    let stock_with = |use_statistics: bool, engine: Engine| {
        let args = ScanArgsParquet {
            use_statistics,
            ..ScanArgsParquet::default()
        };
        // Stock itself panics on some invalid queries (e.g. `is_nan` of a string column, inside
        // the streaming engine): that counts as stock failing.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            LazyFrame::scan_parquet(source.clone(), args)
                .and_then(|lf| query(lf).collect_with_engine(engine))
                .map(|r| r.unwrap_single())
        }))
        .unwrap_or_else(|_| Err(PolarsError::ComputeError(STOCK_PANICKED.into())))
    };
    let stocks = [
        stock_with(false, Engine::Auto),
        stock_with(true, Engine::Auto),
    ];
    // The engine paths' reference is stock on the same engine: the streaming engine supports
    // a few things differently from the in-memory one (e.g. no `sum` of dates).
    let stock_streaming = match ENGINE_PATHS.is_empty() {
        true => None,
        false => Some(stock_with(true, Engine::Streaming)),
    };
    let keys = unordered_keys(&case.query, &case.data);
    let aggregated = matches!(case.query.tail, Tail::GroupBy { .. } | Tail::Summary);
    let mut report = CaseReport::default();
    let names = column_names(&case.data);
    let kinds: Vec<_> = case.data.columns.iter().map(|c| c.kind).collect();
    if !names.is_empty() {
        for p in &case.query.filters {
            report
                .forms
                .extend(ExprPredicate::new(predicate(p, &names, &kinds)).pruning_forms());
        }
    }
    let mut answers: BTreeMap<&str, DataFrame> = BTreeMap::new();
    let engine_paths = ENGINE_PATHS.into_iter().map(|p| (p, true));
    for ((name, statistics, run), on_engine) in
        PATHS.into_iter().map(|p| (p, false)).chain(engine_paths)
    {
        let stock = match (on_engine, &stock_streaming) {
            (true, Some(s)) => s,
            _ => &stocks[statistics as usize],
        };
        let ours = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(target, &query)));
        let ours = match ours {
            Ok(ours) => ours,
            // The streaming engine's own code panics where it panics on stock's scan too.
            Err(_)
                if on_engine
                    && matches!(stock, Err(e) if e.to_string().contains(STOCK_PANICKED)) =>
            {
                report.paths.insert(name, "both panic");
                continue;
            }
            Err(_) => return Err(format!("{name}: panicked")),
        };
        if let Ok(df) = &ours {
            answers.insert(name, df.clone());
        }
        let verdict = match (&ours, stock) {
            (Ok(a), Ok(b)) => {
                let a = if a.width() == 0 && a.height() == 0 {
                    b.clear()
                } else {
                    a.clone()
                };
                compare(&a, b, keys.as_deref(), aggregated).map(|_| "equal")
            }
            (Err(_), Err(_)) => Ok("both error"),
            // Documented: a predicate failing on the dtypes always fails here, while stock
            // answers when pruning left it no row to fail on.
            (Err(e), Ok(b)) if b.height() == 0 && e.to_string().contains(PREDICATE_DTYPE_ERROR) => {
                Ok("known: predicate dtype error")
            }
            (Err(e), Ok(_)) => Err(format!("fails where stock answers: {e}")),
            (Ok(_), Err(e)) => Err(format!("answers where stock fails ({e})")),
        };
        match verdict {
            Ok(v) => {
                report.paths.insert(name, v);
            }
            Err(d) => return Err(format!("{name}: {d}")),
        }
    }
    // The counters of one more `collect_adaptive` run (the paths' own are not kept).
    let args = ScanArgsAdaptive::default();
    let counted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        query(scan(target, args.clone())?).collect_adaptive()
    }));
    if matches!(counted, Ok(Ok(_))) {
        report.mechanisms = mechanisms_used(&args.metrics());
    }
    if let Some(all_on) = answers.get("collect_adaptive") {
        for name in SELF_CHECKED {
            if let Some(off) = answers.get(name) {
                compare(all_on, off, keys.as_deref(), aggregated)
                    .map_err(|d| format!("collect_adaptive vs {name}: {d}"))?;
            }
        }
    }
    Ok(report)
}

fn compare(
    ours: &DataFrame,
    stock: &DataFrame,
    keys: Option<&[String]>,
    aggregated: bool,
) -> Result<(), String> {
    let sort = |df: &DataFrame, keys: &[String]| {
        df.sort(
            keys.to_vec(),
            SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .map_err(|e| e.to_string())
    };
    match keys {
        Some(keys) => same_frame_aggregated(&sort(ours, keys)?, &sort(stock, keys)?),
        None if aggregated => same_frame_aggregated(ours, stock),
        None => same_frame(ours, stock),
    }
}
