//! The memory budget measured on the process, not on the tracker: each query runs in a child
//! process under a 64 MiB budget over data that decodes to several times that, and its peak
//! RSS (VmHWM, pages of the mapped files included) stays within budget + 64 MiB, or it fails
//! with an error naming what did not fit. The parent writes the data, so the child's peak is
//! the query's alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::{in_child, peak_rss_bytes, run_test_in_child};

const BUDGET: usize = 64 << 20;
const SLACK: usize = 64 << 20;
const DATA: &str = "POLARS_ADAPTIVE_TEST_DATA";

/// Writes `frames` to one file, a row group per frame, without holding them all.
fn write_frames(path: &Path, frames: impl Iterator<Item = DataFrame>) {
    let mut frames = frames.peekable();
    let schema = frames.peek().unwrap().schema().clone();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .batched(&schema)
        .unwrap();
    for df in frames {
        writer.write_batch(&df).unwrap();
    }
    writer.finish().unwrap();
}

fn datasets(dir: &Path) {
    let chunks = |n: usize| (0..n).map(|c| c * 500_000..(c + 1) * 500_000);
    // 8 M rows: a dictionary-encoded string of 30 bytes, an integer.
    let symbols: Vec<String> = (0..100)
        .map(|i| format!("SYMBOL-{i:03}-{}", "x".repeat(19)))
        .collect();
    write_frames(
        &dir.join("dictionary.parquet"),
        chunks(16).map(|r| {
            df!(
                "sym" => r.clone().map(|i| symbols[i * 7 % 100].as_str()).collect::<Vec<_>>(),
                "v" => r.map(|i| i as i64).collect::<Vec<_>>(),
            )
            .unwrap()
        }),
    );
    // 4 M rows of 24 distinct short strings, and one row of 32 MiB among them.
    write_frames(
        &dir.join("huge_row.parquet"),
        chunks(8).map(|r| {
            let s: Vec<String> = r
                .clone()
                .map(|i| match i {
                    2_345_678 => (0..32 << 20)
                        .map(|j| (b'a' + (j * 7919 % 26) as u8) as char)
                        .collect(),
                    i => format!("short-{}", i % 24),
                })
                .collect();
            df!("id" => r.map(|i| i as i64).collect::<Vec<_>>(), "s" => s).unwrap()
        }),
    );
    // 1 M lists of 24 small integers (they encode to almost nothing, decode to 200 MB).
    write_frames(
        &dir.join("lists.parquet"),
        (0..8).map(|c| {
            let rows = 125_000usize;
            let flat = (0..rows * 24).map(|i| ((i / 24) % 3) as i64).collect::<Vec<_>>();
            df!("g" => (0..rows * 24).map(|i| (c * rows + i / 24) as i64).collect::<Vec<_>>(), "x" => flat)
                .unwrap()
                .lazy()
                .group_by_stable([col("g")])
                .agg([col("x")])
                .collect()
                .unwrap()
        }),
    );
}

fn scan(file: &str) -> LazyFrame {
    let dir = PathBuf::from(std::env::var(DATA).unwrap());
    LazyFrame::scan_adaptive(
        dir.join(file),
        ScanArgsAdaptive::default().with_memory_budget(BUDGET),
    )
    .unwrap()
}

/// A query's run.
type Query = Box<dyn Fn() -> PolarsResult<DataFrame>>;

/// The queries: a name, what must be said when it does not fit, and the run.
fn queries() -> Vec<(&'static str, &'static str, Query)> {
    vec![
        (
            "dictionary strings, group_by",
            "",
            Box::new(|| {
                scan("dictionary.parquet")
                    .group_by([col("sym")])
                    .agg([col("v").sum()])
                    .collect_adaptive()
            }),
        ),
        (
            "one huge row",
            "",
            Box::new(|| {
                scan("huge_row.parquet")
                    .select([col("s").str().len_bytes().max(), col("id").count()])
                    .collect_adaptive()
            }),
        ),
        (
            "nested lists",
            "",
            Box::new(|| {
                scan("lists.parquet")
                    .filter(col("x").is_not_null())
                    .select([len()])
                    .collect_adaptive()
            }),
        ),
        (
            "many groups",
            "aggregation state",
            Box::new(|| {
                scan("dictionary.parquet")
                    .group_by([col("v")])
                    .agg([col("sym").first()])
                    .collect_adaptive()
            }),
        ),
        (
            "a slice of 6 M rows",
            "rows of the slice",
            Box::new(|| {
                scan("dictionary.parquet")
                    .slice(1_000_000, 6_000_000)
                    .collect_adaptive()
            }),
        ),
        (
            "first_n_per_group over many groups",
            "operators' state",
            Box::new(|| {
                let mut n = 0;
                scan("dictionary.parquet")
                    .adaptive()
                    .with_operator(first_n_per_group(["v"], "sym", 1))
                    .sink_batches_adaptive(
                        |df| {
                            n += df.height();
                            Ok(false)
                        },
                        None,
                        true,
                    )
                    .map(|()| DataFrame::empty())
            }),
        ),
    ]
}

#[test]
fn budgeted_queries_stay_within_the_budget_in_rss_in_child() {
    if !in_child() {
        return;
    }
    let name = std::env::var("POLARS_ADAPTIVE_TEST_QUERY").unwrap();
    let (_, must_say, run) = queries().into_iter().find(|q| q.0 == name).unwrap();
    let before = peak_rss_bytes().unwrap();
    let result = run();
    let peak = peak_rss_bytes().unwrap();
    println!(
        "{name}: peak RSS {} MiB (before the query {} MiB), {}",
        peak >> 20,
        before >> 20,
        result
            .as_ref()
            .map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    match result {
        Ok(_) => assert!(
            peak <= BUDGET + SLACK,
            "{name}: peak RSS {} MiB over a budget of {} MiB",
            peak >> 20,
            BUDGET >> 20
        ),
        Err(e) => assert!(
            !must_say.is_empty() && e.to_string().contains(must_say),
            "{name}: failed with {e} (peak RSS {} MiB)",
            peak >> 20
        ),
    }
}

#[test]
fn budgeted_queries_stay_within_the_budget_in_rss() {
    if peak_rss_bytes().is_none() {
        return; // no /proc: nothing to measure
    }
    // POLARS_ADAPTIVE_TEST_DATA keeps the datasets in a folder of one's own across runs.
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var(DATA).map_or(tmp.path().to_path_buf(), PathBuf::from);
    if !dir.join("lists.parquet").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        datasets(&dir);
    }
    let data = dir.to_str().unwrap();
    for (name, _, _) in queries() {
        run_test_in_child(
            "budget_rss::budgeted_queries_stay_within_the_budget_in_rss_in_child",
            &[(DATA, data), ("POLARS_ADAPTIVE_TEST_QUERY", name)],
            Duration::from_secs(300),
        );
    }
}
