//! Splits for engines that run one task per piece of a dataset (`polars_adaptive.ray`):
//! planning them, and SQL run split by split, its partial answers merged.
//!
//! A split crosses to Python as a plain tuple (`SplitTuple`), which the Python `Split` class
//! holds: it pickles as the tuple does, so Ray ships it to workers as it is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive_sql::{QueryOptions, SqlEngine};
use pyo3::prelude::*;

use crate::arrow::{import, ArrowBatch};
use crate::error::{error, guarded, to_py};
use crate::predicate::parse_predicate;
use crate::scan::mmap_mode;

/// One file's part of a split: path, first and end row group, length and modification time
/// (ns) when planned.
pub type PartTuple = (PathBuf, usize, usize, u64, Option<u64>);
/// A split: sequence number, parts, first row, rows, compressed and decoded bytes.
pub type SplitTuple = (usize, Vec<PartTuple>, u64, u64, u64, u64);

pub fn to_tuple(s: Split) -> SplitTuple {
    let parts = s
        .parts
        .into_iter()
        .map(|p| {
            (
                p.path,
                p.row_groups.start,
                p.row_groups.end,
                p.file_len,
                p.modified_ns,
            )
        })
        .collect();
    (
        s.seq,
        parts,
        s.first_row,
        s.rows,
        s.compressed_bytes,
        s.decoded_bytes,
    )
}

pub fn from_tuple(t: SplitTuple) -> Split {
    let (seq, parts, first_row, rows, compressed_bytes, decoded_bytes) = t;
    Split {
        seq,
        parts: parts
            .into_iter()
            .map(|(path, start, end, file_len, modified_ns)| SplitPart {
                path,
                row_groups: start..end,
                file_len,
                modified_ns,
            })
            .collect(),
        first_row,
        rows,
        compressed_bytes,
        decoded_bytes,
    }
}

/// Plans the splits of `sources`; `predicate` is Python Polars' JSON of a predicate, whose
/// understood conjuncts prune row groups by statistics.
#[pyfunction]
#[pyo3(signature = (
    sources, *, predicate=None, columns=None, target_split_bytes=128 << 20,
    use_statistics=true, mmap_mode="auto",
))]
pub fn plan_splits(
    py: Python<'_>,
    sources: Vec<PathBuf>,
    predicate: Option<&str>,
    columns: Option<Vec<String>>,
    target_split_bytes: u64,
    use_statistics: bool,
    mmap_mode: &str,
) -> PyResult<Vec<SplitTuple>> {
    let mut options = SplitOptions::default()
        .with_target_bytes(target_split_bytes)
        .with_statistics(use_statistics)
        .with_mmap_mode(self::mmap_mode(mmap_mode)?);
    if let Some(pushed) = predicate.and_then(|json| parse_predicate(json).pushed) {
        options = options.with_predicate(pushed);
    }
    if let Some(columns) = columns {
        options = options.with_columns(columns);
    }
    py.detach(|| {
        guarded(|| {
            let splits = polars_adaptive::plan::plan_splits(&sources, &options).map_err(to_py)?;
            Ok(splits.into_iter().map(to_tuple).collect())
        })
    })
}

fn engine(tables: &BTreeMap<String, Vec<PathBuf>>) -> PyResult<SqlEngine> {
    let mut engine = SqlEngine::new();
    for (name, paths) in tables {
        engine = engine
            .with_table_sources(name, paths, ScanArgsAdaptive::default())
            .map_err(|e| error(e.to_string()))?;
    }
    Ok(engine)
}

fn plan(
    query: &str,
    tables: &BTreeMap<String, Vec<PathBuf>>,
    options: &QueryOptions,
) -> PyResult<polars_adaptive_sql::Query> {
    engine(tables)?
        .plan(query, options)
        .map_err(|e| error(e.to_string()))
}

/// Plans `query` to run split by split: the table it reads, the key columns its partial answers
/// may be merged by (see `PartsPlan::group_keys`), and the splits of that table, pruned with
/// the predicate the optimizer pushed into its scan.
#[pyfunction]
#[pyo3(signature = (query, tables, *, target_split_bytes=128 << 20))]
pub fn sql_plan_splits(
    py: Python<'_>,
    query: String,
    tables: BTreeMap<String, Vec<PathBuf>>,
    target_split_bytes: u64,
) -> PyResult<(String, Option<Vec<String>>, Vec<SplitTuple>)> {
    py.detach(|| {
        guarded(|| {
            let planned = plan(&query, &tables, &QueryOptions::default())?;
            let [table] = planned.tables() else {
                return Err(error(format!(
                    "ray.sql runs statements over exactly one table; this one reads {}",
                    planned.tables().len()
                )));
            };
            let parts = planned.lazy().parts_plan().map_err(to_py)?;
            let mut options = SplitOptions::default()
                .with_target_bytes(target_split_bytes)
                .with_columns(parts.scan_columns);
            if let Some(p) = parts.scan_predicate {
                options = options.with_predicate(p);
            }
            if let Some(needed) = parts.row_groups {
                options = options.with_row_groups(needed);
            }
            let splits =
                polars_adaptive::plan::plan_splits(&tables[table], &options).map_err(to_py)?;
            let keys = parts
                .group_keys
                .map(|k| k.into_iter().map(|n| n.to_string()).collect());
            Ok((
                table.clone(),
                keys,
                splits.into_iter().map(to_tuple).collect(),
            ))
        })
    })
}

/// `query`'s partial answer over one split of its table `table` (`collect_partial_adaptive`).
/// The table is registered as the split's files alone: a task's work does not grow with the
/// dataset's file count (no glob of the whole dataset, no other table opened).
#[pyfunction]
#[pyo3(signature = (query, table, split, *, memory_budget=None))]
pub fn sql_partial(
    py: Python<'_>,
    query: String,
    table: String,
    split: SplitTuple,
    memory_budget: Option<usize>,
) -> PyResult<ArrowBatch> {
    py.detach(|| {
        guarded(|| {
            let split = from_tuple(split);
            let tables = BTreeMap::from([(table, split.paths())]);
            let mut options = QueryOptions::default().with_split(split);
            if let Some(b) = memory_budget {
                options = options.with_memory_budget(b);
            }
            let planned = plan(&query, &tables, &options)?;
            let df = planned.lazy().collect_partial_adaptive().map_err(to_py)?;
            Ok(ArrowBatch::plain(df))
        })
    })
}

/// `query`'s answer from its splits' partial answers, in split order
/// (`merge_partials_adaptive`); with `compact_only`, the merged partial answer
/// (`compact_partials_adaptive`).
#[pyfunction]
#[pyo3(signature = (query, tables, partials, *, compact_only=false))]
pub fn sql_merge(
    py: Python<'_>,
    query: String,
    tables: BTreeMap<String, Vec<PathBuf>>,
    partials: Vec<Bound<'_, PyAny>>,
    compact_only: bool,
) -> PyResult<ArrowBatch> {
    let frames = partials
        .iter()
        .map(import)
        .collect::<PyResult<Vec<DataFrame>>>()?;
    py.detach(|| {
        guarded(|| {
            let lf = plan(&query, &tables, &QueryOptions::default())?.lazy();
            let df = match compact_only {
                true => lf.compact_partials_adaptive(frames),
                false => lf.merge_partials_adaptive(frames),
            }
            .map_err(to_py)?;
            Ok(ArrowBatch::plain(df))
        })
    })
}
