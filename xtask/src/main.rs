//! Project tasks: `cargo xtask <command>`.
//!
//! - `demo [--rows N] [--dir DIR]`: writes a tick dataset and reads it through the I/O layer,
//!   printing what each reader did and whether its answer equals stock Polars'.
//! - `spike-decode [--rows N]`: decodes one generated file with Polars' decoder and with
//!   arrow-rs plus an Arrow C Data Interface hand-over, each in its own process, and prints
//!   time, peak RSS and dtype differences from stock Polars (docs/decisions.md).
//! - `gen [--rows N] [--files F] [--out DIR] [--quick]`: the benchmark datasets.
//! - `bench [--rows N] [--quick] [--runs R]`: queries × engines in child processes against
//!   stock Polars; writes `docs/benchmarks.md` and `docs/benchmarks.svg` (a `--quick` run writes
//!   them under `target/bench-quick/` instead, so the committed full-run report stays).
//! - `difftest [--cases N] [--seed S] [--keep-failures DIR] [--replay DIR]`: random datasets
//!   and queries through every execution path, against stock Polars; then the shared corpus.
//! - `fuzz [--mutations N] [--seed S] [--timeout SECS] [--keep-failures DIR]`: mutated
//!   Parquet files through every reader in child processes; `--child FILE` is one such child.
//! - `bench --python [--quick]`: the Python benchmark (`python/bench/bench.py`); the full run
//!   writes `docs/benchmarks-python.md`, a quick one `target/bench-python-quick/`.
//! - `bench --flight [--quick]`: the Flight SQL benchmark (`python/bench/bench_flight.py`);
//!   the full run writes `docs/benchmarks-flight.md`, a quick one `target/bench-flight-quick/`.
//! - `bench --ray [--quick]`: the Ray benchmark (`python/bench/bench_ray.py`); the full run
//!   writes `docs/benchmarks-ray.md`, a quick one `target/bench-ray-quick/`.
//! - `bench --layouts [--quick]`: P1 and P4 on tick layouts as Polars writes them and on a
//!   scale dataset past this machine's memory (`gen::layouts`); the full run writes
//!   `docs/benchmarks-layouts.md`, a quick one `target/bench-layouts-quick/`.
//! - `bench --only P9,P11 [--quick]`: some of the main benchmark's queries, reported under
//!   `target/bench-only/`. `--allocator jemalloc` runs every engine on jemalloc rather than
//!   glibc's malloc (`xtask::alloc`).
//! - `features`: checks that `cargo xtask` resolves shared dependencies' features as the
//!   workspace build does, so both link one compiled Polars (src/features.rs).
//! - `wheel`: the Python package's wheel, into `target/wheels/` (src/python.rs).
//! - `test [--python-only] [PYTEST ARGS]`: every test: the workspace's, then the wheel and
//!   pytest in a fresh virtual environment per supported Python Polars.
//! - `rfc [--check | test | COMMAND]`: the prototype of docs/rfc/0001 (polars-stream patched by
//!   `rfc/polars-stream.patch`, built in the rfc/ workspace); `--check` only checks that the patch
//!   applies; commands in `src/rfc.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lexopt::ValueExt;
use polars::prelude::*;
use polars_adaptive::prelude::*;

mod spike;

use xtask::data::{ticks, FILES};
use xtask::{bench, gen, procfs, project_root};

/// glibc's allocator, or jemalloc under `--allocator jemalloc` (`xtask::alloc`), for every
/// engine a benchmark runs, ours and stock's (docs/decisions.md, "The benchmarks' allocator").
#[global_allocator]
static ALLOCATOR: xtask::alloc::Chosen = xtask::alloc::Chosen;

fn main() -> Result<()> {
    let mut args = lexopt::Parser::from_env();
    let command = match args.next()? {
        Some(lexopt::Arg::Value(v)) => v.string()?,
        _ => bail!("usage: cargo xtask demo [--rows N] [--dir DIR]"),
    };
    match command.as_str() {
        "demo" => {
            let (mut rows, mut dir) = (2_000_000usize, None::<PathBuf>);
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Long("rows") => rows = args.value()?.parse()?,
                    lexopt::Arg::Long("dir") => dir = Some(args.value()?.into()),
                    other => bail!(other.unexpected()),
                }
            }
            let dir = dir.unwrap_or_else(|| project_root().join("target/demo-data"));
            demo(rows, &dir)
        }
        "spike-decode" => {
            let mut rows = 4_000_000usize;
            let mut child = None::<(String, PathBuf)>;
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Long("rows") => rows = args.value()?.parse()?,
                    lexopt::Arg::Long("child") => {
                        let engine = args.value()?.string()?;
                        child = Some((engine, args.value()?.into()));
                    }
                    other => bail!(other.unexpected()),
                }
            }
            match child {
                Some((engine, file)) => spike::child(&engine, &file),
                None => spike::run(rows, &project_root().join("target/spike-data")),
            }
        }
        "difftest" => {
            let mut options = xtask::difftest::Options {
                cases: 500,
                seed: 0x00d1_ff7e,
                keep_failures: Some(project_root().join("target/difftest-failures")),
            };
            let mut replay = None::<PathBuf>;
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Long("cases") => options.cases = args.value()?.parse()?,
                    lexopt::Arg::Long("seed") => {
                        options.seed = parse_seed(&args.value()?.string()?)?
                    }
                    lexopt::Arg::Long("keep-failures") => {
                        options.keep_failures = Some(args.value()?.into())
                    }
                    lexopt::Arg::Long("replay") => replay = Some(args.value()?.into()),
                    other => bail!(other.unexpected()),
                }
            }
            match replay {
                Some(dir) => xtask::difftest::replay(&dir),
                None => difftest(&options),
            }
        }
        "fuzz" => {
            let mut options = xtask::fuzz::Options {
                mutations: 1_000,
                seed: 0xf022,
                keep_failures: project_root().join("target/fuzz-failures"),
                corpus: Some(project_root().join("../shared/parquet-testing"))
                    .filter(|d| d.is_dir()),
                timeout: std::time::Duration::from_secs(60),
            };
            let mut child = None::<PathBuf>;
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Long("mutations") => options.mutations = args.value()?.parse()?,
                    lexopt::Arg::Long("seed") => {
                        options.seed = parse_seed(&args.value()?.string()?)?
                    }
                    lexopt::Arg::Long("timeout") => {
                        options.timeout = std::time::Duration::from_secs(args.value()?.parse()?)
                    }
                    lexopt::Arg::Long("keep-failures") => {
                        options.keep_failures = args.value()?.into()
                    }
                    lexopt::Arg::Long("child") => child = Some(args.value()?.into()),
                    other => bail!(other.unexpected()),
                }
            }
            match child {
                Some(file) => xtask::fuzz::child(&file),
                None => fuzz(&options),
            }
        }
        "gen" | "bench" => {
            let (mut rows, mut files, mut out, mut quick, mut runs) =
                (None, 8usize, None::<PathBuf>, false, 5usize);
            let (mut python, mut flight, mut ray, mut layouts) = (false, false, false, false);
            let mut only: Option<Vec<String>> = None;
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Long("only") => {
                        let list: String = args.value()?.parse()?;
                        only = Some(list.split(',').map(str::to_string).collect());
                    }
                    lexopt::Arg::Long("python") => python = true,
                    lexopt::Arg::Long("layouts") => layouts = true,
                    lexopt::Arg::Long("allocator") => {
                        let name: String = args.value()?.parse()?;
                        let jemalloc = match name.as_str() {
                            "jemalloc" => true,
                            "glibc" => false,
                            other => bail!("--allocator {other}: glibc or jemalloc"),
                        };
                        let _ = bench::JEMALLOC.set(jemalloc);
                    }
                    lexopt::Arg::Long("flight") => flight = true,
                    lexopt::Arg::Long("ray") => ray = true,
                    lexopt::Arg::Long("rows") => rows = Some(args.value()?.parse()?),
                    lexopt::Arg::Long("files") => files = args.value()?.parse()?,
                    lexopt::Arg::Long("out") => out = Some(args.value()?.into()),
                    lexopt::Arg::Long("quick") => quick = true,
                    lexopt::Arg::Long("runs") => runs = args.value()?.parse()?,
                    other => bail!(other.unexpected()),
                }
            }
            let default_dir = if quick {
                "target/bench-data-quick"
            } else {
                "target/bench-data"
            };
            let out = out.unwrap_or_else(|| project_root().join(default_dir));
            let opts = if quick {
                gen::GenOptions::quick(rows.unwrap_or(2_000_000), out)
            } else {
                gen::GenOptions::full(rows.unwrap_or(100_000_000), files, out)
            };
            if command == "gen" {
                gen::all(&opts)?;
                Ok(())
            } else if layouts {
                let opts = match quick {
                    true => gen::LayoutOptions::quick(opts.out.join("layouts")),
                    false => gen::LayoutOptions::full(opts.out.join("layouts")),
                };
                run_layouts(&opts, quick, runs.min(3))
            } else if ray {
                let data = gen::ensure(&opts)?;
                let report = match quick {
                    true => project_root().join("target/bench-ray-quick"),
                    false => project_root().join("docs"),
                };
                xtask::python::bench_ray(data.ticks.parent().unwrap(), &report, runs.min(3))
            } else if flight {
                let data = gen::ensure(&opts)?;
                let (report, seconds) = match quick {
                    true => (project_root().join("target/bench-flight-quick"), 3),
                    false => (project_root().join("docs"), 10),
                };
                xtask::python::bench_flight(data.ticks.parent().unwrap(), &report, runs, seconds)
            } else if python {
                let data = gen::ensure(&opts)?;
                let report = match quick {
                    true => project_root().join("target/bench-python-quick"),
                    false => project_root().join("docs"),
                };
                xtask::python::bench(data.ticks.parent().unwrap(), &report, runs.min(5))
            } else {
                run_bench(&opts, quick, runs, only.as_deref())
            }
        }
        "rfc" => {
            // Everything after `rfc` goes to the prototype's runner; `--check` only checks that
            // the patch applies to the pinned crate.
            let rest: Vec<String> = std::env::args().skip(2).collect();
            match rest.as_slice() {
                [flag] if flag == "--check" => rfc_check(),
                _ => rfc(&rest),
            }
        }
        "bench-child" => {
            let mut values = Vec::new();
            while let Some(arg) = args.next()? {
                match arg {
                    lexopt::Arg::Value(v) => values.push(v.string()?),
                    other => bail!(other.unexpected()),
                }
            }
            let [query, engine, dir, rows] = values.as_slice() else {
                bail!("usage: bench-child QUERY ENGINE DIR ROWS");
            };
            let (secs, out_rows, skips) =
                bench::child(query, engine, Path::new(dir), rows.parse()?)?;
            let skips: String = skips.iter().flatten().map(|n| format!(" {n}")).collect();
            println!("{secs} {} {out_rows}{skips}", procfs::peak_rss_kib());
            Ok(())
        }
        "features" => xtask::features::check(),
        "wheel" => xtask::python::wheel().map(|_| ()),
        "test" => {
            // `--python-only` skips the Rust tests; anything else goes to pytest.
            let rest: Vec<String> = std::env::args().skip(2).collect();
            let rust = !rest.iter().any(|a| a == "--python-only");
            let pytest: Vec<String> = rest.into_iter().filter(|a| a != "--python-only").collect();
            xtask::python::test(&pytest, rust)
        }
        other => {
            bail!("unknown command '{other}'; commands: demo, spike-decode, difftest, fuzz, gen, bench, features, wheel, test")
        }
    }
}

fn difftest(options: &xtask::difftest::Options) -> Result<()> {
    xtask::difftest::run_reported(
        options,
        &project_root().join("target/difftest-scratch"),
        Some("cargo xtask difftest --replay"),
    )
}

/// A seed in decimal or, as the reports print it, in hex with `0x`.
fn parse_seed(text: &str) -> Result<u64> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.with_context(|| format!("seed '{text}'"))
}

fn fuzz(options: &xtask::fuzz::Options) -> Result<()> {
    let t = Instant::now();
    let report = xtask::fuzz::run(options, &project_root().join("target/fuzz-scratch"))?;
    println!(
        "fuzz, seed {:#x}, {:.1?}\n{report}",
        options.seed,
        t.elapsed()
    );
    if !report.failures.is_empty() {
        bail!(
            "{} mutations failed; replay with the REPLAY file under {}",
            report.failures.len(),
            options.keep_failures.display()
        );
    }
    Ok(())
}

/// Generates the datasets unless a previous run with the same options left them, runs every
/// query, and writes the report.
/// `only`: run just these queries (by id), reported under `target/bench-only/`: a partial run
/// never replaces the committed report.
fn run_bench(
    opts: &gen::GenOptions,
    quick: bool,
    runs: usize,
    only: Option<&[String]>,
) -> Result<()> {
    let data = gen::ensure(opts)?;
    let input_rows = bench::input_rows(&data)?;
    let t = Instant::now();
    let mut queries = bench::queries();
    if let Some(ids) = only {
        queries.retain(|q| ids.iter().any(|id| id == q.0));
        anyhow::ensure!(
            !queries.is_empty(),
            "--only {}: no such query",
            ids.join(",")
        );
    }
    let dir_of = |name: &str| bench::dataset_dir(&data, name);
    let results = bench::run_queries(&dir_of, opts.rows, &input_rows, runs.max(1), queries)?;
    let (date, machine, allocator) = (procfs::today(), procfs::machine(), bench::allocator());
    let header = format!(
        "# Benchmarks\n\n{} run of `cargo xtask bench{}` on {date}: {machine}. Polars 0.55.2.\n\
         Each (query, engine) ran in its own process, engines alternating, one warm-up round then {runs} measured rounds; \
         median and min–max wall time of the query (including planning and reading), peak RSS as the OS reports it (VmHWM, the largest of the runs); \
         every engine allocates with {allocator}. \
         Datasets: ticks {} rows, pyarrow {} rows, giant and giant-polars {} rows (two row groups), small {} rows in {} files.\n",
        match (quick, only) { (_, Some(_)) => "Partial", (true, _) => "Quick", _ => "Full" },
        match only {
            Some(ids) => format!("{} --only {}", if quick { " --quick" } else { "" }, ids.join(",")),
            None if quick => " --quick".to_string(),
            None => String::new(),
        },
        input_rows["ticks"], input_rows["pyarrow"], input_rows["giant"], input_rows["small"], opts.small_files,
    );
    let md = bench::markdown(&results, &input_rows, &header);
    // Only the full run updates the committed report; a quick or partial run writes under
    // target/.
    let docs = match (quick, only) {
        (_, Some(_)) => project_root().join("target/bench-only"),
        (true, _) => project_root().join("target/bench-quick"),
        (false, None) => project_root().join("docs"),
    };
    write_report(&docs, "benchmarks", &md, &results, t)
}

/// Writes `md` and its chart as `<name>.md` and `<name>.svg` under `docs`, keeping the
/// hand-written analysis below `<!-- analysis -->` of the report already there.
fn write_report(
    docs: &Path,
    name: &str,
    md: &str,
    results: &[(String, String, String, bench::Measured)],
    started: Instant,
) -> Result<()> {
    std::fs::create_dir_all(docs)?;
    std::fs::write(docs.join(format!("{name}.svg")), bench::svg(results))?;
    let chart = format!("\n![median time and peak RSS per query and engine]({name}.svg)\n");
    let report = docs.join(format!("{name}.md"));
    let existing = std::fs::read_to_string(&report).unwrap_or_default();
    let analysis = existing
        .split_once("<!-- analysis -->")
        .map(|(_, a)| format!("\n<!-- analysis -->{a}"))
        .unwrap_or_default();
    std::fs::write(&report, format!("{md}{chart}{analysis}"))?;
    println!(
        "{md}\nwritten to {} in {:.1?}",
        report.display(),
        started.elapsed()
    );
    Ok(())
}

/// `cargo xtask bench --layouts`: P1 on ticks in several layouts as Polars users' files are,
/// and on the scale dataset P1, P4 and stock in-memory under a cap (`bench::layout_queries`).
fn run_layouts(opts: &gen::LayoutOptions, quick: bool, runs: usize) -> Result<()> {
    let layouts = gen::layouts(opts)?;
    let t = Instant::now();
    let mut input_rows = BTreeMap::new();
    for (name, dir) in &layouts {
        input_rows.insert(*name, bench::rows_in(dir)?);
    }
    let dir_of = |name: &str| {
        let (_, dir) = layouts.iter().find(|(n, _)| *n == name).unwrap();
        dir.clone()
    };
    let queries = bench::layout_queries(&layouts);
    let results = bench::run_queries(&dir_of, 0, &input_rows, runs.max(1), queries)?;
    let (date, machine, allocator) = (procfs::today(), procfs::machine(), bench::allocator());
    let sizes: Vec<String> = layouts
        .iter()
        .map(|(name, dir)| {
            let bytes: u64 = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum();
            format!(
                "{name} {} rows, {:.2} GB",
                input_rows[name],
                bytes as f64 / 1e9
            )
        })
        .collect();
    let header = format!(
        "# Benchmarks: layouts and scale\n\n{} run of `cargo xtask bench --layouts{}` on {date}: {machine}. Polars 0.55.2.\n\
         Each (query, engine) ran in its own process, engines alternating, one warm-up round then {runs} measured rounds; \
         median and min–max wall time, peak RSS (VmHWM); every engine allocates with {allocator}. `{}` runs stock's in-memory engine with its address space capped \
         (RLIMIT_AS), standing in for a machine whose memory the decoded data exceeds. Layouts (see `gen::layouts`): {}.\n",
        if quick { "Quick" } else { "Full" },
        if quick { " --quick" } else { "" },
        bench::CAPPED_IN_MEMORY,
        sizes.join("; "),
    );
    let md = bench::markdown(&results, &input_rows, &header);
    let docs = match quick {
        true => project_root().join("target/bench-layouts-quick"),
        false => project_root().join("docs"),
    };
    write_report(&docs, "benchmarks-layouts", &md, &results, t)
}

/// The published polars-stream 0.55.2 sources in cargo's registry (there after the first build).
fn pinned_polars_stream() -> Result<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let pattern = home.join("registry/src/*/polars-stream-0.55.2");
    glob::glob(&pattern.to_string_lossy())?
        .flatten()
        .next()
        .with_context(|| format!("{} not found: build the workspace first", pattern.display()))
}

fn rfc_patch() -> PathBuf {
    project_root().join("rfc/polars-stream.patch")
}

/// Applies the patch to `dir` with `patch -p1` (`--dry-run`: checks only).
fn apply_patch(dir: &Path, dry_run: bool) -> Result<()> {
    let mut cmd = Command::new("patch");
    cmd.args(["-p1", "--forward", "--silent", "-d"]).arg(dir);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let status = cmd
        .stdin(std::fs::File::open(rfc_patch())?)
        .status()
        .context("running patch")?;
    if !status.success() {
        bail!(
            "rfc/polars-stream.patch does not apply to {}",
            dir.display()
        );
    }
    Ok(())
}

/// `cargo xtask rfc --check`: the patch still applies to the pinned crate.
fn rfc_check() -> Result<()> {
    let src = pinned_polars_stream()?;
    apply_patch(&src, true)?;
    let lines = std::fs::read_to_string(rfc_patch())?.lines().count();
    println!(
        "rfc/polars-stream.patch applies to {} ({lines} lines)",
        src.display()
    );
    Ok(())
}

/// `cargo xtask rfc [test | ARGS]`: writes polars-stream 0.55.2 with the patch applied under the target
/// dir (again only when the patch changed), then builds and runs the rfc/ workspace against it.
fn rfc(args: &[String]) -> Result<()> {
    let root = project_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let patched = target.join("rfc/polars-stream-0.55.2");
    let stamp = patched.join(".applied-patch");
    let patch = std::fs::read_to_string(rfc_patch())?;
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(patch.as_str()) {
        let src = pinned_polars_stream()?;
        let _ = std::fs::remove_dir_all(&patched);
        std::fs::create_dir_all(patched.parent().unwrap())?;
        let status = Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(&patched)
            .status()?;
        if !status.success() {
            bail!("copying {} failed", src.display());
        }
        apply_patch(&patched, false)?;
        std::fs::write(&stamp, &patch)?;
    }
    // The main workspace's versions, so that the rest of Polars is reused from the target dir.
    std::fs::copy(root.join("Cargo.lock"), root.join("rfc/Cargo.lock"))?;
    // `test`: the patch's own tests (rfc/tests); anything else goes to the runner.
    let (verb, args) = match args.split_first() {
        Some((first, rest)) if first == "test" => ("test", rest),
        _ => ("run", args),
    };
    let mut cargo = xtask::nested_cargo();
    let status = cargo
        .args([verb, "--release", "--manifest-path"])
        .arg(root.join("rfc/Cargo.toml"))
        .arg("--config")
        .arg(format!(
            "patch.crates-io.polars-stream.path={:?}",
            patched.to_string_lossy()
        ))
        .arg("--")
        .args(args)
        .env("CARGO_TARGET_DIR", &target)
        .status()?;
    if !status.success() {
        bail!("the rfc runner failed");
    }
    Ok(())
}

fn demo(rows: usize, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let per_file = rows.div_ceil(FILES);
    let t = Instant::now();
    let mut paths = Vec::new();
    for f in 0..FILES {
        let path = dir.join(format!("ticks-{f}.parquet"));
        let mut df = ticks(f * per_file, per_file)?;
        ParquetWriter::new(std::fs::File::create(&path)?)
            .with_row_group_size(Some(64 * 1024))
            .with_statistics(StatisticsOptions::full())
            .finish(&mut df)?;
        paths.push(path);
    }
    println!(
        "wrote {FILES} files of {per_file} rows to {} in {:.2?}",
        dir.display(),
        t.elapsed()
    );

    let file = MmapParquetReader::new(&paths[0])?;
    println!(
        "\n[MmapParquetReader] {}: {} rows in {} row groups, ~{} decoded bytes per row, fits in 64 MiB: {}",
        paths[0].display(),
        file.total_rows(),
        file.num_row_groups(),
        file.estimate_row_size(),
        file.can_fit_in_memory(64)
    );

    let budget = 16usize << 20;
    let reader = AdaptiveStreamingReader::new(&paths[0])?.with_memory_budget(budget);
    let t = Instant::now();
    let (mut batches, mut read) = (0, 0);
    for batch in reader.batches() {
        batches += 1;
        read += batch?.height();
    }
    println!(
        "\n[AdaptiveStreamingReader, budget 16 MiB] {read} rows in {batches} batches, {:.2?}; tracked peak {:.1} MiB\n  {}",
        t.elapsed(),
        reader.memory_manager().peak_usage_bytes() as f64 / (1 << 20) as f64,
        reader.metrics()
    );

    let lo = 1_700_000_000_000i64 + (per_file as i64 / 2) * 10;
    let window = Scalar::new(
        DataType::Datetime(TimeUnit::Milliseconds, None),
        AnyValue::Datetime(lo, TimeUnit::Milliseconds, None),
    );
    let window_end = Scalar::new(
        DataType::Datetime(TimeUnit::Milliseconds, None),
        AnyValue::Datetime(lo + 10_000, TimeUnit::Milliseconds, None),
    );
    let mut reader = AdaptiveStreamingReader::new(&paths[0])?;
    reader.with_predicate(RangePredicate::new(
        "timestamp",
        window.clone(),
        window_end.clone(),
    ));
    let t = Instant::now();
    let n: usize = reader
        .batches()
        .map(|b| b.map(|b| b.height()))
        .sum::<PolarsResult<_>>()?;
    println!(
        "\n[timestamp range pushdown] {n} rows in {:.2?}\n  {}",
        t.elapsed(),
        reader.metrics()
    );

    let t = Instant::now();
    let reader = ParallelStreamReader::from_glob(&format!("{}/ticks-*.parquet", dir.display()))?
        .with_predicate(ColumnFilterPredicate::new("side", vec!["BUY".to_string()]))
        .with_projection(["symbol", "price", "volume"]);
    let ours = reader.collect_concatenated()?;
    let ours_time = t.elapsed();
    let t = Instant::now();
    let sources: Vec<PlRefPath> = paths
        .iter()
        .map(|p| PlRefPath::try_from_path(p))
        .collect::<PolarsResult<_>>()?;
    let stock = LazyFrame::scan_parquet_sources(
        ScanSources::Paths(sources.into_iter().collect()),
        ScanArgsParquet::default(),
    )?
    .filter(col("side").eq(lit("BUY")))
    .select([col("symbol"), col("price"), col("volume")])
    .collect()?;
    let stock_time = t.elapsed();
    println!(
        "\n[ParallelStreamReader, side = 'BUY', 3 columns] {} rows in {ours_time:.2?} (stock scan_parquet: {stock_time:.2?}); equal to stock: {}",
        ours.height(),
        ours.equals_missing(&stock)
    );
    if !ours.equals_missing(&stock) {
        bail!("the adaptive reader's answer differs from stock Polars'");
    }
    Ok(())
}
