//! `cargo xtask bench`: each (query, engine) run in its own child process, so the peak RSS the
//! OS reports (VmHWM) belongs to that run alone. Engines alternate within each round; the first
//! round is a warm-up; then at least five measured rounds. Writes `docs/benchmarks.md` and
//! `docs/benchmarks.svg` (a quick run: under `target/bench-quick/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use polars::prelude::*;
use polars_adaptive::prelude::*;

use crate::gen::{trade_id_of, Datasets, T0};

/// The engines a query can run on.
pub const ENGINES: [&str; 4] = [
    "adaptive collect",
    "adaptive collect_adaptive",
    "stock in-memory",
    "stock streaming",
];

/// (id, what it measures, dataset, engines).
pub type Query = (&'static str, &'static str, &'static str, Vec<&'static str>);

/// What P1 computes, as the reports name it.
const P1: &str = "VWAP by symbol where side = 'BUY' (full scan)";

pub fn queries() -> Vec<Query> {
    let four = ENGINES.to_vec();
    vec![
        (
            "P1",
            P1,
            "ticks",
            four.clone(),
        ),
        (
            "P2",
            "timestamp range, ~0.1 % of rows",
            "ticks",
            four.clone(),
        ),
        ("P3", "point lookup on trade_id", "ticks", four.clone()),
        ("P4", "P1 with a 256 MiB budget", "ticks", four.clone()),
        (
            "P5",
            "first 10 ids per group written to Parquet",
            "pyarrow",
            vec![
                "adaptive first_n_per_group",
                "post's Rust program",
                "stock streaming",
            ],
        ),
        (
            "P6",
            "P1, collect_adaptive on 1 vs 2 threads",
            "ticks",
            vec!["collect_adaptive, 1 thread", "collect_adaptive, 2 threads"],
        ),
        (
            "P7",
            "max() over two ~1 GiB row groups, 512 MiB budget",
            "giant",
            four.clone(),
        ),
        (
            "P9",
            "max(b), min(a), len() over two ~1 GiB row groups (footer statistics)",
            "giant",
            four.clone(),
        ),
        (
            "P11",
            "max(b), min(a), len(), null_count(d), count(d) over P9's rows written by Polars (footer statistics)",
            "giant-polars",
            four.clone(),
        ),
        (
            "P10",
            "sort(timestamp, descending).head(100): top-k",
            "ticks",
            four.clone(),
        ),
        (
            "P8",
            "group_by(symbol).len() over many small files",
            "small",
            four.clone(),
        ),
        (
            "floor",
            "decode only: P1's rows and columns (side = 'BUY', filter-first), no compute",
            "ticks",
            vec!["adaptive reader", "stock in-memory"],
        ),
    ]
}

/// Whether the children allocate with jemalloc rather than glibc's malloc (`--allocator`).
pub static JEMALLOC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The children's allocator, for the reports.
pub fn allocator() -> &'static str {
    match JEMALLOC.get() {
        Some(true) => "jemalloc (tikv-jemallocator 0.6)",
        _ => "glibc's malloc",
    }
}

/// The engine of stock's in-memory run under an address-space cap of [`CAP`]: on the scale
/// dataset it fails, which is what the benchmark reports.
pub const CAPPED_IN_MEMORY: &str = "stock in-memory, 16 GiB cap";

/// The address space a `CAPPED_IN_MEMORY` run may take.
const CAP: u64 = 16 << 30;

/// The layouts benchmark (`cargo xtask bench --layouts`): P1 on each layout (`gen::layouts`),
/// and on the scale dataset P4 and stock in-memory under the cap too.
pub fn layout_queries(layouts: &[(&'static str, PathBuf)]) -> Vec<Query> {
    let ours_and_stock = vec!["adaptive collect_adaptive", "stock streaming"];
    let mut queries: Vec<Query> = layouts
        .iter()
        .map(|(name, _)| ("P1", P1, *name, ours_and_stock.clone()))
        .collect();
    if layouts.iter().any(|(name, _)| *name == "scale") {
        queries.push(("P1", P1, "scale", vec![CAPPED_IN_MEMORY]));
        queries.push(("P4", "P1 with a 256 MiB budget", "scale", ours_and_stock));
    }
    queries
}

/// The directory of the main benchmark's dataset `name`.
pub fn dataset_dir(data: &Datasets, name: &str) -> PathBuf {
    match name {
        "ticks" => data.ticks.clone(),
        "pyarrow" => data.post.clone(),
        "giant" => data.giant.clone(),
        "giant-polars" => data.giant_polars.clone(),
        _ => data.small.clone(),
    }
}

fn vwap(lf: LazyFrame) -> LazyFrame {
    lf.filter(col("side").eq(lit("BUY")))
        .group_by([col("symbol")])
        .agg([((col("price") * col("volume")).sum() / col("volume").sum()).alias("vwap")])
}

/// What the adaptive scan skipped in one run: row groups in the files read, pruned by
/// statistics, skipped by bloom filters, answered from statistics, skipped by top-k, and
/// pages skipped by the page index.
pub type Skips = [u64; 6];

fn skips(m: &ScanMetricsSnapshot) -> Skips {
    [
        m.row_groups_total,
        m.row_groups_pruned,
        m.row_groups_skipped_by_bloom_filter,
        m.row_groups_answered_from_statistics,
        m.row_groups_skipped_by_top_k,
        m.pages_skipped_by_page_index,
    ]
}

/// Runs one (query, engine) in this process; returns (seconds, rows out, what the adaptive
/// scan skipped when the engine is ours).
pub fn child(
    query: &str,
    engine: &str,
    dir: &Path,
    rows: usize,
) -> Result<(f64, usize, Option<Skips>)> {
    let metrics = Arc::new(ScanMetrics::default());
    let ours = engine.starts_with("adaptive")
        || engine.starts_with("collect_adaptive")
        || engine.starts_with("Engine::Streaming");
    let glob = dir.join("*.parquet");
    let budget = match query {
        "P4" => Some(256usize << 20),
        "P7" => Some(512usize << 20),
        _ => None,
    };
    let t = Instant::now();
    let height = match (query, engine) {
        ("P5", _) => p5(engine, dir, &metrics)?,
        ("floor", "adaptive reader") => {
            let reader = ParallelStreamReader::from_glob(glob.to_str().unwrap())?
                .with_metrics(metrics.clone())
                .with_projection(["symbol", "price", "volume"])
                .with_predicate(ExprPredicate::new(col("side").eq(lit("BUY"))));
            reader
                .batches()
                .map(|b| b.map(|b| b.height()))
                .sum::<PolarsResult<usize>>()?
        }
        _ => {
            let q = |lf: LazyFrame| -> LazyFrame {
                match query {
                    "P1" | "P4" | "P6" => vwap(lf),
                    "P2" => {
                        // The middle 0.1 % of the timestamps.
                        let lo = T0 + (rows as i64 / 2) * 10;
                        let hi = lo + (rows as i64 / 1000) * 10;
                        let ts =
                            |v: i64| lit(v).cast(DataType::Datetime(TimeUnit::Milliseconds, None));
                        lf.filter(col("timestamp").is_between(ts(lo), ts(hi), ClosedInterval::Both))
                    }
                    "P3" => lf.filter(col("trade_id").eq(lit(trade_id_of(rows / 3)))),
                    "P7" => lf.select([col("a").max()]),
                    "P9" => lf.select([col("b").max(), col("a").min(), len()]),
                    "P11" => lf.select([
                        col("b").max(),
                        col("a").min(),
                        len(),
                        col("d").null_count().alias("d_nulls"),
                        col("d").count().alias("d_count"),
                    ]),
                    "P8" => lf.group_by([col("symbol")]).agg([len()]),
                    "P10" => lf
                        .sort(
                            ["timestamp"],
                            SortMultipleOptions::default().with_order_descending(true),
                        )
                        .limit(100),
                    "floor" => lf.filter(col("side").eq(lit("BUY"))).select([
                        col("symbol"),
                        col("price"),
                        col("volume"),
                    ]),
                    other => unreachable!("{other}"),
                }
            };
            let adaptive = || {
                let mut args = ScanArgsAdaptive::default().with_metrics(metrics.clone());
                if let Some(b) = budget {
                    args = args.with_memory_budget(b);
                }
                // P7 measures decoding huge row groups under a budget: its max is not taken
                // from the footer (P9 measures that).
                if query == "P7" {
                    args.use_statistics = false;
                }
                LazyFrame::scan_adaptive(&glob, args).map(q)
            };
            let stock = || {
                LazyFrame::scan_parquet(
                    PlRefPath::try_from_path(&glob)?,
                    ScanArgsParquet::default(),
                )
                .map(q)
            };
            let df = match engine {
                "adaptive collect" => adaptive()?.collect()?,
                "adaptive collect_adaptive"
                | "collect_adaptive, 1 thread"
                | "collect_adaptive, 2 threads" => adaptive()?.collect_adaptive()?,
                // The rfc/ build only: the streaming engine reads the source unit by unit.
                #[cfg(feature = "rfc")]
                "adaptive Engine::Streaming"
                | "Engine::Streaming, 1 thread"
                | "Engine::Streaming, 2 threads" => adaptive()?
                    .collect_with_engine(Engine::Streaming)?
                    .unwrap_single(),
                "stock in-memory" | CAPPED_IN_MEMORY => stock()?
                    .collect_with_engine(Engine::InMemory)?
                    .unwrap_single(),
                "stock streaming" => stock()?
                    .collect_with_engine(Engine::Streaming)?
                    .unwrap_single(),
                other => bail!("unknown engine {other}"),
            };
            df.height()
        }
    };
    let secs = t.elapsed().as_secs_f64();
    Ok((secs, height, ours.then(|| skips(&metrics.snapshot()))))
}

/// P5: keep every row of the first 10 distinct ids seen in each group, written to Parquet.
fn p5(engine: &str, dir: &Path, metrics: &Arc<ScanMetrics>) -> Result<usize> {
    let glob = dir.join("*.parquet");
    let out = std::env::temp_dir().join(format!("p5-{}.parquet", std::process::id()));
    let rows = match engine {
        "adaptive first_n_per_group" => {
            let args = ScanArgsAdaptive::default().with_metrics(metrics.clone());
            LazyFrame::scan_adaptive(&glob, args)?
                .adaptive()
                .with_operator(first_n_per_group(["group"], "id", 10))
                .sink_parquet_adaptive(&out, SinkParquetAdaptiveOptions::default())?;
            MmapParquetReader::new(&out)?.total_rows()
        }
        "post's Rust program" => crate::post_program::run(&dir.join("part-000.parquet"), &out, 10)?,
        "stock streaming" => {
            let src = || {
                LazyFrame::scan_parquet(
                    PlRefPath::try_from_path(&glob).unwrap(),
                    ScanArgsParquet::default(),
                )
            };
            p5_stock_plan(src, &out)?
        }
        #[cfg(feature = "rfc")]
        "adaptive Engine::Streaming" => {
            let src = || {
                let args = ScanArgsAdaptive::default().with_metrics(metrics.clone());
                LazyFrame::scan_adaptive(&glob, args)
            };
            p5_stock_plan(src, &out)?
        }
        other => bail!("unknown P5 engine {other}"),
    };
    let _ = std::fs::remove_file(&out);
    Ok(rows)
}

/// Stock's closest plan to P5 over the frames `src` gives: the first 10 distinct ids per
/// group, joined back, on the streaming engine, written to `out`. Returns the rows written.
fn p5_stock_plan(src: impl Fn() -> PolarsResult<LazyFrame>, out: &Path) -> Result<usize> {
    let admitted = src()?
        .select([col("group"), col("id")])
        .unique_stable(None, UniqueKeepStrategy::First)
        .group_by_stable([col("group")])
        .agg([col("id").head(Some(10))])
        .explode(
            cols(["id"]),
            ExplodeOptions {
                empty_as_null: false,
                keep_nulls: true,
            },
        );
    let mut df = src()?
        .join(
            admitted,
            [col("group"), col("id")],
            [col("group"), col("id")],
            JoinArgs::new(JoinType::Inner),
        )
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    ParquetWriter::new(std::fs::File::create(out)?).finish(&mut df)?;
    Ok(df.height())
}

/// One measured run.
#[derive(Debug, Clone)]
struct Run {
    /// The query's time, or for a failed run the child's wall time until it ended.
    secs: f64,
    rss_kib: u64,
    rows_out: usize,
    skips: Option<Skips>,
    /// Why a capped run failed (its first line of stderr, and how it ended).
    failed: Option<String>,
}

fn spawn(query: &str, engine: &str, dir: &Path, rows: usize) -> Result<Run> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bench-child", query, engine])
        .arg(dir)
        .arg(rows.to_string());
    if engine.ends_with(", 1 thread") {
        cmd.env("POLARS_MAX_THREADS", "1");
    } else if engine.ends_with(", 2 threads") {
        cmd.env("POLARS_MAX_THREADS", "2");
    }
    if JEMALLOC.get() == Some(&true) {
        cmd.env(crate::alloc::ENV, "jemalloc");
    }
    let capped = engine == CAPPED_IN_MEMORY;
    if capped {
        crate::procfs::limit_address_space(&mut cmd, CAP);
    }
    let t = Instant::now();
    let out = cmd.output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Under the cap, failing is the outcome measured, not an error of the benchmark: its
        // first line (an allocation failure, a panic's message) and how the child ended.
        if capped {
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let why = format!("{first} ({})", out.status);
            return Ok(Run {
                secs: t.elapsed().as_secs_f64(),
                rss_kib: 0,
                rows_out: 0,
                skips: None,
                failed: Some(why),
            });
        }
        bail!(
            "{query} / {engine} failed: {}",
            stderr.lines().last().unwrap_or("")
        );
    }
    let line = String::from_utf8(out.stdout)?;
    let mut it = line.split_whitespace();
    let mut next = || it.next().context("child printed too little");
    let (secs, rss_kib, rows_out) = (next()?.parse()?, next()?.parse()?, next()?.parse()?);
    let rest: Vec<u64> = it.map(str::parse).collect::<Result<_, _>>()?;
    Ok(Run {
        secs,
        rss_kib,
        rows_out,
        skips: rest.try_into().ok(),
        failed: None,
    })
}

/// Statistics of one (query, engine).
#[derive(Debug, Clone)]
pub struct Measured {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub rss_mib: f64,
    pub rows_out: usize,
    /// What the adaptive scan skipped (first measured run), for our engines.
    pub skips: Option<Skips>,
    /// Why the runs failed, when they all did (only under `CAPPED_IN_MEMORY`'s cap).
    pub failed: Option<String>,
}

/// Runs `queries` on the datasets `dir_of` locates by name; `runs` measured rounds after one
/// warm-up round.
pub fn run_queries(
    dir_of: &dyn Fn(&str) -> PathBuf,
    rows: usize,
    input_rows: &BTreeMap<&str, usize>,
    runs: usize,
    queries: Vec<Query>,
) -> Result<Vec<(String, String, String, Measured)>> {
    let mut out = Vec::new();
    for (id, what, dataset, engines) in queries {
        let dir = dir_of(dataset);
        let mut all: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
        for round in 0..=runs {
            for engine in &engines {
                let r = spawn(id, engine, &dir, rows)?;
                if round > 0 {
                    all.entry(engine).or_default().push(r);
                }
            }
        }
        for engine in &engines {
            let rs = &all[engine];
            let mut secs: Vec<f64> = rs.iter().map(|r| r.secs).collect();
            secs.sort_by(f64::total_cmp);
            let m = Measured {
                median: secs[secs.len() / 2],
                min: secs[0],
                max: secs[secs.len() - 1],
                rss_mib: rs.iter().map(|r| r.rss_kib).max().unwrap_or(0) as f64 / 1024.0,
                rows_out: rs[0].rows_out,
                skips: rs[0].skips,
                failed: rs
                    .iter()
                    .all(|r| r.failed.is_some())
                    .then(|| rs[0].failed.clone())
                    .flatten(),
            };
            eprintln!(
                "{id} {engine:<30} median {:.3} s ({:.3}..{:.3}), peak RSS {:.0} MiB, {} rows out, {:.1} M rows/s",
                m.median, m.min, m.max, m.rss_mib, m.rows_out, input_rows[dataset] as f64 / m.median / 1e6
            );
            out.push((
                id.to_string(),
                format!("{what} [{dataset}]"),
                engine.to_string(),
                m,
            ));
        }
    }
    Ok(out)
}

/// The dataset a result's description names (`… [ticks]`).
fn dataset_of(what: &str) -> &str {
    what.rsplit('[').next().unwrap_or("").trim_end_matches(']')
}

/// The Markdown report.
pub fn markdown(
    results: &[(String, String, String, Measured)],
    input_rows: &BTreeMap<&str, usize>,
    header: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{header}");
    let _ = writeln!(
        s,
        "| query | engine | median | min–max | vs stock streaming | peak RSS | M rows/s |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (id, what, engine, m) in results {
        let dataset = dataset_of(what);
        let stock = results
            .iter()
            .find(|(i, w, e, _)| i == id && w == what && e == "stock streaming")
            .map(|(_, _, _, m)| m.median);
        if let Some(why) = &m.failed {
            let _ = writeln!(
                s,
                "| {id}: {what} | {engine} | fails after {:.1} s | {:.1}–{:.1} s | fails: {} | – | – |",
                m.median,
                m.min,
                m.max,
                why.replace('|', "/")
            );
            continue;
        }
        let ratio = stock.map_or("–".to_string(), |s| format!("{:.2}×", m.median / s));
        let _ = writeln!(
            s,
            "| {id}: {what} | {engine} | {:.3} s | {:.3}–{:.3} s | {ratio} | {:.0} MiB | {:.1} |",
            m.median,
            m.min,
            m.max,
            m.rss_mib,
            input_rows.get(dataset).copied().unwrap_or(0) as f64 / m.median / 1e6
        );
    }
    let _ = writeln!(
        s,
        "\nWhat the adaptive scan skipped (its counters, as `POLARS_VERBOSE=1` prints them; first measured run):\n"
    );
    let _ = writeln!(
        s,
        "| query | engine | row groups | pruned by statistics | skipped by bloom filters | answered from statistics | skipped by top-k | pages skipped by page index |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (id, what, engine, m) in results {
        if let Some([total, pruned, bloom, answered, top_k, pages]) = m.skips {
            let dataset = dataset_of(what);
            let _ = writeln!(
                s,
                "| {id} [{dataset}] | {engine} | {total} | {pruned} | {bloom} | {answered} | {top_k} | {pages} |"
            );
        }
    }
    s
}

/// A bar chart of median time and of peak RSS per (query, engine), as SVG; failed runs are
/// left out, and a query run on several datasets is labelled with each.
pub fn svg(results: &[(String, String, String, Measured)]) -> String {
    let results: Vec<_> = results.iter().filter(|r| r.3.failed.is_none()).collect();
    let label = |id: &str, what: &str, engine: &str| {
        let several = results
            .iter()
            .filter(|r| r.0 == id && r.2 == engine)
            .count()
            > 1;
        let dataset = dataset_of(what);
        match several {
            true => format!("{id} {dataset} {engine}"),
            false => format!("{id} {engine}"),
        }
    };
    let bar_h = 14.0;
    let label_w = 330.0;
    let panel_w = 300.0;
    let h = 40.0 + results.len() as f64 * (bar_h + 4.0);
    let w = label_w + 2.0 * panel_w + 60.0;
    let max_t = results
        .iter()
        .map(|r| r.3.median)
        .fold(0.0, f64::max)
        .max(1e-9);
    let max_m = results
        .iter()
        .map(|r| r.3.rss_mib)
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="{label_w}" y="14">median time (s)</text><text x="{}" y="14">peak RSS (MiB)</text>"#,
        label_w + panel_w + 30.0
    );
    for (i, (id, what, engine, m)) in results.iter().copied().enumerate() {
        let label = label(id, what, engine);
        let y = 24.0 + i as f64 * (bar_h + 4.0);
        let color = match engine.as_str() {
            e if e.starts_with("stock") => "#999999",
            e if e.contains("post") => "#cc8844",
            _ => "#3366aa",
        };
        let tw = m.median / max_t * (panel_w - 50.0);
        let mw = m.rss_mib / max_m * (panel_w - 50.0);
        let x2 = label_w + panel_w + 30.0;
        let _ = write!(
            s,
            r#"<text x="4" y="{ty}">{label}</text><rect x="{label_w}" y="{y}" width="{tw:.1}" height="{bar_h}" fill="{color}"/><text x="{tx:.1}" y="{ty}">{:.3}</text><rect x="{x2}" y="{y}" width="{mw:.1}" height="{bar_h}" fill="{color}"/><text x="{mx:.1}" y="{ty}">{:.0}</text>"#,
            m.median,
            m.rss_mib,
            ty = y + bar_h - 3.0,
            tx = label_w + tw + 3.0,
            mx = x2 + mw + 3.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Rows of the Parquet files in `dir`, from their footers.
pub fn rows_in(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for p in polars_adaptive::io::expand_paths(&dir.join("*.parquet"))? {
        n += MmapParquetReader::new(&p)?.total_rows();
    }
    Ok(n)
}

/// Rows of each dataset, from the footers.
pub fn input_rows(data: &Datasets) -> Result<BTreeMap<&'static str, usize>> {
    Ok(BTreeMap::from([
        ("ticks", rows_in(&data.ticks)?),
        ("pyarrow", rows_in(&data.post)?),
        ("giant", rows_in(&data.giant)?),
        ("giant-polars", rows_in(&data.giant_polars)?),
        ("small", rows_in(&data.small)?),
    ]))
}
