//! `cargo xtask difftest`: random (dataset, query) cases, every execution path of
//! polars-adaptive against stock Polars on the same files. A failure is shrunk by proptest and
//! saved as a reproducer (the data files, the case as JSON and as text, the replay command).

pub mod build;
pub mod check;
pub mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use check::ANSWERED_FROM_STATISTICS;
use spec::Case;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub cases: u32,
    pub seed: u64,
    /// Where a shrunk failure is saved.
    pub keep_failures: Option<PathBuf>,
}

/// Counts of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    /// (path, verdict) -> count
    pub paths: BTreeMap<(String, String), u64>,
    pub forms: BTreeMap<String, u64>,
    /// Pruning mechanism -> cases in which it skipped something in `collect_adaptive`.
    pub mechanisms: BTreeMap<String, u64>,
    /// Writer (planted lies apart) -> (cases, cases with a row group answered from statistics).
    pub answered_by_writer: BTreeMap<&'static str, (u64, u64)>,
}

/// The writer of a dataset's files as the report counts them.
fn writer_label(data: &spec::DatasetSpec) -> &'static str {
    match (data.writer, data.planted_lies) {
        (spec::Writer::Polars, false) => "Polars",
        (spec::Writer::Polars, true) => "Polars, planted lies",
        (spec::Writer::ArrowRs, _) => "arrow-rs",
    }
}

/// A shrunk failure.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub case: Case,
    pub saved: Option<PathBuf>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} cases", self.cases)?;
        writeln!(f, "per path:")?;
        for ((path, verdict), n) in &self.paths {
            writeln!(f, "  {path:<55} {verdict:<11} {n}")?;
        }
        writeln!(f, "per predicate form (leaves in the generated filters):")?;
        for (form, n) in &self.forms {
            writeln!(f, "  {form:<12} {n}")?;
        }
        writeln!(
            f,
            "cases where a pruning mechanism skipped work (collect_adaptive):"
        )?;
        for (mechanism, n) in &self.mechanisms {
            writeln!(f, "  {mechanism:<28} {n}")?;
        }
        writeln!(f, "cases answered from statistics, per writer:")?;
        for (writer, (cases, answered)) in &self.answered_by_writer {
            writeln!(f, "  {writer:<28} {answered} of {cases}")?;
        }
        Ok(())
    }
}

/// Runs the cases and prints the report, then runs the shared corpus (when it is there).
/// A failure prints its shrunk case and where it was saved, with `replay` followed by that
/// directory when the caller can replay it.
pub fn run_reported(options: &Options, scratch: &Path, replay: Option<&str>) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let report = match run(options, scratch) {
        Ok(report) => report,
        Err(failure) => {
            eprintln!("difference found (shrunk): {}", failure.message);
            eprintln!("case: {:#?}", failure.case.query);
            if let Some(dir) = &failure.saved {
                eprintln!("reproducer: {}", dir.display());
                if let Some(replay) = replay {
                    eprintln!("replay: {replay} {}", dir.display());
                }
            }
            anyhow::bail!("difftest failed");
        }
    };
    println!(
        "difftest, seed {:#x}, {:.1?}\n{report}",
        options.seed,
        t.elapsed()
    );
    let corpus = crate::project_root().join("../shared/parquet-testing");
    if corpus.is_dir() {
        let (files, equal, both, diffs) = self::corpus(&corpus);
        println!("corpus {}: {files} files, {equal} equal to stock, {both} errors where stock errors, {} differences", corpus.display(), diffs.len());
        anyhow::ensure!(
            diffs.is_empty(),
            "corpus differences:\n{}",
            diffs.join("\n")
        );
    } else {
        println!("corpus: ../shared/parquet-testing is absent, skipped");
    }
    Ok(())
}

/// Runs `f` with panic messages silenced: stock Polars panics on some invalid queries and
/// corrupt files, which the checks catch and count; hundreds of backtraces would bury the
/// report. A panic of ours is still reported, as a failure.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

/// Runs `options.cases` generated cases. `Err` carries the shrunk failure.
pub fn run(options: &Options, scratch: &Path) -> Result<Report, Box<Failure>> {
    quietly(|| run_cases(options, scratch))
}

fn run_cases(options: &Options, scratch: &Path) -> Result<Report, Box<Failure>> {
    let mut runner = TestRunner::new(Config {
        cases: options.cases,
        rng_seed: RngSeed::Fixed(options.seed),
        failure_persistence: None,
        max_shrink_iters: 16_384,
        max_shrink_time: 180_000,
        ..Config::default()
    });
    let report = std::cell::RefCell::new(Report::default());
    let counter = std::cell::Cell::new(0u64);
    let result = runner.run(&spec::case(), |case| {
        let n = counter.get();
        counter.set(n + 1);
        let dir = scratch.join(format!("case-{n}"));
        let target = build::write_dataset(&case.data, &dir)
            .map_err(|e| TestCaseError::fail(format!("writing the dataset: {e:#}")))?;
        let outcome = check::check(&case, &target);
        let _ = std::fs::remove_dir_all(&dir);
        let case_report = outcome.map_err(TestCaseError::fail)?;
        let mut r = report.borrow_mut();
        r.cases += 1;
        for (path, verdict) in case_report.paths {
            *r.paths.entry((path.into(), verdict.into())).or_default() += 1;
        }
        for form in case_report.forms {
            *r.forms.entry(form.into()).or_default() += 1;
        }
        let answered = case_report.mechanisms.contains(&ANSWERED_FROM_STATISTICS);
        let by_writer = r
            .answered_by_writer
            .entry(writer_label(&case.data))
            .or_default();
        by_writer.0 += 1;
        by_writer.1 += answered as u64;
        for mechanism in case_report.mechanisms {
            *r.mechanisms.entry(mechanism.into()).or_default() += 1;
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(report.into_inner()),
        Err(TestError::Fail(reason, case)) => {
            let saved = options
                .keep_failures
                .as_ref()
                .map(|dir| save(&case, &reason.to_string(), dir));
            let saved = match saved.transpose() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("could not save the reproducer: {e:#}");
                    None
                }
            };
            Err(Box::new(Failure {
                message: reason.to_string(),
                case,
                saved,
            }))
        }
        Err(TestError::Abort(reason)) => Err(Box::new(Failure {
            message: format!("aborted: {reason}"),
            case: spec_placeholder(),
            saved: None,
        })),
    }
}

fn spec_placeholder() -> Case {
    Case {
        data: spec::DatasetSpec {
            columns: vec![],
            row_group_size: 1,
            statistics: false,
            codec: spec::Codec::Uncompressed,
            dictionary: false,
            small_pages: false,
            files: 1,
            writer: spec::Writer::Polars,
            truncated_statistics: false,
            planted_lies: false,
        },
        query: spec::QuerySpec {
            filters: vec![],
            derive: None,
            project: None,
            tail: spec::Tail::None,
        },
    }
}

/// Saves a reproducer under `dir/<n>`: `case.json`, `case.txt`, the data files, `REPLAY`.
fn save(case: &Case, reason: &str, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let n = std::fs::read_dir(dir)?.count();
    let out = dir.join(format!("failure-{n}"));
    let target = build::write_dataset(&case.data, &out.join("data"))?;
    std::fs::write(out.join("case.json"), serde_json::to_string_pretty(case)?)?;
    let names = build::column_names(&case.data);
    let plan = polars::prelude::LazyFrame::scan_parquet(
        polars::prelude::PlRefPath::try_from_path(&target)?,
        Default::default(),
    )
    .map(|lf| build::build_query(&case.query, &case.data, lf))
    .and_then(|lf| lf.describe_plan())
    .unwrap_or_else(|e| format!("(plan unavailable: {e})"));
    let command = format!("cargo xtask difftest --replay {}", out.display());
    std::fs::write(
        out.join("case.txt"),
        format!(
            "failure: {reason}\n\ncolumns: {names:?}\nrows: {}\ndataset: {:?}\n\nquery plan over {}:\n{plan}\n\nreplay: {command}\n",
            case.data.rows(),
            DatasetSummary(&case.data),
            target.display()
        ),
    )?;
    std::fs::write(out.join("REPLAY"), format!("{command}\n"))?;
    Ok(out)
}

struct DatasetSummary<'a>(&'a spec::DatasetSpec);

impl std::fmt::Debug for DatasetSummary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        write!(
            f,
            "{} files by {:?}, row groups of {}, statistics {}, {:?}, dictionary {}, small pages {}",
            d.files, d.writer, d.row_group_size, d.statistics, d.codec, d.dictionary, d.small_pages
        )
    }
}

/// Replays a saved reproducer: rewrites its data from `case.json` and checks it again.
pub fn replay(dir: &Path) -> Result<()> {
    let case: Case = serde_json::from_str(
        &std::fs::read_to_string(dir.join("case.json")).context("reading case.json")?,
    )?;
    let target = build::write_dataset(&case.data, &dir.join("data"))?;
    match check::check(&case, &target) {
        Ok(report) => {
            println!("passes now: {:?}", report.paths);
            Ok(())
        }
        Err(e) => bail!("still fails: {e}"),
    }
}

/// Every `.parquet` file under `dir`: `scan_adaptive(file)` with `collect()` and with
/// `collect_adaptive()` equal to stock, or erroring where stock errors; never panicking.
/// Returns (files, equal, both error, differences).
pub fn corpus(dir: &Path) -> (usize, usize, usize, Vec<String>) {
    quietly(|| corpus_files(dir))
}

fn corpus_files(dir: &Path) -> (usize, usize, usize, Vec<String>) {
    use polars::prelude::*;
    use polars_adaptive::prelude::*;
    let files = polars_adaptive::testing::parquet_files(dir);
    let (mut equal, mut both, mut diffs) = (0, 0, Vec::new());
    for path in &files {
        let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
        let stock = std::panic::catch_unwind(|| {
            LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, ScanArgsParquet::default())?
                .collect()
        });
        type Run = fn(LazyFrame) -> PolarsResult<DataFrame>;
        let ours: [(&str, Run); 2] = [
            ("collect", |lf| lf.collect()),
            ("collect_adaptive", |lf| lf.collect_adaptive()),
        ];
        #[cfg(feature = "rfc")]
        let engine: [(&str, Run); 1] = [("Engine::Streaming", |lf| {
            lf.collect_with_engine(Engine::Streaming)
                .map(|r| r.unwrap_single())
        })];
        #[cfg(not(feature = "rfc"))]
        let engine: [(&str, Run); 0] = [];
        let mut all_equal = true;
        for (label, run) in ours.into_iter().chain(engine) {
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                LazyFrame::scan_adaptive(path, ScanArgsAdaptive::default()).and_then(run)
            }));
            let verdict = match (&got, &stock) {
                (Err(_), _) => Err("panicked".to_string()),
                (Ok(Ok(a)), Ok(Ok(b))) => polars_adaptive::testing::same_frame(a, b),
                (Ok(Err(_)), Ok(Err(_)) | Err(_)) => {
                    all_equal = false;
                    Ok(())
                }
                (Ok(Err(e)), Ok(Ok(_))) => Err(format!("fails where stock reads: {e}")),
                (Ok(Ok(_)), _) => Err("reads where stock fails".to_string()),
            };
            if let Err(d) = verdict {
                diffs.push(format!("{name} ({label}): {d}"));
                all_equal = false;
            }
        }
        if all_equal {
            equal += 1;
        } else if stock.as_ref().map_or(true, |s| s.is_err()) {
            both += 1;
        }
    }
    (files.len(), equal, both, diffs)
}
