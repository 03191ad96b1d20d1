//! Rust errors and panics as Python exceptions.
//!
//! Every error is raised as `polars_adaptive.AdaptiveError`, a subclass of Polars'
//! `ComputeError` that the Python package hands over at import ([`set_error_class`]); the
//! message is the Rust error's, which names the file, row group and column where they apply.
//! A panic is caught at the boundary and raised the same way, never as pyo3's
//! `PanicException`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use polars::prelude::PolarsError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static ERROR_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Registers the exception class every error is raised as.
#[pyfunction]
pub fn set_error_class(py: Python<'_>, class: Bound<'_, PyType>) -> PyResult<()> {
    let _ = ERROR_CLASS.set(py, class.unbind());
    Ok(())
}

/// `message` as the package's exception.
pub fn error(message: String) -> PyErr {
    Python::attach(|py| match ERROR_CLASS.get(py) {
        Some(class) => PyErr::from_type(class.bind(py).clone(), message),
        None => PyRuntimeError::new_err(message),
    })
}

pub fn to_py(e: PolarsError) -> PyErr {
    error(e.to_string())
}

/// Takes the value out of `slot`, which Python may use once (a batch, a reader).
pub fn take_once<T>(slot: &std::sync::Mutex<Option<T>>, what: &str) -> PyResult<T> {
    slot.lock()
        .map_err(|_| error(format!("{what} lock poisoned")))?
        .take()
        .ok_or_else(|| error(format!("this {what} was already read")))
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = polars_adaptive::io::panic_message(payload);
    format!("polars-adaptive panicked (a bug, please report it): {text}")
}

/// Runs `f`, turning a panic into the package's exception.
pub fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(error(panic_message(&*payload))))
}
