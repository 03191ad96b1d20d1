//! The design document's readers for Python: `AdaptiveStreamingReader` (one file) and
//! `ParallelStreamReader` (many), and `MemoryManager`'s figures. The Python classes hold the
//! builder settings; each `batches()` opens a `NativeReader` here.

use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;
use polars_adaptive::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{error, guarded, take_once, to_py};
use crate::predicate::parse_predicate;
use crate::scan::snapshot_dict;
use crate::stream::BatchStream;

/// One read of a reader: its batches, metrics and memory manager.
#[pyclass(module = "polars_adaptive._native", frozen)]
pub struct NativeReader {
    metrics: Arc<ScanMetrics>,
    memory: MemoryManager,
    stream: std::sync::Mutex<Option<crate::stream::Producer>>,
}

#[pymethods]
impl NativeReader {
    #[new]
    #[pyo3(signature = (
        paths, *, parallel, projection=None, predicate=None, memory_budget=None,
        chunk_rows=None, max_open_files=None, mmap_mode="auto",
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        parallel: bool,
        projection: Option<Vec<String>>,
        predicate: Option<&str>,
        memory_budget: Option<usize>,
        chunk_rows: Option<usize>,
        max_open_files: Option<usize>,
        mmap_mode: &str,
    ) -> PyResult<Self> {
        let mode = crate::scan::mmap_mode(mmap_mode)?;
        // What the parser did not understand, the caller filters in Python.
        let pushed = predicate.and_then(|p| parse_predicate(p).pushed);
        let mut memory = MemoryManager::new();
        if let Some(b) = memory_budget {
            memory = memory.with_budget(b);
        }
        let policy = chunk_rows.map_or(ChunkPolicy::Auto, ChunkPolicy::Rows);
        let metrics = Arc::new(ScanMetrics::default());
        let producer: crate::stream::Producer = if parallel {
            let mut files = Vec::new();
            for target in &paths {
                files.extend(
                    polars_adaptive::io::expand_paths(target).map_err(|e| to_py(e.into()))?,
                );
            }
            let mut reader = ParallelStreamReader::new(files)
                .with_chunk_policy(policy)
                .with_mmap_mode(mode)
                .with_memory_manager(memory.clone())
                .with_metrics(metrics.clone());
            if let Some(p) = projection {
                reader = reader.with_projection(p);
            }
            if let Some(n) = max_open_files {
                reader = reader.with_max_concurrent(n);
            }
            if let Some(e) = pushed {
                reader = reader.with_predicate(ExprPredicate::new(e));
            }
            Box::new(move |emit| drain(reader.batches(), emit))
        } else {
            let [path] = paths.as_slice() else {
                return Err(error(
                    "AdaptiveStreamingReader reads one file; use ParallelStreamReader".into(),
                ));
            };
            let file =
                py.detach(|| guarded(|| MmapParquetReader::with_mode(path, mode).map_err(to_py)))?;
            let mut reader = AdaptiveStreamingReader::from_reader(file)
                .with_chunk_policy(policy)
                .with_memory_manager(memory.clone())
                .with_metrics(metrics.clone());
            if let Some(p) = projection {
                reader = reader.with_projection(p);
            }
            if let Some(e) = pushed {
                reader.with_predicate(ExprPredicate::new(e));
            }
            Box::new(move |emit| drain(reader.batches(), emit))
        };
        Ok(Self {
            metrics,
            memory,
            stream: std::sync::Mutex::new(Some(producer)),
        })
    }

    /// Starts reading; a reader reads once.
    #[pyo3(signature = (read_ahead=2))]
    fn batches(&self, read_ahead: usize) -> PyResult<BatchStream> {
        let producer = take_once(&self.stream, "reader")?;
        BatchStream::spawn(producer, read_ahead)
    }

    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        snapshot_dict(py, &self.metrics.snapshot())
    }

    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        memory_dict(py, &self.memory)
    }
}

/// Hands every batch to `emit` until it wants no more.
fn drain(
    batches: impl Iterator<Item = PolarsResult<DataFrame>>,
    emit: &mut (dyn FnMut(DataFrame) -> bool + Send),
) -> PolarsResult<()> {
    for batch in batches {
        if !emit(batch?) {
            break;
        }
    }
    Ok(())
}

/// `MemoryManager`'s figures for a budget (`None`: the container's or machine's limit).
#[pyfunction]
#[pyo3(signature = (budget=None))]
pub fn memory_figures(py: Python<'_>, budget: Option<usize>) -> PyResult<Bound<'_, PyDict>> {
    let mut memory = MemoryManager::new();
    if let Some(b) = budget {
        memory = memory.with_budget(b);
    }
    memory_dict(py, &memory)
}

fn memory_dict<'py>(py: Python<'py>, m: &MemoryManager) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("budget", m.budget())?;
    d.set_item("limit_bytes", m.limit_bytes())?;
    d.set_item("available_bytes", m.available_bytes())?;
    d.set_item("current_usage_bytes", m.current_usage_bytes())?;
    d.set_item("peak_usage_bytes", m.peak_usage_bytes())?;
    Ok(d)
}

/// The PyArrow post's task: the first `n` distinct ids of every group, written to Parquet in
/// one streaming pass (`first_n_per_group` and the Parquet sink), row groups of
/// `row_group_rows`.
#[pyfunction]
#[pyo3(signature = (sources, output, *, group_by, id, n, row_group_rows, memory_budget=None))]
#[allow(clippy::too_many_arguments)]
pub fn first_n_per_group(
    py: Python<'_>,
    sources: Vec<PathBuf>,
    output: PathBuf,
    group_by: Vec<String>,
    id: String,
    n: usize,
    row_group_rows: usize,
    memory_budget: Option<usize>,
) -> PyResult<()> {
    let mut args = ScanArgsAdaptive::default();
    if let Some(b) = memory_budget {
        args = args.with_memory_budget(b);
    }
    py.detach(|| {
        guarded(|| {
            LazyFrame::scan_adaptive_sources(&sources, args)
                .and_then(|lf| {
                    lf.adaptive()
                        .with_operator(polars_adaptive::prelude::first_n_per_group(group_by, id, n))
                        .sink_parquet_adaptive(
                            output,
                            SinkParquetAdaptiveOptions::default()
                                .with_row_group_rows(row_group_rows),
                        )
                })
                .map_err(to_py)
        })
    })
}
