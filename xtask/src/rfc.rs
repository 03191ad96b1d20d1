//! The prototype's runner (docs/rfc/0001-streaming-anonymous-scan.md), built only in the rfc/
//! workspace against polars-stream 0.55.2 patched with rfc/polars-stream.patch: `cargo xtask rfc
//! [COMMAND]` builds and runs it. There `scan_adaptive` is a unit source, so stock's streaming
//! engine and sinks read it.
//!
//! - `difftest [--cases N] [--seed S]`: the difftest, with paths for `Engine::Streaming` and
//!   stock's `sink_parquet` / `sink_batches` over `scan_adaptive`; then the shared corpus.
//! - `sinks`: stock's `sink_parquet`, `sink_csv`, `sink_ndjson` and `sink_batches` over
//!   `scan_adaptive`, against the same sinks over `scan_parquet`, byte for byte.
//! - `threads`: plans with several `scan_adaptive` inputs on the streaming engine with
//!   `POLARS_MAX_THREADS=1` and `2`, each in a child process with a timeout.
//! - `bench [--runs R] [--quick]`: P1–P8 on `Engine::Streaming` over `scan_adaptive`, beside stock
//!   and `collect_adaptive`; the full run writes docs/rfc/0001-results.md.
//! - no command: all four (300 cases, the full benchmark).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use lexopt::ValueExt;
use polars::prelude::*;
use polars_adaptive::prelude::*;

use crate::{bench, difftest, gen, project_root as root};

pub fn main() -> Result<()> {
    let mut args = lexopt::Parser::from_env();
    let command = match args.next()? {
        Some(lexopt::Arg::Value(v)) => v.string()?,
        None => "all".into(),
        Some(other) => bail!(other.unexpected()),
    };
    let (mut cases, mut seed, mut runs, mut quick) = (300u32, None::<u64>, 5usize, false);
    let mut values = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            lexopt::Arg::Long("cases") => cases = args.value()?.parse()?,
            lexopt::Arg::Long("seed") => seed = Some(args.value()?.parse()?),
            lexopt::Arg::Long("runs") => runs = args.value()?.parse()?,
            lexopt::Arg::Long("quick") => quick = true,
            lexopt::Arg::Value(v) => values.push(v.string()?),
            other => bail!(other.unexpected()),
        }
    }
    let seed = seed.unwrap_or_else(|| std::process::id() as u64 ^ 0x5eed);
    match command.as_str() {
        "difftest" => run_difftest(cases, seed),
        "sinks" => sinks(),
        "threads" => threads(),
        "threads-child" => match values.as_slice() {
            [which] => threads_child(which),
            _ => bail!("usage: threads-child PLAN"),
        },
        "bench" => run_bench(runs, quick),
        "bench-child" => {
            let [query, engine, dir, rows] = values.as_slice() else {
                bail!("usage: bench-child QUERY ENGINE DIR ROWS");
            };
            let (secs, out_rows, skips) =
                bench::child(query, engine, Path::new(dir), rows.parse()?)?;
            let skips: String = skips.iter().flatten().map(|n| format!(" {n}")).collect();
            println!("{secs} {} {out_rows}{skips}", crate::procfs::peak_rss_kib());
            Ok(())
        }
        "all" => {
            run_difftest(cases, seed)?;
            sinks()?;
            threads()?;
            run_bench(runs, quick)
        }
        other => bail!("unknown rfc command '{other}'; commands: difftest, sinks, threads, bench"),
    }
}

fn run_difftest(cases: u32, seed: u64) -> Result<()> {
    let options = difftest::Options {
        cases,
        seed,
        keep_failures: Some(root().join("target/rfc-difftest-failures")),
    };
    // `cargo xtask difftest --replay` would replay without the engine paths.
    difftest::run_reported(&options, &root().join("target/rfc-difftest-scratch"), None)
}

/// A fresh file name under the temp dir.
fn scratch_file(ext: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("rfc-{}-{n}.{ext}", std::process::id()))
}

/// Runs `lf` into a stock file sink of `format` at `path`.
fn sink_file(lf: LazyFrame, path: &Path, format: FileWriteFormat) -> PolarsResult<()> {
    let target = SinkTarget::Path(PlRefPath::try_from_path(path)?);
    lf.sink(
        SinkDestination::File { target },
        format,
        UnifiedSinkArgs::default(),
    )?
    .collect_with_engine(Engine::Streaming)?;
    Ok(())
}

fn parquet_format() -> FileWriteFormat {
    FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions::default()))
}

/// Stock's `sink_parquet` of `lf`, read back.
pub fn sink_parquet_read_back(lf: LazyFrame) -> PolarsResult<DataFrame> {
    let path = scratch_file("parquet");
    let out = sink_file(lf, &path, parquet_format())
        .and_then(|()| ParquetReader::new(std::fs::File::open(&path)?).finish());
    let _ = std::fs::remove_file(&path);
    out
}

/// The batches stock's `sink_batches` hands over (order kept), concatenated.
pub fn sink_batches_concatenated(lf: LazyFrame) -> PolarsResult<DataFrame> {
    let frames = Arc::new(Mutex::new(Vec::<DataFrame>::new()));
    let sink = frames.clone();
    let callback = PlanCallback::new(move |df: DataFrame| {
        sink.lock().unwrap().push(df);
        Ok(false)
    });
    lf.sink_batches(callback, true, None)?
        .collect_with_engine(Engine::Streaming)?;
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    crate::difftest::check::stack_batches(frames)
}

/// `lf` on Polars' streaming engine.
pub fn streaming(lf: LazyFrame) -> PolarsResult<DataFrame> {
    lf.collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
}

/// 400,000 generated ticks in four files (written once); returns their glob.
fn small_ticks() -> Result<PathBuf> {
    let opts = gen::GenOptions::quick(400_000, root().join("target/rfc-data"));
    let dir = opts.out.join("ticks");
    let stamp = dir.join("GENERATED");
    if !stamp.exists() {
        gen::ticks(&opts)?;
        std::fs::write(&stamp, format!("{opts:?}"))?;
    }
    Ok(dir.join("*.parquet"))
}

/// Units of 7,919 rows: about 50 per file, so that the engine decodes many at once and has
/// to put them back in order.
fn many_units() -> ScanArgsAdaptive {
    ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(7_919))
}

/// The sinks' queries: row-local, aggregated then sorted, sliced from an offset, the tail.
fn sink_queries() -> Vec<(&'static str, fn(LazyFrame) -> LazyFrame)> {
    vec![
        ("filter + select", |lf| {
            lf.filter(col("side").eq(lit("BUY")).and(col("volume").gt(lit(500))))
                .select([col("timestamp"), col("symbol"), col("price"), col("volume")])
        }),
        ("with_columns, every column", |lf| {
            lf.with_columns([
                (col("price") * col("volume").cast(DataType::Float64)).alias("notional")
            ])
        }),
        // Exact aggregations only: a float sum depends on how rows are split into morsels,
        // in stock's engine as in ours, so its last digits would differ byte for byte.
        ("group_by + sort", |lf| {
            lf.group_by([col("symbol")])
                .agg([
                    col("price").min().alias("low"),
                    col("price").max().alias("high"),
                    col("volume").sum(),
                    len(),
                ])
                .sort(["symbol"], SortMultipleOptions::default())
        }),
        ("slice(1000, 5000)", |lf| lf.slice(1000, 5000)),
        ("tail(300)", |lf| lf.tail(300)),
        ("filter + head(700)", |lf| {
            lf.filter(col("side").eq(lit("SELL"))).limit(700)
        }),
    ]
}

/// Stock's file sinks and `sink_batches` over `scan_adaptive` write exactly what they write
/// over `scan_parquet` (the Parquet files compared as read back: their footers name the
/// writer's settings, which are the same, but a byte check would also compare row-group
/// boundaries, which follow the morsels).
fn sinks() -> Result<()> {
    let glob = small_ticks()?;
    let ours = || LazyFrame::scan_adaptive(&glob, many_units());
    let stock =
        || LazyFrame::scan_parquet(PlRefPath::try_from_path(&glob)?, ScanArgsParquet::default());
    for (name, q) in sink_queries() {
        for (ext, format) in [
            ("csv", FileWriteFormat::Csv(CsvWriterOptions::default())),
            (
                "ndjson",
                FileWriteFormat::NDJson(NDJsonWriterOptions::default()),
            ),
        ] {
            let (a, b) = (scratch_file(ext), scratch_file(ext));
            sink_file(q(ours()?), &a, format.clone())?;
            sink_file(q(stock()?), &b, format)?;
            let (x, y) = (std::fs::read(&a)?, std::fs::read(&b)?);
            let _ = (std::fs::remove_file(&a), std::fs::remove_file(&b));
            ensure!(
                x == y,
                "{name}: sink_{ext} differs from stock's ({} vs {} bytes)",
                x.len(),
                y.len()
            );
            println!(
                "sink_{ext:<7} {name:<28} equal to stock ({} bytes)",
                x.len()
            );
        }
        let a = sink_parquet_read_back(q(ours()?))?;
        let b = sink_parquet_read_back(q(stock()?))?;
        same(&a, &b, || format!("{name}: sink_parquet"))?;
        println!(
            "sink_parquet {name:<28} equal to stock ({} rows)",
            a.height()
        );
        let a = sink_batches_concatenated(q(ours()?))?;
        let b = sink_batches_concatenated(q(stock()?))?;
        same(&a, &b, || format!("{name}: sink_batches"))?;
        same(&streaming(q(ours()?))?, &b, || {
            format!("{name}: Engine::Streaming")
        })?;
        println!(
            "sink_batches {name:<28} equal to stock ({} rows); so is Engine::Streaming",
            a.height()
        );
    }
    Ok(())
}

/// `ours` equals `stock`, or an error naming `what` and the difference.
fn same(ours: &DataFrame, stock: &DataFrame, what: impl FnOnce() -> String) -> Result<()> {
    polars_adaptive::testing::same_frame(ours, stock)
        .map_err(|d| anyhow::anyhow!("{} differs from stock's: {d}", what()))
}

/// Plans with several `scan_adaptive` inputs.
const MULTI_INPUT: [&str; 3] = [
    "join of two",
    "concat of three",
    "join of a scan with itself",
];

fn multi_input_plan(which: &str, glob: &Path) -> Result<(LazyFrame, LazyFrame)> {
    let ours = || LazyFrame::scan_adaptive(glob, many_units());
    let stock =
        || LazyFrame::scan_parquet(PlRefPath::try_from_path(glob)?, ScanArgsParquet::default());
    // Volume per symbol of one side.
    let side = |lf: LazyFrame, side: &str, name: &str| {
        lf.filter(col("side").eq(lit(side.to_string())))
            .group_by([col("symbol")])
            .agg([col("volume").sum().alias(name)])
    };
    let build = |a: LazyFrame, b: LazyFrame, c: LazyFrame| -> Result<LazyFrame> {
        Ok(match which {
            "join of two" => side(a, "BUY", "buy")
                .join(
                    side(b, "SELL", "sell"),
                    [col("symbol")],
                    [col("symbol")],
                    JoinArgs::new(JoinType::Inner),
                )
                .sort(["symbol"], SortMultipleOptions::default()),
            "concat of three" => concat(
                [
                    a.slice(10, 100),
                    b.filter(col("volume").lt(lit(20))),
                    c.tail(50),
                ],
                UnionArgs::default(),
            )?,
            _ => {
                let ids = a.select([col("trade_id"), col("symbol")]).limit(5000);
                b.join(
                    ids,
                    [col("trade_id")],
                    [col("trade_id")],
                    JoinArgs::new(JoinType::Inner),
                )
                .sort(["trade_id"], SortMultipleOptions::default())
            }
        })
    };
    Ok((
        build(ours()?, ours()?, ours()?)?,
        build(stock()?, stock()?, stock()?)?,
    ))
}

/// Each multi-input plan with `POLARS_MAX_THREADS=1` and `2`, in a child process that must
/// finish within a minute (a hang is a failure, not a stuck CI job).
fn threads() -> Result<()> {
    let exe = std::env::current_exe()?;
    for which in MULTI_INPUT {
        for threads in ["1", "2"] {
            let t = Instant::now();
            let mut child = Command::new(&exe)
                .args(["threads-child", which])
                .env("POLARS_MAX_THREADS", threads)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if t.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                    bail!("{which}, {threads} thread(s): no answer after 60 s (hang)");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let out = child.wait_with_output()?;
            ensure!(
                status.success(),
                "{which}, {threads} thread(s): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            println!(
                "threads: {which:<28} POLARS_MAX_THREADS={threads}: {} in {:.2?}",
                String::from_utf8_lossy(&out.stdout).trim(),
                t.elapsed()
            );
        }
    }
    Ok(())
}

fn threads_child(which: &str) -> Result<()> {
    let (ours, stock) = multi_input_plan(which, &small_ticks()?)?;
    let (a, b) = (streaming(ours)?, streaming(stock)?);
    same(&a, &b, || which.to_string())?;
    println!("equal to stock, {} rows", a.height());
    Ok(())
}

/// P1–P8 on the streaming engine over `scan_adaptive`, beside stock and `collect_adaptive`.
fn run_bench(runs: usize, quick: bool) -> Result<()> {
    let out = root().join(if quick {
        "target/bench-data-quick"
    } else {
        "target/bench-data"
    });
    let opts = if quick {
        gen::GenOptions::quick(2_000_000, out)
    } else {
        gen::GenOptions::full(100_000_000, 8, out)
    };
    let data = gen::ensure(&opts)?;
    let input_rows = bench::input_rows(&data)?;
    let ours = "adaptive Engine::Streaming";
    let three = |other: &'static str| vec![ours, other, "stock streaming"];
    let queries: Vec<bench::Query> = bench::queries()
        .into_iter()
        .filter(|(id, ..)| !matches!(*id, "P9" | "P10"))
        .map(|(id, what, dataset, _)| {
            let engines = match id {
                "P5" => three("adaptive first_n_per_group"),
                "P6" => vec![
                    "Engine::Streaming, 1 thread",
                    "Engine::Streaming, 2 threads",
                ],
                _ => three("adaptive collect_adaptive"),
            };
            (id, what, dataset, engines)
        })
        .collect();
    let t = Instant::now();
    let results = bench::run_queries(&data, opts.rows, &input_rows, runs.max(1), queries)?;
    let header = format!(
        "# RFC 0001 prototype: measured\n\n{} run of `cargo xtask rfc bench{}` on {}: polars-stream \
         0.55.2 with rfc/polars-stream.patch, {}. Same method as docs/benchmarks.md (each run in its \
         own process, engines alternating, one warm-up round, then {runs} measured rounds; peak RSS \
         is VmHWM). Datasets: ticks {} rows, pyarrow {} rows, giant {} rows, small {} rows in {} files.\n",
        if quick { "Quick" } else { "Full" },
        if quick { " --quick" } else { "" },
        crate::procfs::today(),
        crate::procfs::machine(),
        input_rows["ticks"],
        input_rows["pyarrow"],
        input_rows["giant"],
        input_rows["small"],
        opts.small_files,
    );
    let md = bench::markdown(&results, &input_rows, &header);
    let dir = match quick {
        true => root().join("target/bench-quick"),
        false => root().join("docs/rfc"),
    };
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("0001-results.md");
    std::fs::write(&file, &md).with_context(|| file.display().to_string())?;
    println!("{md}\nwritten to {} in {:.1?}", file.display(), t.elapsed());
    Ok(())
}
