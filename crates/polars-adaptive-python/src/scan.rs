//! `ScanSpec`: one `scan_adaptive(...)` call from Python, opened once per query with the
//! projection, predicate, row limit and batch size Python Polars' IO source hands over.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;
use polars_adaptive::exec::Rebatch;
use polars_adaptive::plan::AdaptiveSource;
use polars_adaptive::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrow::ArrowBatch;
use crate::error::{error, guarded, to_py};
use crate::predicate::parse_predicate;
use crate::splits::{from_tuple, SplitTuple};
use crate::stream::BatchStream;

/// A metrics handle the user keeps: every query of the scans it was given to counts into it.
#[pyclass(module = "polars_adaptive._native", frozen, name = "ScanMetrics")]
pub struct PyScanMetrics(pub Arc<ScanMetrics>);

#[pymethods]
impl PyScanMetrics {
    #[new]
    fn new() -> Self {
        Self(Arc::new(ScanMetrics::default()))
    }

    /// The counters now, as a dict.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        snapshot_dict(py, &self.0.snapshot())
    }
}

pub fn snapshot_dict<'py>(
    py: Python<'py>,
    s: &ScanMetricsSnapshot,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [
        ("files_total", s.files_total),
        ("files_pruned", s.files_pruned),
        ("row_groups_total", s.row_groups_total),
        ("row_groups_pruned", s.row_groups_pruned),
        (
            "row_groups_filtered_by_decoder",
            s.row_groups_filtered_by_decoder,
        ),
        (
            "row_groups_skipped_by_bloom_filter",
            s.row_groups_skipped_by_bloom_filter,
        ),
        (
            "row_groups_answered_from_statistics",
            s.row_groups_answered_from_statistics,
        ),
        ("row_groups_skipped_by_top_k", s.row_groups_skipped_by_top_k),
        ("pages_skipped_by_page_index", s.pages_skipped_by_page_index),
        ("rows_decoded", s.rows_decoded),
        ("bytes_decoded", s.bytes_decoded),
        ("rows_output", s.rows_output),
        ("batches", s.batches),
        ("max_batch_bytes", s.max_batch_bytes),
        ("memory_peak_bytes", s.memory_peak_bytes),
        ("predicates_unprunable", s.predicates_unprunable),
    ] {
        d.set_item(k, v)?;
    }
    Ok(d)
}

pub fn mmap_mode(mode: &str) -> PyResult<MmapMode> {
    match mode {
        "auto" => Ok(MmapMode::Auto),
        "always" => Ok(MmapMode::Always),
        "never" => Ok(MmapMode::Never),
        other => Err(error(format!(
            "mmap_mode must be 'auto', 'always' or 'never', not {other:?}"
        ))),
    }
}

/// The scan as `scan_adaptive` was called; see the Python docstring.
#[pyclass(module = "polars_adaptive._native", frozen)]
pub struct ScanSpec {
    /// Shared, not cloned here: Polars 0.55.2 clones a plan under a recursion guard whose
    /// stack probe reads /proc/self/maps on Python's main thread (glibc's
    /// `pthread_getattr_np`: 0.3 ms), and both `ScanSpec::new` and `open` run there. Copies
    /// are made on the threads that use them.
    lf: Arc<LazyFrame>,
    schema: SchemaRef,
    /// A column to read when Python asks for none (a count): the scan's narrowest.
    count_column: PlSmallStr,
}

#[pymethods]
impl ScanSpec {
    #[new]
    #[pyo3(signature = (
        sources, *, memory_budget=None, use_statistics=true, use_bloom_filters=true,
        use_page_index=true, mmap_mode="auto", max_open_files=None, row_index_name=None,
        row_index_offset=0, include_file_paths=None, metrics=None, split=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sources: Vec<PathBuf>,
        memory_budget: Option<usize>,
        use_statistics: bool,
        use_bloom_filters: bool,
        use_page_index: bool,
        mmap_mode: &str,
        max_open_files: Option<usize>,
        row_index_name: Option<String>,
        row_index_offset: IdxSize,
        include_file_paths: Option<String>,
        metrics: Option<PyRef<'_, PyScanMetrics>>,
        split: Option<SplitTuple>,
    ) -> PyResult<Self> {
        let mut args = ScanArgsAdaptive::default()
            .with_statistics(use_statistics)
            .with_bloom_filters(use_bloom_filters)
            .with_page_index(use_page_index)
            .with_mmap_mode(self::mmap_mode(mmap_mode)?);
        if let Some(b) = memory_budget {
            args = args.with_memory_budget(b);
        }
        if let Some(n) = max_open_files {
            args = args.with_max_concurrent_files(n);
        }
        if let Some(name) = row_index_name {
            args = args.with_row_index(name, row_index_offset);
        }
        if let Some(name) = include_file_paths {
            args = args.with_include_file_paths(name);
        }
        if let Some(m) = metrics {
            args = args.with_metrics(m.0.clone());
        }
        py.detach(|| {
            guarded(|| {
                // A split reads its own files' row groups; `sources` are the dataset's.
                let source = match split {
                    Some(split) => AdaptiveSource::from_split(&from_tuple(split), args),
                    None => AdaptiveSource::from_targets(&sources, args),
                }
                .map_err(to_py)?;
                // The source's schema, not `collect_schema`'s: resolving the plan here would
                // start Polars 0.55.2's async runtime on Python's main thread and probe its stack
                // (see `lf`); `warm_up` resolves it on a thread of its own.
                let schema = source.schema().clone();
                let lf = Arc::new(source.into_lazy_frame().map_err(to_py)?);
                warm_up(&lf);
                let count_column = narrowest(&schema)
                    .ok_or_else(|| error("scan_adaptive: the files have no columns".into()))?;
                Ok(Self {
                    lf,
                    schema,
                    count_column,
                })
            })
        })
    }

    /// A frame of no rows with the scan's schema.
    fn empty(&self) -> ArrowBatch {
        ArrowBatch::new(DataFrame::empty_with_schema(&self.schema))
    }

    /// Starts a read. When the predicate is not understood whole, `n_rows` is not applied
    /// here: the caller filters each batch with the predicate, then limits. `batch_size` cuts
    /// the output into frames of exactly that many rows; `min_rows` instead stacks units
    /// smaller than it and lets larger ones through whole.
    #[pyo3(signature = (
        columns=None, predicate=None, n_rows=None, batch_size=None, min_rows=None, read_ahead=2,
    ))]
    fn open(
        &self,
        columns: Option<Vec<String>>,
        predicate: Option<&str>,
        n_rows: Option<usize>,
        batch_size: Option<usize>,
        min_rows: Option<usize>,
        read_ahead: usize,
    ) -> PyResult<BatchStream> {
        guarded(|| {
            // Parsed here, built into the plan on the producer's thread (see `lf`).
            let (pushed, complete) = match predicate {
                Some(json) => {
                    let parsed = parse_predicate(json);
                    (parsed.pushed, parsed.complete)
                }
                None => (None, true),
            };
            // Arrow cannot carry a frame of no columns; a count reads one and drops it.
            let count_only = columns.as_ref().is_some_and(|c| c.is_empty());
            let projection = columns.map(|columns| {
                let mut exprs: Vec<Expr> = columns.iter().map(|c| col(c.as_str())).collect();
                if count_only {
                    exprs.push(col(self.count_column.clone()));
                }
                exprs
            });
            let limit = n_rows.filter(|_| complete);
            let chunk = batch_size.and_then(NonZeroUsize::new);
            let min_rows = min_rows.unwrap_or(0);
            let plan = self.lf.clone();
            let producer: crate::stream::Producer = Box::new(move |emit| {
                let mut lf = (*plan).clone();
                if let Some(expr) = pushed {
                    lf = lf.filter(expr);
                }
                if let Some(exprs) = projection {
                    lf = lf.select(exprs);
                }
                if let Some(n) = limit {
                    lf = lf.limit(n as IdxSize);
                }
                let mut emit = |df: DataFrame| {
                    let df = if count_only {
                        DataFrame::empty_with_height(df.height())
                    } else {
                        df
                    };
                    emit(df)
                };
                let mut stack = Rebatch::at_least(min_rows);
                let mut stopped = false;
                lf.sink_batches_adaptive(
                    |df| {
                        stopped = stack.push(df, &mut |df| Ok(!emit(df)))?;
                        Ok(stopped)
                    },
                    chunk,
                    true,
                )?;
                if let Some(rest) = stack.rest().filter(|_| !stopped) {
                    emit(rest);
                }
                Ok(())
            });
            BatchStream::spawn(producer, read_ahead)
        })
    }
}

/// The first scan of a process resolves a copy of its plan off Python's main thread, once:
/// that starts Polars 0.55.2's async runtime and faults in the planner's code while Python
/// builds the query, rather than after Python Polars calls the scan. The copy is dropped. It
/// runs on the runtime's blocking pool beside a second, empty task, so that the pool keeps two
/// idle threads for 10 s: a read's two producers (`BatchStream`'s and the reader's) then start
/// without creating a thread.
fn warm_up(lf: &Arc<LazyFrame>) {
    static WARMED: std::sync::Once = std::sync::Once::new();
    WARMED.call_once(|| {
        let lf = lf.clone();
        // Failing to start it only costs the latency it would have hidden.
        let _ = std::thread::Builder::new()
            .name("polars-adaptive-warm-up".into())
            .spawn(move || {
                let pool = &polars_async::ASYNC;
                // The second task finds the first one's thread busy.
                let plan = pool.spawn_blocking(move || drop((*lf).clone().collect_schema()));
                drop(pool.spawn_blocking(|| ()));
                drop(plan);
            });
    });
}

/// A column cheap to decode, for counts: the first fixed-width one, if any.
fn narrowest(schema: &Schema) -> Option<PlSmallStr> {
    schema
        .iter()
        .find(|(_, d)| d.is_primitive_numeric() || d.is_bool() || d.is_temporal())
        .or_else(|| schema.iter().next())
        .map(|(n, _)| n.clone())
}
