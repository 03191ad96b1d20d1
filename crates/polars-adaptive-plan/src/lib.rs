//! The plan layer of polars-adaptive: `LazyFrame::scan_adaptive`, the adaptive Parquet reader
//! as a source of Polars' lazy engine.
//!
//! The source is a Polars `AnonymousScan`. The optimizer hands it the projection, the slice and
//! the predicate; it prunes files and row groups with the predicate's understood parts
//! ([`polars_streaming_adaptive::ExprPredicate`]) and applies the whole predicate itself.
//! `collect()` runs it in Polars' in-memory engine.

mod error;
mod lazy_ext;
mod scan_args;
mod source;
mod splits;

pub use error::{PlanError, PREDICATE_DTYPE_ERROR};
pub use lazy_ext::ScanAdaptiveExt;
pub use scan_args::{Cancellation, ScanArgsAdaptive};
pub use source::{AdaptiveSource, AdaptiveStream, ScanRequest};
pub use splits::{plan_splits, Split, SplitOptions, SplitPart};
