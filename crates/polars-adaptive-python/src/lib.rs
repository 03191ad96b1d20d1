//! `polars_adaptive._native`: the Rust half of the Python package (`python/polars_adaptive`).
//!
//! Frames cross to Python through the Arrow C stream interface ([`arrow`]); predicates cross
//! as Python Polars' JSON, read by our own parser ([`predicate`]); no Python Polars object is
//! decoded here, since Python Polars is built from other Rust revisions than ours.

// Python shows these classes through their own `__repr__`; Rust never formats them.
#![allow(missing_debug_implementations)]

mod arrow;
mod error;
mod predicate;
mod readers;
mod scan;
mod splits;
mod sql;
mod stream;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(error::set_error_class, m)?)?;
    m.add_function(wrap_pyfunction!(readers::memory_figures, m)?)?;
    m.add_function(wrap_pyfunction!(readers::first_n_per_group, m)?)?;
    m.add_function(wrap_pyfunction!(pushed_predicate, m)?)?;
    m.add_function(wrap_pyfunction!(sql::sql, m)?)?;
    m.add_function(wrap_pyfunction!(splits::plan_splits, m)?)?;
    m.add_function(wrap_pyfunction!(splits::sql_plan_splits, m)?)?;
    m.add_function(wrap_pyfunction!(splits::sql_partial, m)?)?;
    m.add_function(wrap_pyfunction!(splits::sql_merge, m)?)?;
    m.add_class::<scan::ScanSpec>()?;
    m.add_class::<scan::PyScanMetrics>()?;
    m.add_class::<readers::NativeReader>()?;
    m.add_class::<stream::BatchStream>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add("POLARS_VERSION", "0.55.2")?;
    Ok(())
}

/// What the parser made of a predicate: the pushed expression as Polars 0.55.2 prints it (or
/// `None`) and whether it is the whole predicate. For tests and `explain`.
#[pyfunction]
fn pushed_predicate(json: &str) -> (Option<String>, bool) {
    let parsed = predicate::parse_predicate(json);
    (parsed.pushed.map(|e| format!("{e:?}")), parsed.complete)
}
