//! `sql`: one statement over named tables through the SQL front end (polars-adaptive-sql), its
//! result streamed back as frames.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polars_adaptive::prelude::ScanArgsAdaptive;
use polars_adaptive_sql::{QueryOptions, SqlEngine};
use pyo3::prelude::*;

use crate::error::{error, guarded};
use crate::scan::PyScanMetrics;
use crate::stream::BatchStream;

/// Plans `query` over `tables` (name → files, directories or globs) and streams its result;
/// `metrics` counts what every table's scan did. Planning (footers, the statement's checks)
/// happens here, so a bad statement raises now.
#[pyfunction]
#[pyo3(signature = (query, tables, *, memory_budget=None, read_ahead=2, metrics=None))]
pub fn sql(
    py: Python<'_>,
    query: String,
    tables: BTreeMap<String, Vec<PathBuf>>,
    memory_budget: Option<usize>,
    read_ahead: usize,
    metrics: Option<PyRef<'_, PyScanMetrics>>,
) -> PyResult<BatchStream> {
    let args = match metrics {
        Some(m) => ScanArgsAdaptive::default().with_metrics(m.0.clone()),
        None => ScanArgsAdaptive::default(),
    };
    let planned = py.detach(|| {
        guarded(|| {
            let mut engine = SqlEngine::new();
            for (name, paths) in &tables {
                engine = engine
                    .with_table_sources(name, paths, args.clone())
                    .map_err(|e| error(e.to_string()))?;
            }
            let options = match memory_budget {
                Some(b) => QueryOptions::default().with_memory_budget(b),
                None => QueryOptions::default(),
            };
            engine
                .plan(&query, &options)
                .map_err(|e| error(e.to_string()))
        })
    })?;
    BatchStream::spawn(
        Box::new(move |emit| {
            planned
                .for_each_batch(|df| Ok(!emit(df)), None)
                .map_err(Into::into)
        }),
        read_ahead,
    )
}
