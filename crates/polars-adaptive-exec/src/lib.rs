//! The execution layer of polars-adaptive: plans over `scan_adaptive` run batch by batch in
//! bounded memory. Row-local operations run per batch, an aggregation on top streams through
//! [`streaming_agg`](crate) (partial aggregates merged into bounded state), and what sits above
//! runs on the small result in Polars' in-memory engine. Polars' own executors evaluate every
//! expression.

mod batch_exec;
mod error;
mod grouped_partial;
mod lazy_ext;
mod operator;
mod runner;
mod sinks;
mod stats_answer;
mod streaming_agg;
mod top_k;

pub use error::ExecError;
pub use lazy_ext::{AdaptiveExecExt, AdaptivePipeline};
pub use operator::{first_n_per_group, BatchOperator, FirstNPerGroup};
pub use runner::{is_row_local_plan, PartsPlan};
pub use sinks::{Rebatch, SinkParquetAdaptiveOptions};
