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

/// The module's own jemalloc (prefixed symbols, so neither the interpreter's malloc nor Python
/// Polars' jemalloc is replaced): glibc's malloc handed the top of each decoding thread's heap
/// back to the kernel after each unit and faulted it in again (docs/decisions.md, "The Python
/// module allocates with its own jemalloc").
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer jemalloc reads at start-up.
#[repr(transparent)]
pub struct MallocConf(*const std::ffi::c_char);
// SAFETY: it points to a constant string, never written.
unsafe impl Sync for MallocConf {}

/// Options of the module's jemalloc (its `malloc_conf`, read once at its first allocation).
/// `oversize_threshold:0`: jemalloc otherwise serves blocks of 8 MiB and more from an arena
/// that returns them to the kernel as soon as they are freed, and a scan's decoded columns are
/// that size: P1 from Python paid 2.19 GB of `MADV_DONTNEED` and 470 k page faults.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: MallocConf =
    MallocConf(c"background_thread:true,oversize_threshold:0".as_ptr());
