//! `ExecError`: what the execution layer refuses or fails at, converted into `PolarsError` at
//! the public edge.

use std::path::PathBuf;

use polars::prelude::*;

/// Errors of the execution layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The plan needs all of its input at once and the scan has a hard memory budget.
    #[error("collect_adaptive: {operation} needs all of its input at once and cannot run within the memory budget of {budget} bytes; remove the budget to run it in Polars' in-memory engine")]
    Unstreamable { operation: String, budget: usize },
    /// A plan cannot run on parts of its input and merge: `operation` needs all of it at once.
    #[error("collect_partial_adaptive: {operation} needs all of its input at once; the plan cannot run split by split and merge")]
    NotSplittable { operation: String },
    /// The streaming aggregation's state outgrew its share of the budget.
    #[error("collect_adaptive: the aggregation state ({groups} groups, {bytes} bytes) exceeds its share of the memory budget ({limit} bytes)")]
    AggregationStateTooLarge {
        groups: usize,
        bytes: usize,
        limit: usize,
    },
    /// The state of the pipeline's operators outgrew its share of the budget.
    #[error("adaptive pipeline: the operators' state ({bytes} bytes) exceeds its share of the memory budget ({limit} bytes)")]
    OperatorStateTooLarge { bytes: usize, limit: usize },
    /// The rows a `slice`/`head` keeps outgrew their share of the budget.
    #[error("collect_adaptive: the {rows} rows of the slice ({bytes} bytes so far) exceed its share of the memory budget ({limit} bytes)")]
    SliceTooLarge {
        rows: usize,
        bytes: usize,
        limit: usize,
    },
    /// A sink's file could not be created, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A sink's target names no file.
    #[error("'{}' names no file", path.display())]
    InvalidTarget { path: PathBuf },
    /// A sink's target is a file the plan reads.
    #[error("{}: the sink's target is an input of the plan; write to another file", path.display())]
    TargetIsInput { path: PathBuf },
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ExecError> for PolarsError {
    fn from(err: ExecError) -> Self {
        let msg = err.to_string();
        match err {
            ExecError::Io { source, .. } => PolarsError::IO {
                error: std::sync::Arc::new(source),
                msg: Some(msg.into()),
            },
            ExecError::Unstreamable { .. }
            | ExecError::NotSplittable { .. }
            | ExecError::InvalidTarget { .. }
            | ExecError::TargetIsInput { .. } => PolarsError::InvalidOperation(msg.into()),
            ExecError::AggregationStateTooLarge { .. }
            | ExecError::SliceTooLarge { .. }
            | ExecError::OperatorStateTooLarge { .. } => PolarsError::OutOfBounds(msg.into()),
            ExecError::Internal(_) => PolarsError::ComputeError(msg.into()),
        }
    }
}
