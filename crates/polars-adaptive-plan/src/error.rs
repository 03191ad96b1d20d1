//! `PlanError`: what the plan layer refuses, converted into `PolarsError` at the public edge.

use polars::prelude::*;

/// The context of the error a predicate that fails on the scan's dtypes gives.
pub const PREDICATE_DTYPE_ERROR: &str =
    "scan_adaptive: the pushed-down predicate fails on the scan's dtypes";

/// Errors of the plan layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The pushed-down predicate fails on the scan's dtypes (a user error in the query).
    #[error("{PREDICATE_DTYPE_ERROR}: {source}")]
    PredicateDtype { source: PolarsError },
    /// The optimizer pushed a predicate the source cannot evaluate (an IR node with no
    /// expression form, outside a top-level conjunction).
    #[error("scan_adaptive cannot evaluate the pushed-down predicate {predicate}")]
    PredicateNotEvaluable { predicate: String },
    /// The scan's [`Cancellation`](crate::Cancellation) was cancelled.
    #[error("scan_adaptive: the query was cancelled")]
    Cancelled,
    /// A file of a split changed or went away after the split was planned.
    #[error("{}: changed since the splits were planned ({detail}); plan the splits again", path.display())]
    SplitStale {
        path: std::path::PathBuf,
        detail: String,
    },
}

impl From<PlanError> for PolarsError {
    fn from(err: PlanError) -> Self {
        let msg = err.to_string();
        match err {
            PlanError::PredicateDtype { source } => source.context(msg.into()),
            PlanError::PredicateNotEvaluable { .. } => PolarsError::InvalidOperation(msg.into()),
            PlanError::Cancelled => PolarsError::ComputeError(msg.into()),
            PlanError::SplitStale { .. } => PolarsError::ComputeError(msg.into()),
        }
    }
}
