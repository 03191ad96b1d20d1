//! `BatchStream`: frames produced by a Rust thread, read ahead into a bounded queue, and
//! handed to Python one `ArrowBatch` at a time.
//!
//! The producer runs on its own thread, not on Polars' pool, with the GIL released: decoding
//! never waits for Python. The queue's capacity is the read-ahead. Dropping the stream (a
//! Python iterator abandoned or garbage-collected) closes the queue, and the producer stops at
//! its next batch. A wait for the next batch wakes up every 50 ms to let Python handle signals,
//! so Ctrl-C stops a long scan with `KeyboardInterrupt`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use polars::prelude::*;
use polars_adaptive::io::spawn_producer;
use polars_core::frame::column::ScalarColumn;
use pyo3::prelude::*;

use crate::arrow::ArrowBatch;
use crate::error::{panic_message, to_py};

/// Produces frames, handing each to `emit`, which answers `false` once nobody wants more.
pub type Producer =
    Box<dyn FnOnce(&mut (dyn FnMut(DataFrame) -> bool + Send)) -> PolarsResult<()> + Send>;

/// See the module documentation.
#[pyclass(module = "polars_adaptive._native", frozen)]
pub struct BatchStream {
    queue: std::sync::Mutex<Option<Receiver<PolarsResult<DataFrame>>>>,
}

impl BatchStream {
    /// Starts `producer` on a thread of its own with `read_ahead` frames of queue: one of
    /// Polars' blocking pool while it has room (`spawn_producer`), so that a read seldom
    /// waits for a thread to be created (see `warm_up`).
    pub fn spawn(producer: Producer, read_ahead: usize) -> PyResult<Self> {
        let (tx, rx) = bounded(read_ahead.max(1));
        spawn_producer("polars-adaptive-scan", move || {
            let mut constants = SharedConstants::default();
            let run = catch_unwind(AssertUnwindSafe(|| {
                producer(&mut |df| tx.send(Ok(constants.share(df))).is_ok())
            }));
            let failure = match run {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(payload) => Some(PolarsError::ComputeError(panic_message(&*payload).into())),
            };
            if let Some(e) = failure {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| crate::error::error(format!("cannot start a scan thread: {e}")))?;
        Ok(Self {
            queue: std::sync::Mutex::new(Some(rx)),
        })
    }
}

#[pymethods]
impl BatchStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        let Some(rx) = self.receiver() else {
            return Ok(None);
        };
        loop {
            match py.detach(|| rx.recv_timeout(Duration::from_millis(50))) {
                Ok(Ok(df)) => return Ok(Some(ArrowBatch::new(df))),
                Ok(Err(e)) => {
                    self.close();
                    return Err(to_py(e));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.close();
                    return Ok(None);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.close();
                        return Err(interrupt);
                    }
                }
            }
        }
    }

    /// Stops the producer at its next batch and drops what it read ahead.
    fn close(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
    }
}

impl BatchStream {
    fn receiver(&self) -> Option<Receiver<PolarsResult<DataFrame>>> {
        self.queue.lock().ok()?.clone()
    }
}

/// Constant columns (an equality pushed into the scan keeps one value, and the scan repeats the
/// literal as `Column::Scalar`) materialized once per stream and handed out as slices of that
/// one buffer. Arrow has no constant array that Python Polars imports, so every batch's
/// constant was written out whole when it crossed: for P1's `side = 'BUY'`, 50 M string views
/// (763 MiB) that Python Polars drops after the scan, all held at once by an in-memory collect.
#[derive(Default)]
struct SharedConstants {
    /// The materialized constant of each column name met, at least as long as its longest
    /// batch so far (rounded up to a power of two).
    materialized: PlHashMap<PlSmallStr, ScalarColumn>,
}

impl SharedConstants {
    fn share(&mut self, df: DataFrame) -> DataFrame {
        let height = df.height();
        if height == 0 || !df.columns().iter().any(|c| c.as_scalar_column().is_some()) {
            return df;
        }
        let columns = df
            .into_columns()
            .into_iter()
            .map(|c| match c.as_scalar_column() {
                Some(constant) => self.slice(constant, height),
                None => c,
            })
            .collect();
        // SAFETY: the same names, each column `height` long.
        unsafe { DataFrame::new_unchecked(height, columns) }
    }

    /// The first `height` values of `constant`, a slice of its one materialization. A column
    /// whose constant changes (a file path per file) replaces its materialization rather than
    /// piling them up.
    fn slice(&mut self, constant: &ScalarColumn, height: usize) -> Column {
        // Materialized only when first sliced.
        let fresh = || {
            ScalarColumn::new(
                constant.name().clone(),
                constant.scalar().clone(),
                height.next_power_of_two(),
            )
        };
        let kept = self
            .materialized
            .entry(constant.name().clone())
            .or_insert_with(fresh);
        if kept.scalar() != constant.scalar() || kept.len() < height {
            *kept = fresh();
        }
        kept.as_materialized_series().slice(0, height).into_column()
    }
}
