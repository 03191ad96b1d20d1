//! `cargo xtask fuzz`: real Parquet files mutated where readers trust them, each mutant read by
//! every reader of polars-adaptive in a child process under an address-space limit, and the
//! outcome classified against stock Polars on the same bytes.
//!
//! Classes: `equal` (every reader answers like stock), `error` (a clean `PolarsError` where
//! stock fails too), `stricter` (a clean error where stock answers), `trusts-statistics` (a
//! filtered read pruned by statistics that the corrupted data contradicts, while the same read
//! with statistics off equals stock: docs/ARCHITECTURE.md "Known differences"),
//! `stock-inconsistent` (a filtered read equal to stock's unfiltered answer filtered by Polars,
//! where stock's own filtered read disagrees with it or fails), `ours-only` (we answer where
//! stock fails), and the failures: `differs` (an answer
//! unlike stock's), `panic` (a panic escaped a reader), `abort`, `signal`, `timeout`. A crash
//! or a timeout after every reader finished, in stock's own read, is `stock-crash` or
//! `stock-timeout` and not ours.

pub mod mutate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::{parquet_files, same_frame};

use mutate::{Layout, Rng};

/// What `cargo xtask fuzz` runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub mutations: usize,
    pub seed: u64,
    /// Where failing mutants are saved with a replay command.
    pub keep_failures: PathBuf,
    /// The shared corpus, when present: its readable files are inputs too.
    pub corpus: Option<PathBuf>,
    /// How long one mutant may take through every reader.
    pub timeout: Duration,
}

/// Classes that fail the run.
pub const FAILING: [&str; 5] = ["differs", "panic", "abort", "signal", "timeout"];

/// The address space a child may use: far above what reading these small files needs, far
/// below what a forged size asks for. An allocation past it fails, and Rust aborts on that.
const ADDRESS_SPACE: u64 = 8 << 30;

/// Counts per class, and the failures' saved folders.
#[derive(Debug, Default)]
pub struct Report {
    pub classes: BTreeMap<String, usize>,
    pub failures: Vec<String>,
    pub inputs: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: usize = self.classes.values().sum();
        writeln!(f, "{total} mutations of {} inputs:", self.inputs)?;
        for (class, n) in &self.classes {
            writeln!(f, "  {class:<12} {n}")?;
        }
        for failure in &self.failures {
            writeln!(f, "  failed: {failure}")?;
        }
        Ok(())
    }
}

/// Runs `options.mutations` mutants, two at a time.
pub fn run(options: &Options, scratch: &Path) -> Result<Report> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch)?;
    let inputs = inputs(options, &scratch.join("inputs"))?;
    anyhow::ensure!(!inputs.is_empty(), "no input file");
    let next = AtomicUsize::new(0);
    let report = Mutex::new(Report {
        inputs: inputs.len(),
        ..Report::default()
    });
    let exe = std::env::current_exe()?;
    let bar = indicatif::ProgressBar::new(options.mutations as u64);
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (inputs, next, report, exe, bar) = (&inputs, &next, &report, &exe, &bar);
            s.spawn(move || -> Result<()> {
                let dir = scratch.join(format!("worker-{worker}"));
                std::fs::create_dir_all(&dir)?;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= options.mutations {
                        return Ok(());
                    }
                    let mut rng =
                        Rng::new(options.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
                    let (name, bytes, layout) = &inputs[rng.below(inputs.len())];
                    let (what, mutant) = mutate::mutate(bytes, layout, &mut rng);
                    let file = dir.join("mutant.parquet");
                    std::fs::write(&file, &mutant)?;
                    let (class, detail) = run_child(exe, &file, options.timeout, &dir)?;
                    let mut r = report.lock().unwrap();
                    *r.classes.entry(class.clone()).or_default() += 1;
                    if FAILING.contains(&class.as_str()) {
                        let saved = save(options, i, &class, name, &what, &detail, &file)?;
                        r.failures.push(format!(
                            "#{i} {class} {name}: {what} -> {}",
                            saved.display()
                        ));
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    Ok(report.into_inner().unwrap())
}

/// Inputs are small: each mutant is read nine times, and what is fuzzed is structure, not size.
const MAX_DECODED_BYTES: usize = 64 << 20;

/// The files to mutate: generated ones, and the corpus's small files that we read.
fn inputs(options: &Options, dir: &Path) -> Result<Vec<(String, Vec<u8>, Layout)>> {
    std::fs::create_dir_all(dir)?;
    let mut files = generated(dir)?;
    if let Some(corpus) = &options.corpus {
        for f in parquet_files(&corpus.join("data")) {
            let small = MmapParquetReader::new(&f).is_ok_and(|r| {
                r.estimate_row_size().saturating_mul(r.total_rows()) <= MAX_DECODED_BYTES
            });
            if small && read_all(&f).is_ok() {
                files.push(f);
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f)?;
        if let Some(layout) = Layout::of(&bytes) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, bytes, layout));
        }
    }
    Ok(out)
}

/// Small files covering the layouts the readers take apart: dictionary and plain strings,
/// every codec the project writes, nulls, several row groups and small pages.
fn generated(dir: &Path) -> Result<Vec<PathBuf>> {
    let n = 3_000i64;
    let mut df = df!(
        "id" => (0..n).collect::<Vec<_>>(),
        "small" => (0..n).map(|i| (i % 7) as i32).collect::<Vec<_>>(),
        "f" => (0..n).map(|i| (i % 5 != 0).then_some(i as f64 * 0.5)).collect::<Vec<_>>(),
        "sym" => (0..n).map(|i| ["AAPL", "MSFT", "GOOG"][i as usize % 3]).collect::<Vec<_>>(),
        "text" => (0..n).map(|i| (i % 11 != 0).then(|| format!("row {i} {}", "x".repeat((i % 40) as usize)))).collect::<Vec<_>>(),
        "flag" => (0..n).map(|i| i % 3 == 0).collect::<Vec<_>>(),
    )?;
    let mut out = Vec::new();
    for (name, compression) in [
        ("zstd", ParquetCompression::Zstd(None)),
        ("snappy", ParquetCompression::Snappy),
        ("uncompressed", ParquetCompression::Uncompressed),
    ] {
        let path = dir.join(format!("gen-{name}.parquet"));
        ParquetWriter::new(std::fs::File::create(&path)?)
            .with_compression(compression)
            .with_row_group_size(Some(1_000))
            .with_data_page_size(Some(4_096))
            .with_statistics(StatisticsOptions::full())
            .finish(&mut df)?;
        out.push(path);
    }
    Ok(out)
}

/// Runs the child on `file`; its class and what it printed.
fn run_child(exe: &Path, file: &Path, timeout: Duration, dir: &Path) -> Result<(String, String)> {
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = Command::new(exe);
    cmd.args(["fuzz", "--child"])
        .arg(file)
        .env("POLARS_MAX_THREADS", "2")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    crate::procfs::limit_address_space(&mut cmd, ADDRESS_SPACE);
    let mut child = cmd.spawn().context("starting the fuzz child")?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let ours_done = out.lines().any(|l| l == "ours done");
    let detail = format!("stdout:\n{out}\nstderr:\n{err}");
    let class = match status {
        None if ours_done => "stock-timeout".to_string(),
        None => "timeout".to_string(),
        Some(s) if s.success() => out
            .lines()
            .find_map(|l| l.strip_prefix("class: "))
            .unwrap_or("signal")
            .to_string(),
        Some(_) if ours_done => "stock-crash".to_string(),
        Some(s) => classify_exit(s),
    };
    Ok((class, detail))
}

#[cfg(unix)]
fn classify_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGABRT) => "abort".into(),
        Some(_) => "signal".into(),
        None => "panic".into(),
    }
}

#[cfg(not(unix))]
fn classify_exit(_status: std::process::ExitStatus) -> String {
    "panic".into()
}

fn save(
    options: &Options,
    i: usize,
    class: &str,
    input: &str,
    what: &str,
    detail: &str,
    file: &Path,
) -> Result<PathBuf> {
    let dir = options.keep_failures.join(format!("{i}-{class}"));
    std::fs::create_dir_all(&dir)?;
    let saved = dir.join("mutant.parquet");
    std::fs::copy(file, &saved)?;
    std::fs::write(
        dir.join("mutation.txt"),
        format!(
            "input {input}\nmutation #{i} (seed {:#x}): {what}\n\n{detail}",
            options.seed
        ),
    )?;
    std::fs::write(
        dir.join("REPLAY"),
        format!("cargo xtask fuzz --child {}\n", saved.display()),
    )?;
    Ok(dir)
}

/// Everything the readers of polars-adaptive give for `file`, each through its public API.
fn our_reads(file: &Path) -> Vec<(&'static str, PolarsResult<DataFrame>)> {
    let first_column = MmapParquetReader::new(file)
        .ok()
        .and_then(|r| r.schema().iter_names().next().cloned());
    let scan = |args: ScanArgsAdaptive| LazyFrame::scan_adaptive(file, args);
    let mut reads = vec![
        ("row groups", read_all(file)),
        (
            "streaming, 64 KiB budget",
            AdaptiveStreamingReader::new(file)
                .and_then(|r| r.with_memory_budget(64 << 10).collect()),
        ),
        (
            "parallel",
            ParallelStreamReader::new(vec![file.to_path_buf()]).collect_concatenated(),
        ),
        (
            "parallel, no mapping",
            ParallelStreamReader::new(vec![file.to_path_buf()])
                .with_mmap_mode(MmapMode::Never)
                .collect_concatenated(),
        ),
        (
            "scan_adaptive collect",
            scan(ScanArgsAdaptive::default()).and_then(|lf| lf.collect()),
        ),
        (
            "scan_adaptive collect_adaptive",
            scan(ScanArgsAdaptive::default()).and_then(|lf| lf.collect_adaptive()),
        ),
    ];
    if let Some(c) = first_column {
        let filtered =
            |args| scan(args).and_then(|lf| lf.filter(col(c.clone()).is_not_null()).collect());
        reads.push((
            "scan_adaptive filter",
            filtered(ScanArgsAdaptive::default()),
        ));
        reads.push((
            "scan_adaptive filter, statistics off",
            filtered(ScanArgsAdaptive::default().with_statistics(false)),
        ));
    }
    reads
}

/// Every row group of `file`, one after the other.
fn read_all(file: &Path) -> PolarsResult<DataFrame> {
    let reader = MmapParquetReader::new(file)?;
    let mut out = DataFrame::empty_with_schema(reader.schema());
    for rg in 0..reader.num_row_groups() {
        out.vstack_mut_owned(reader.read_row_group(rg)?)?;
    }
    Ok(out)
}

/// The child: reads `file` through every reader, then through stock, and prints the class.
/// A panic, abort or signal before "ours done" is ours; the parent classifies it.
pub fn child(file: &Path) -> Result<()> {
    let reads = our_reads(file);
    println!("ours done");
    // Stock's own panics are stock's; quiet them.
    std::panic::set_hook(Box::new(|_| {}));
    let stock_plain = std::panic::catch_unwind(|| {
        LazyFrame::scan_parquet(PlRefPath::try_from_path(file)?, ScanArgsParquet::default())?
            .collect()
    });
    let stock = |filter: Option<&str>| -> Option<DataFrame> {
        match filter {
            None => stock_plain.as_ref().ok()?.as_ref().ok().cloned(),
            Some(c) => std::panic::catch_unwind(|| {
                LazyFrame::scan_parquet(
                    PlRefPath::try_from_path(file)?,
                    ScanArgsParquet::default(),
                )?
                .filter(col(c).is_not_null())
                .collect()
            })
            .ok()?
            .ok(),
        }
    };
    let first_column = reads
        .iter()
        .find_map(|(_, r)| r.as_ref().ok())
        .and_then(|df| df.get_column_names().first().map(|n| n.to_string()));
    let mut class = "equal";
    for (name, read) in &reads {
        let filter = name.starts_with("scan_adaptive filter");
        let want = match filter {
            true => stock(first_column.as_deref()),
            false => stock(None),
        };
        let this = match (read, &want) {
            (Err(e), None) => {
                println!("{name}: error: {e}");
                "error"
            }
            (Err(e), Some(_)) => {
                println!("{name}: error where stock answers: {e}");
                "stricter"
            }
            (Ok(ours), None)
                if filter && refiltered(stock(None), first_column.as_deref(), ours) =>
            {
                println!("{name}: equals stock's data filtered; stock's filtered read fails");
                "stock-inconsistent"
            }
            (Ok(_), None) => {
                println!("{name}: answers, stock fails");
                "ours-only"
            }
            (Ok(ours), Some(want)) => match same_frame(ours, want) {
                Ok(()) => "equal",
                // The file's statistics contradict its (corrupted) data, and pruning trusted
                // them: the same read without statistics must then equal stock.
                Err(d) if *name == "scan_adaptive filter" && unpruned_equal(&reads, want) => {
                    println!("{name}: trusts the file's statistics: {d}");
                    "trusts-statistics"
                }
                // Stock's filtered read disagrees with its own unfiltered read (its decoder
                // evaluates the predicate itself); ours is Polars' filter on stock's data.
                Err(d) if filter && refiltered(stock(None), first_column.as_deref(), ours) => {
                    println!(
                        "{name}: equals stock's data filtered, not stock's filtered read: {d}"
                    );
                    "stock-inconsistent"
                }
                Err(d) => {
                    println!("{name}: differs: {d}");
                    "differs"
                }
            },
        };
        class = worse(class, this);
    }
    println!("class: {class}");
    Ok(())
}

/// Whether `ours` equals stock's unfiltered answer filtered by Polars in memory.
fn refiltered(stock: Option<DataFrame>, column: Option<&str>, ours: &DataFrame) -> bool {
    let (Some(stock), Some(c)) = (stock, column) else {
        return false;
    };
    let filtered = stock.lazy().filter(col(c).is_not_null()).collect();
    filtered.is_ok_and(|f| same_frame(ours, &f).is_ok())
}

/// Whether the filtered read with statistics off equals `want`.
fn unpruned_equal(reads: &[(&str, PolarsResult<DataFrame>)], want: &DataFrame) -> bool {
    reads.iter().any(|(name, read)| {
        *name == "scan_adaptive filter, statistics off"
            && read.as_ref().is_ok_and(|df| same_frame(df, want).is_ok())
    })
}

fn worse<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |c: &str| {
        [
            "equal",
            "error",
            "stricter",
            "stock-inconsistent",
            "trusts-statistics",
            "ours-only",
            "differs",
        ]
        .iter()
        .position(|x| *x == c)
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}
